"""The writable data partition as a FAT32 image, reproducibly, with dosfstools + mtools.

``mkfs.fat --invariant`` with a volume id derived from the label fixes what mkfs would
take from the clock or randomness; files are copied with ``mcopy -m`` after their mtimes
are set to ``SOURCE_DATE_EPOCH``, with ``TZ=UTC`` (pyfatfs was measured to write a wrong
free-cluster count, so it is not used).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from esecure._tools import MCOPY, MKFS_FAT, MMD, SYSTEM, Runner, Tool

__all__ = ["FAT_TOOLS", "volume_id", "write_fat"]

FAT_TOOLS = (MKFS_FAT, MMD, MCOPY)
_TIMEOUT = 120
_NEEDED_BY = "writing the FAT data partition (data.img)"


def volume_id(label: str, salt: str = "") -> str:
    """A fixed 32-bit volume serial (hex) derived from the label (and a per-key salt)."""
    return hashlib.sha256(f"{label}\0{salt}".encode()).hexdigest()[:8].upper()


def write_fat(
    out: Path,
    *,
    label: str,
    size_mib: int,
    epoch: int,
    files: Mapping[str, bytes] | None = None,
    serial_salt: str = "",
    runner: Runner = SYSTEM,
) -> None:
    """Write a FAT32 image of ``size_mib`` MiB to ``out`` holding ``files`` (POSIX paths).

    ``out`` is written in place: the caller writes to a temporary name and renames. Every
    tool is looked up before anything is written (ES919 names a missing one); a failing
    tool is ES913 with its last output.
    """
    for tool in FAT_TOOLS:
        runner.find(tool, needed_by=_NEEDED_BY)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TZ": "UTC",
        "SOURCE_DATE_EPOCH": str(epoch),
        "MTOOLS_SKIP_CHECK": "1",
        "LC_ALL": "C",
    }

    def run(tool: Tool, args: list[str]) -> None:
        runner.run(tool, args, needed_by=_NEEDED_BY, code="ES913", timeout=_TIMEOUT, env=env)

    if out.exists():
        out.unlink()
    run(
        MKFS_FAT,
        [
            "-F",
            "32",
            "-S",
            "512",
            "-s",
            "1",
            "-n",
            label,
            "--invariant",  # before -i: it would reset the volume id otherwise
            "-i",
            volume_id(label, serial_salt),
            "-C",
            str(out),
            str(size_mib * 1024),
        ],
    )
    if not files:
        return
    with tempfile.TemporaryDirectory(prefix="esecure-fat-") as tmp:
        stage = Path(tmp)
        for name, data in sorted(files.items()):
            path = stage / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            os.utime(path, (epoch, epoch))
        dirs = sorted({str(Path(n).parent) for n in files} - {"."}, key=lambda p: (len(p), p))
        for d in dirs:
            run(MMD, ["-i", str(out), f"::/{d}"])
        by_dir: dict[str, list[str]] = {}
        for name in sorted(files):
            by_dir.setdefault(str(Path(name).parent), []).append(name)
        for d, names in sorted(by_dir.items()):
            target = "::/" if d == "." else f"::/{d}/"
            run(MCOPY, ["-m", "-i", str(out), *(str(stage / n) for n in names), target])
