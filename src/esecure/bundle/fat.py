"""The writable data partition as a FAT32 image, reproducibly, with dosfstools + mtools.

``mkfs.fat --invariant`` with a volume id derived from the label fixes what mkfs would
take from the clock or randomness; files are copied with ``mcopy -m`` after their mtimes
are set to ``SOURCE_DATE_EPOCH``, with ``TZ=UTC`` (pyfatfs was measured to write a wrong
free-cluster count, so it is not used).

The volume is FAT32 with 4 KiB clusters and its data on a 1 MiB boundary
(:mod:`esecure.bundle.fat32` computes the geometry; mkfs.fat gets ``-S 512 -s 8 -a -R``);
the boot sector mkfs.fat wrote is read back and checked against it before any file is
copied in.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from esecure._tools import MCOPY, MKFS_FAT, MMD, SYSTEM, Runner, Tool
from esecure.bundle import fat32
from esecure.errors import ToolError, UsageError

__all__ = ["FAT_TOOLS", "mkfs_arguments", "volume_id", "write_fat"]

FAT_TOOLS = (MKFS_FAT, MMD, MCOPY)
_TIMEOUT = 120
_NEEDED_BY = "writing the FAT data partition (data.img)"


def volume_id(label: str, salt: str = "") -> str:
    """A fixed 32-bit volume serial (hex) derived from the label (and a per-key salt)."""
    return hashlib.sha256(f"{label}\0{salt}".encode()).hexdigest()[:8].upper()


def mkfs_arguments(out: Path, *, label: str, size_mib: int, volume: str) -> list[str]:
    """mkfs.fat's arguments for the build's FAT32 volume of ``size_mib`` MiB (pure)."""
    geometry = fat32.layout(size_mib)
    return [
        "-F",
        "32",
        "-S",
        str(fat32.SECTOR),
        "-s",
        str(fat32.CLUSTER // fat32.SECTOR),
        "-f",
        "2",
        "-a",  # no alignment of mkfs.fat's own (to the cluster only) ...
        "-R",  # ... but the reserved sectors that put the data on 1 MiB
        str(geometry.reserved_sectors),
        "-n",
        label,
        "--invariant",  # before -i: it would reset the volume id otherwise
        "-i",
        volume,
        "-C",
        str(out),
        str(size_mib * 1024),
    ]


def _check_geometry(out: Path, size_mib: int) -> None:
    """The boot sector mkfs.fat wrote is the geometry asked for (ES913 otherwise)."""
    with out.open("rb") as handle:
        found = fat32.read_boot_sector(handle.read(fat32.SECTOR))
    want = fat32.layout(size_mib)
    got = (found.cluster_size, found.total_sectors, found.reserved_sectors, found.fat_sectors)
    expected = (fat32.CLUSTER, size_mib * fat32.MIB // fat32.SECTOR, want.reserved_sectors)
    if got != (*expected, want.fat_sectors) or found.data_offset % fat32.ALIGNMENT:
        raise ToolError(
            f"mkfs.fat made another volume than asked for {out.name}: cluster, sectors, "
            f"reserved, FAT length {got}, expected {(*expected, want.fat_sectors)} "
            "(data on a 1 MiB boundary)",
            code="ES913",
        )


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
    tool is ES913 with its last output. A size below the smallest FAT32 volume with 4 KiB
    clusters (257 MiB) is ES957: it would not be FAT32.
    """
    smallest = fat32.smallest_mib()
    if size_mib < smallest:
        raise UsageError(
            f"a data partition of {size_mib} MiB is below the smallest FAT32 volume with "
            f"4 KiB clusters, {smallest} MiB: give it at least {smallest} MiB",
            code="ES957",
        )
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
        mkfs_arguments(out, label=label, size_mib=size_mib, volume=volume_id(label, serial_salt)),
    )
    if out.exists():  # (a test's stand-in runner writes nothing)
        _check_geometry(out, size_mib)
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
