"""The writable data partition as a FAT32 image, reproducibly, with dosfstools + mtools.

``mkfs.fat --invariant`` with a volume id derived from the label fixes what mkfs would
take from the clock or randomness; files are copied with ``mcopy -m`` after their mtimes
are set to ``SOURCE_DATE_EPOCH``, with ``TZ=UTC`` (pyfatfs was measured to write a wrong
free-cluster count, so it is not used).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from esecure.errors import ToolError

__all__ = ["FAT_TOOLS", "volume_id", "write_fat"]

FAT_TOOLS = ("mkfs.fat", "mmd", "mcopy")
_TIMEOUT = 120


def volume_id(label: str, salt: str = "") -> str:
    """A fixed 32-bit volume serial (hex) derived from the label (and a per-key salt)."""
    return hashlib.sha256(f"{label}\0{salt}".encode()).hexdigest()[:8].upper()


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise ToolError(
            f"{name} is not installed; run `bash build_scripts/install-system-deps.sh` "
            "(packages dosfstools and mtools)",
            code="ES913",
        )
    return found


def _run(argv: list[str], env: Mapping[str, str]) -> None:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=dict(env), timeout=_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"{argv[0]} did not finish in {_TIMEOUT} s", code="ES913") from None
    if proc.returncode != 0:
        raise ToolError(
            f"{Path(argv[0]).name} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-400:]}",
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
) -> None:
    """Write a FAT32 image of ``size_mib`` MiB to ``out`` holding ``files`` (POSIX paths).

    ``out`` is written in place: the caller writes to a temporary name and renames.
    """
    mkfs, mmd, mcopy = (_tool(t) for t in FAT_TOOLS)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TZ": "UTC",
        "SOURCE_DATE_EPOCH": str(epoch),
        "MTOOLS_SKIP_CHECK": "1",
        "LC_ALL": "C",
    }
    if out.exists():
        out.unlink()
    _run(
        [
            mkfs,
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
        env,
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
            _run([mmd, "-i", str(out), f"::/{d}"], env)
        by_dir: dict[str, list[str]] = {}
        for name in sorted(files):
            by_dir.setdefault(str(Path(name).parent), []).append(name)
        for d, names in sorted(by_dir.items()):
            target = "::/" if d == "." else f"::/{d}/"
            _run([mcopy, "-m", "-i", str(out), *(str(stage / n) for n in names), target], env)
