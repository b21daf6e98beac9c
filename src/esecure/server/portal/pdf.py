"""A statement as a small, valid PDF (ISO 32000-1), written by hand: no dependency.

One A4 page per 40 lines: a catalogue, a page tree, pages, one standard font (Courier,
fixed width so that padded columns line up; WinAnsiEncoding: the accented letters of
French fit), one content stream per page, and a
cross-reference table with the exact byte offset of every object (7.5.4), so that any
reader — Firefox's built-in viewer first — opens it without repair. Served inline
(``application/pdf``), it is how seed rows E11 and E12 (an outdated external PDF reader)
are removed: no external reader is involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Line", "statement_pdf"]

_PAGE_WIDTH, _PAGE_HEIGHT = 595, 842  # A4 in points
_LINES_PER_PAGE = 40


@dataclass(frozen=True)
class Line:
    """One line of text: its size in points and whether it is bold."""

    text: str
    size: int = 10
    bold: bool = False


def _literal(text: str) -> bytes:
    """A PDF literal string (7.3.4.2) in WinAnsiEncoding; characters outside it become ?."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _content(lines: Sequence[Line]) -> bytes:
    out = [b"BT", b"50 790 Td"]
    leading = 0
    for line in lines:
        font = b"/F2" if line.bold else b"/F1"
        if leading:
            out.append(f"0 -{leading} Td".encode())
        out.append(font + f" {line.size} Tf".encode())
        out.append(_literal(line.text) + b" Tj")
        leading = line.size + 8
    out.append(b"ET")
    return b"\n".join(out) + b"\n"


def statement_pdf(lines: Sequence[Line], *, title: str) -> bytes:
    """The PDF of ``lines`` (paginated), with ``title`` in its document information."""
    pages = [lines[i : i + _LINES_PER_PAGE] for i in range(0, len(lines), _LINES_PER_PAGE)]
    pages = pages or [[]]
    # Objects: 1 catalogue, 2 page tree, 3-4 fonts, 5 info, then (page, content) pairs.
    first = 6
    kids = " ".join(f"{first + 2 * i} 0 R" for i in range(len(pages)))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + _literal(title) + b" /Producer (e-secure) >>",
    ]
    for index, page_lines in enumerate(pages):
        content = _content(page_lines)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {_PAGE_WIDTH} {_PAGE_HEIGHT}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
            f"/Contents {first + 2 * index + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream")
    # A binary comment in the header tells transfer tools the file is binary (7.5.2).
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode()
    out += b"0000000000 65535 f \n"  # each entry exactly 20 bytes (7.5.4)
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)
