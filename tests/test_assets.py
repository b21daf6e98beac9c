"""Demo assets drawn in code are valid PNG and ICO files, byte-for-byte reproducible."""

from __future__ import annotations

import struct
import zlib

from esecure import _assets


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data) & 0xFFFFFFFF
        out.append((kind, data))
        pos += 12 + length
    return out


def test_icon_png_is_a_valid_rgba_png():
    """IHDR says 256x256 RGBA and the pixel data inflates to the right size."""
    chunks = _chunks(_assets.icon_png("#E60028"))
    kinds = [k for k, _ in chunks]
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[0][1][:10])
    assert (width, height, depth, colour_type) == (256, 256, 8, 6)
    assert len(zlib.decompress(chunks[1][1])) == 256 * (1 + 256 * 4)


def test_icon_ico_directory_points_at_pngs():
    """The ICO header lists four images whose offsets hold PNG data."""
    ico = _assets.icon_ico("#E60028")
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, 4)
    for i in range(count):
        w, _h, _c, _r, _planes, bpp, size, offset = struct.unpack(
            "<BBBBHHII", ico[6 + 16 * i : 22 + 16 * i]
        )
        assert bpp == 32
        assert ico[offset : offset + 8] == b"\x89PNG\r\n\x1a\n"
        assert offset + size <= len(ico)
        assert w in (16, 32, 48, 0)


def test_assets_are_reproducible():
    """Same colour, same bytes (images must be bit-for-bit reproducible)."""
    assert _assets.icon_ico("#123456") == _assets.icon_ico("#123456")
    assert _assets.logo_png("#123456", "#000000") == _assets.logo_png("#123456", "#000000")


def test_guide_escapes_configured_names():
    """Names from the configuration are HTML-escaped in the guide."""
    html = _assets.guide_html("e-secure", "<Portal>", "A&B", "+33")
    assert "&lt;Portal&gt;" in html
    assert "A&amp;B" in html
