"""Binary patches between two uncompressed archives: zstd with the old archive as prefix.

Measured on this machine (FINDINGS): as small as bsdiff's, made in well under a second
instead of half a minute, and applied in a fraction of a second. The window must cover
the old archive plus the new one, so it grows with the archive (bounded: see MAX_WINDOW_LOG).
"""

from __future__ import annotations

import math

import pyzstd
from tufup.common import BinaryDiff

__all__ = ["MAX_WINDOW_LOG", "ZstdDiff", "apply_patch", "make_patch", "window_log"]

LEVEL = 3
MIN_WINDOW_LOG = 20
MAX_WINDOW_LOG = 30  # 1 GiB: far above any bundle; refuses patches that would need more


def window_log(size: int) -> int:
    """The zstd window (log2 bytes) that covers ``size`` bytes of prefix plus content."""
    return min(MAX_WINDOW_LOG, max(MIN_WINDOW_LOG, math.ceil(math.log2(max(size, 2)))))


def make_patch(src: bytes, dst: bytes) -> bytes:
    """A patch that turns ``src`` into ``dst``."""
    options: dict[int, int] = {
        pyzstd.CParameter.compressionLevel: LEVEL,
        pyzstd.CParameter.windowLog: window_log(len(src) + len(dst)),
        pyzstd.CParameter.enableLongDistanceMatching: 1,
        pyzstd.CParameter.checksumFlag: 1,
    }
    prefix = pyzstd.ZstdDict(src, is_raw=True).as_prefix
    return pyzstd.compress(dst, options, zstd_dict=prefix)


def apply_patch(src: bytes, patch: bytes) -> bytes:
    """``dst`` from ``src`` and a patch; raises ValueError when the patch does not apply.

    The result is still unverified: the caller checks its size and hash against the signed
    metadata before any byte of it is used.
    """
    prefix = pyzstd.ZstdDict(src, is_raw=True).as_prefix
    try:
        return pyzstd.decompress(
            patch, zstd_dict=prefix, option={pyzstd.DParameter.windowLogMax: MAX_WINDOW_LOG}
        )
    except pyzstd.ZstdError as exc:
        raise ValueError(f"the patch does not apply: {exc}") from exc


class ZstdDiff(BinaryDiff):  # type: ignore[misc]  # tufup is untyped
    """tufup's BinaryDiff hook, so that `Repository.add_bundle` makes zstd patches."""

    @staticmethod
    def diff(*, src_bytes: bytes, dst_bytes: bytes) -> bytes:
        """Make a patch (called by tufup while publishing)."""
        return make_patch(src_bytes, dst_bytes)

    @staticmethod
    def patch(*, src_bytes: bytes, patch_bytes: bytes) -> bytes:
        """Apply a patch (the client applies patches itself, without re-compressing)."""
        return apply_patch(src_bytes, patch_bytes)
