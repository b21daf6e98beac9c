"""The statement PDF is structurally valid (ISO 32000-1 7.5): header, every object where
the cross-reference table says, stream lengths exact, the page tree complete."""

from __future__ import annotations

import re

from esecure.server.portal.pdf import Line, statement_pdf


def check_pdf(data: bytes) -> dict[int, bytes]:
    """Parse ``data`` as a classic-xref PDF; return its objects; assert on any defect."""
    assert data.startswith(b"%PDF-1.")
    assert data.rstrip().endswith(b"%%EOF")
    startxref = int(re.findall(rb"startxref\s+(\d+)\s+%%EOF", data)[-1])
    assert data[startxref:].startswith(b"xref")
    header = re.match(rb"xref\n0 (\d+)\n", data[startxref:])
    assert header is not None
    count = int(header.group(1))
    table = data[startxref + header.end() :][: count * 20]
    entries = [table[i : i + 20] for i in range(0, len(table), 20)]
    assert entries[0] == b"0000000000 65535 f \n"
    objects = {}
    for number, entry in enumerate(entries[1:], start=1):
        assert re.fullmatch(rb"\d{10} 00000 n \n", entry), entry
        offset = int(entry[:10])
        match = re.match(rb"(\d+) 0 obj\n(.*?)\nendobj\n", data[offset:], re.S)
        assert match is not None and int(match.group(1)) == number, number
        objects[number] = match.group(2)
    trailer = data[startxref + header.end() + count * 20 :]
    assert re.search(rb"/Size %d\b" % count, trailer)
    root = int(re.search(rb"/Root (\d+) 0 R", trailer).group(1))
    assert b"/Type /Catalog" in objects[root]
    pages = int(re.search(rb"/Pages (\d+) 0 R", objects[root]).group(1))
    kids = [
        int(k)
        for k in re.findall(rb"(\d+) 0 R", re.search(rb"/Kids \[(.*?)\]", objects[pages]).group(1))
    ]
    assert re.search(rb"/Count %d\b" % len(kids), objects[pages])
    for kid in kids:
        assert b"/Type /Page " in objects[kid]
        contents = int(re.search(rb"/Contents (\d+) 0 R", objects[kid]).group(1))
        stream = re.match(rb"<< /Length (\d+) >>\nstream\n(.*)endstream", objects[contents], re.S)
        assert stream is not None
        assert int(stream.group(1)) == len(stream.group(2))
    return objects


def test_a_statement_is_a_valid_pdf():
    """One page, its text, accents in WinAnsi, special characters escaped."""
    data = statement_pdf(
        [Line("Relevé (janvier) \\ été", 14, bold=True), Line("2026-01-03  Loyer  -2 400,00 EUR")],
        title="Banque démo",
    )
    objects = check_pdf(data)
    assert any(b"(Relev\xe9 \\(janvier\\) \\\\ \xe9t\xe9) Tj" in body for body in objects.values())


def test_long_statements_are_paginated():
    """95 lines: three pages, each a valid page of the tree."""
    data = statement_pdf([Line(f"line {i}") for i in range(95)], title="t")
    objects = check_pdf(data)
    assert sum(b"/Type /Page " in body for body in objects.values()) == 3


def test_an_empty_statement_still_has_a_page():
    """No line: one blank page (a PDF needs one)."""
    check_pdf(statement_pdf([], title="empty"))


def test_characters_outside_winansi_do_not_break_the_file():
    """A character WinAnsi lacks becomes '?', the file stays valid."""
    check_pdf(statement_pdf([Line("€ ✓ 漢")], title="✓"))
