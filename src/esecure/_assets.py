"""Demo assets drawn in code: an icon (PNG and ICO), a logo, a short user guide.

Deterministic bytes (no timestamps), so that demo images stay reproducible.
"""

from __future__ import annotations

import struct
import zlib
from html import escape

__all__ = ["guide_html", "icon_ico", "icon_png", "logo_png"]


def _png(width: int, height: int, pixel: list[list[tuple[int, int, int, int]]]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixel)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _rgb(colour: str) -> tuple[int, int, int]:
    value = int(colour.lstrip("#"), 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def _key_picture(size: int, colour: str) -> list[list[tuple[int, int, int, int]]]:
    """A round badge in the brand colour holding a white key (ring and blade)."""
    r, g, b = _rgb(colour)
    white = (255, 255, 255, 255)
    clear = (0, 0, 0, 0)
    rows = []
    c = (size - 1) / 2
    for y in range(size):
        row = []
        for x in range(size):
            dx, dy = (x - c) / size, (y - c) / size
            d2 = dx * dx + dy * dy
            if d2 > 0.25:
                row.append(clear)
                continue
            # ring of the key, left of centre
            rx, ry = dx + 0.18, dy
            ring = 0.0064 <= rx * rx + ry * ry <= 0.0256
            blade = -0.06 <= dx <= 0.30 and -0.03 <= dy <= 0.03
            teeth = (0.14 <= dx <= 0.18 or 0.22 <= dx <= 0.26) and 0.03 <= dy <= 0.10
            row.append(white if (ring or blade or teeth) else (r, g, b, 255))
        rows.append(row)
    return rows


def icon_png(colour: str, size: int = 256) -> bytes:
    """The launcher's icon as PNG."""
    return _png(size, size, _key_picture(size, colour))


def icon_ico(colour: str) -> bytes:
    """A Windows icon with PNG-compressed 16, 32, 48 and 256 pixel images (Vista and later)."""
    sizes = (16, 32, 48, 256)
    images = [icon_png(colour, s) for s in sizes]
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, data in zip(sizes, images, strict=True):
        dim = 0 if size == 256 else size  # 0 means 256 in the directory entry
        out += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(images)


def logo_png(primary: str, secondary: str, width: int = 240, height: int = 60) -> bytes:
    """A plain banner logo: the brand colour with a band of the second colour."""
    p = (*_rgb(primary), 255)
    s = (*_rgb(secondary), 255)
    rows = [[s if y >= height * 3 // 4 else p for _ in range(width)] for y in range(height)]
    return _png(width, height, rows)


def guide_html(product: str, portal: str, bank: str, phone: str) -> str:
    """A short bilingual user guide page (the original guide's two sheets, condensed)."""
    product, portal, bank, phone = (escape(v) for v in (product, portal, bank, phone))
    return f"""<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>{product} — guide</title></head>
<body>
<h1>{product} — {bank}</h1>
<section lang="fr">
<h2>Première utilisation</h2>
<ol>
<li>Branchez la clé sur un port USB de l'ordinateur.</li>
<li>Le programme de la clé démarre tout seul. Sinon, ouvrez le lecteur de la clé et
double-cliquez sur <code>e-secure.exe</code>.</li>
<li>Si une mise à jour est proposée, acceptez-la : elle prend quelques secondes.</li>
<li>À la première utilisation, saisissez votre identifiant et le code d'activation reçu par
courrier : votre certificat est installé sur la clé.</li>
<li>Le navigateur de la clé s'ouvre sur {portal}. N'utilisez pas votre navigateur habituel.</li>
<li>Saisissez votre identifiant, cliquez sur « Accès avec certificat », puis tapez votre code
secret sur le clavier virtuel.</li>
<li>Pour finir : déconnectez-vous, puis clic droit sur l'icône de la banque près de l'horloge,
« Retirer la clé e-secure ».</li>
</ol>
<p>Assistance : {phone}</p>
</section>
<section lang="en">
<h2>First use</h2>
<ol>
<li>Plug the key into a USB port of the computer.</li>
<li>The key's program starts by itself. If not, open the key's drive and double-click
<code>e-secure.exe</code>.</li>
<li>If an update is offered, accept it: it takes a few seconds.</li>
<li>The first time, enter your identifier and the activation code you received by mail: your
certificate is installed on the key.</li>
<li>The key's browser opens {portal}. Do not use your usual browser.</li>
<li>Enter your identifier, click "Access with certificate", then type your secret code on the
virtual keypad.</li>
<li>To finish: log out, then right-click the bank's icon near the clock, "Remove the e-secure
key".</li>
</ol>
<p>Support: {phone}</p>
</section>
</body>
</html>
"""
