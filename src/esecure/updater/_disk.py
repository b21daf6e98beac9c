"""The updater's file writes, and its named checkpoints.

Every write of an installation and of ``mark_good`` goes through :class:`Disk`, one
primitive per call (``mkdir``, ``write``, ``sync``, ``sync_dir``, ``replace``,
``remove``), so that the crash tests can put a model of a power cut under it
(tests/updater/powercut.py) and cut after any one call: SIGKILL keeps the page cache, a
yanked key does not. Nothing is durable until synced: a file's contents by ``sync``, a
directory's new, removed or renamed entries by ``sync_dir`` of that directory.
Checkpoints are named places in the update where a test may stop the process; in
production they do nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

from esecure._fs import fsync_dir

__all__ = ["CHECKPOINTS", "CRASH_ENV", "Checkpoints", "Disk"]

CRASH_ENV = "ESECURE_TEST_CRASH_AT"

CHECKPOINTS = (
    # download
    "download.begin",
    "download.metadata-committed",
    "download.patch-fetched",
    "download.archive-fetched",
    # patch
    "patch.begin",
    "patch.applied",
    "patch.verified",
    "patch.tar-written",
    # staging
    "staging.begin",
    "staging.file-1",
    "staging.file-10",
    "staging.file-50",
    "staging.extracted",
    "staging.synced",
    "staging.verified",
    # switch
    "switch.begin",
    "switch.record-removed",
    "switch.old-slot-removed",
    "switch.renamed",
    "switch.record-written",
    "switch.cache-written",
    "switch.pointer-written",
    # first start (the new version's launcher)
    "first-start.begin",
    "first-start.counted",
    "first-start.app-running",
    "first-start.marked-good",
)


class Checkpoints:
    """Calls ``hook(name)`` at each checkpoint; the default reads CRASH_ENV (tests only)."""

    def __init__(self, hook: Callable[[str], None] | None = None) -> None:
        self.hook = hook
        self.seen: list[str] = []

    @classmethod
    def from_env(cls) -> Checkpoints:
        """SIGKILL this process at the checkpoint named in ESECURE_TEST_CRASH_AT, if any."""
        target = os.environ.get(CRASH_ENV)
        if not target:
            return cls()

        def kill(name: str) -> None:
            if name == target:
                os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))

        return cls(kill)

    def __call__(self, name: str) -> None:
        """Mark that the update reached ``name``."""
        self.seen.append(name)
        if self.hook is not None:
            self.hook(name)


class Disk:
    """Real file operations; ``write`` does not sync, ``sync``/``sync_dir`` do."""

    def mkdir(self, path: Path) -> None:
        """Create ``path`` and its missing parents (exist ok; not durable until each new
        entry's parent is synced: see :meth:`make_dirs`)."""
        path.mkdir(parents=True, exist_ok=True)

    def write(self, path: Path, data: bytes) -> None:
        """Create or replace ``path`` with ``data`` (not yet durable)."""
        with path.open("wb") as f:
            f.write(data)

    def sync(self, path: Path) -> None:
        """Make the content of ``path`` durable (opened for writing: Windows'
        FlushFileBuffers refuses a read-only handle)."""
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def sync_dir(self, directory: Path) -> None:
        """Make renames, creations and removals in ``directory`` durable."""
        fsync_dir(directory)

    def replace(self, src: Path, dst: Path) -> None:
        """Rename ``src`` to ``dst`` (not atomic on FAT: callers never rely on it alone)."""
        src.replace(dst)

    def remove(self, path: Path) -> None:
        """Remove a file or a whole directory, if present."""
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    def executor(self, workers: int) -> Executor:
        """Where the installer overlaps its writes and syncs: they wait on the device, not
        the CPU. (The power-cut model runs them inline, so that its k-th call is the same
        in every run.)"""
        return ThreadPoolExecutor(max_workers=workers)

    # --- made of the primitives above -----------------------------------------------------

    def make_dirs(self, path: Path) -> None:
        """Create ``path`` and its missing parents, each new entry durable (parent synced).

        The bootstrap has its own (``esecure_onkey.boot``): an application runs with the
        ``esecure_onkey`` frozen on its key, possibly older, so it imports nothing new
        from there.
        """
        missing: list[Path] = []
        here = path
        while not here.is_dir() and here.parent != here:  # bounded by the path's depth
            missing.append(here)
            here = here.parent
        if missing:
            self.mkdir(path)
            for created in reversed(missing):
                self.sync_dir(created.parent)

    def write_synced(self, path: Path, data: bytes) -> None:
        """Write and sync (records that have a checksum or a twin)."""
        self.write(path, data)
        self.sync(path)

    def write_atomic(self, path: Path, data: bytes) -> None:
        """Temporary name, sync, rename, sync the directory."""
        tmp = path.with_name(f".{path.name}.tmp")
        self.write_synced(tmp, data)
        self.replace(tmp, path)
        self.sync_dir(path.parent)
