"""zstd frames for the per-file patch container: whole files, and files patched from a
base file given as a raw prefix (``--patch-from``), made whole and applied streaming.

Measured (FINDINGS, docs/performance.md): as small as bsdiff's patches, made in well under
a second instead of half a minute. Memory is bounded by the frame geometry of
docs/format-1.md: a prefix of at most 64 MiB and a window of at most 2**WINDOW_LOG bytes.
Applying reads the prefix once (zstd keeps its own copy) and writes the output as it
comes; a frame that asks for a larger window does not apply (the client then takes the
full archive).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, BinaryIO

import pyzstd

__all__ = ["IO_CHUNK", "LEVEL", "WINDOW_LOG", "FrameError", "compress", "compress_stream", "frames"]

LEVEL = 3
WINDOW_LOG = 27  # 128 MiB: covers a 64 MiB prefix plus 64 MiB of output (format 1's maximum)
IO_CHUNK = 1 << 20


class FrameError(ValueError):
    """A frame that does not decode (corrupt, truncated, trailing data, or a window
    larger than WINDOW_LOG)."""


def _options(with_prefix: bool) -> dict[int, int]:
    options: dict[int, int] = {
        pyzstd.CParameter.compressionLevel: LEVEL,
        pyzstd.CParameter.checksumFlag: 1,
    }
    if with_prefix:  # the window must reach back over the whole prefix
        options[pyzstd.CParameter.windowLog] = WINDOW_LOG
        options[pyzstd.CParameter.enableLongDistanceMatching] = 1
    return options


def compress(data: bytes, prefix: bytes = b"") -> bytes:
    """One frame of ``data`` (its size in the header), matched against ``prefix`` if any."""
    if not prefix:
        return pyzstd.compress(data, _options(with_prefix=False))
    dictionary = pyzstd.ZstdDict(prefix, is_raw=True).as_prefix
    return pyzstd.compress(data, _options(with_prefix=True), zstd_dict=dictionary)


def compress_stream(src: BinaryIO, out: BinaryIO) -> int:
    """One frame of everything ``src`` holds, written to ``out`` as it is made; returns
    the bytes written. (A new file of any size: memory stays at the level's window.)"""
    compressor = pyzstd.ZstdCompressor(_options(with_prefix=False))
    size = 0
    for block in iter(lambda: src.read(IO_CHUNK), b""):
        size += out.write(compressor.compress(block))
    size += out.write(compressor.flush())
    return size


def frames(src: IO[bytes], prefix: bytes = b"") -> Iterator[bytes]:
    """The decoded content of the one frame ``src`` holds, in pieces of at most IO_CHUNK.

    Raises FrameError when the frame is corrupt, needs a larger window than WINDOW_LOG,
    ends early or is followed by anything. ``prefix`` is copied into zstd's dictionary:
    the caller may drop its own reference at once.
    """
    dictionary = pyzstd.ZstdDict(prefix, is_raw=True).as_prefix if prefix else None
    option: dict[int, int] = {pyzstd.DParameter.windowLogMax: WINDOW_LOG}
    decompressor = pyzstd.ZstdDecompressor(zstd_dict=dictionary, option=option)
    del prefix, dictionary
    try:
        while True:
            data = b""
            if decompressor.needs_input:
                data = src.read(IO_CHUNK)
                if not data:
                    raise FrameError("the zstd frame ends early")
            piece = decompressor.decompress(data, IO_CHUNK)
            if piece:
                yield piece
            if decompressor.eof:
                if decompressor.unused_data or src.read(1):
                    raise FrameError("data follows the zstd frame")
                return
    except pyzstd.ZstdError as exc:
        raise FrameError(f"the zstd frame does not decode: {exc}") from exc
