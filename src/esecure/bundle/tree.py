"""File-system adapters around the manifest: walk a tree, hash and observe files.

No decisions here: :mod:`esecure.bundle.manifest` decides.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from esecure.bundle.manifest import FileEntry, Manifest, Observed
from esecure_onkey.store import sha256_file

__all__ = ["entries", "hash_file", "observe", "walk_files"]


def hash_file(path: Path) -> str:
    """SHA-256 of a file, streamed (the on-key reader's own, so both sides hash alike)."""
    return sha256_file(path)


def walk_files(root: Path) -> list[str]:
    """Every regular file under ``root`` as a sorted POSIX path.

    Raises ValueError naming anything else: a symbolic link (to a file or to a directory,
    which os.walk would silently skip), a FIFO, a socket or a device (a FIFO would hang
    the hash).
    """
    out: list[str] = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(directory)
        for name in dirs:
            _check_kind(base / name, stat.S_ISDIR)
        for name in files:
            path = base / name
            _check_kind(path, stat.S_ISREG)
            out.append(path.relative_to(root).as_posix())
    return sorted(out)


def _check_kind(path: Path, expected: Callable[[int], bool]) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        raise ValueError(f"{path} is a symbolic link; the image holds only files")
    if not expected(mode):
        raise ValueError(f"{path} is not a regular file or directory; the image holds only those")


def entries(root: Path, paths: list[str]) -> list[FileEntry]:
    """Manifest entries for ``paths`` under ``root``."""
    return [
        FileEntry(path=p, size=(root / p).stat().st_size, sha256=hash_file(root / p)) for p in paths
    ]


def observe(
    root: Path, manifest: Manifest, full_hash: Callable[[str], bool]
) -> dict[str, Observed]:
    """Size of every listed file, and its hash where ``full_hash(path)`` says so."""
    out: dict[str, Observed] = {}
    for entry in manifest.files:
        path = root / entry.path
        try:
            size = path.stat().st_size
            digest = hash_file(path) if full_hash(entry.path) and size == entry.size else None
        except FileNotFoundError:
            out[entry.path] = Observed(size=None)
        except OSError as exc:
            out[entry.path] = Observed(size=None, error=exc.strerror or str(exc))
        else:
            out[entry.path] = Observed(size=size, sha256=digest)
    return out
