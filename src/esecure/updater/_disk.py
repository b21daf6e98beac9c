"""The updater's file writes, and its named checkpoints.

Every write of an installation and of ``mark_good`` (garbage collection included) goes
through :class:`Disk`, one primitive per call (``mkdir``, ``write``, ``write_stream``,
``sync``, ``sync_dir``, ``replace``, ``remove``), so that the crash tests can put a model
of a power cut under it and cut after any one call: SIGKILL keeps the page cache, a yanked
key does not. Nothing is durable until synced: a file's contents by ``sync``, a
directory's new, removed or renamed entries by ``sync_dir`` of that directory.
``written`` counts the bytes of file contents handed to the device (what a USB 2 key
makes the user wait for). Checkpoints are named places in the update where a test may
stop the process; in production they do nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

from esecure._fs import fsync_dir
from esecure_onkey.boot import fsync_file

__all__ = ["CHECKPOINTS", "CRASH_ENV", "DEFAULT_CLUSTER", "Checkpoints", "Disk"]

CRASH_ENV = "ESECURE_TEST_CRASH_AT"
DEFAULT_CLUSTER = 4096  # FAT32 as `esecure build` formats the data partition

CHECKPOINTS = (
    # download (nothing of it is written to the data area but the verified metadata)
    "download.begin",
    "download.metadata-committed",
    "download.lists-fetched",
    "download.patch-fetched",
    "download.archive-fetched",
    # install: each component into store/.staging, then into the store
    "install.begin",
    "staging.begin",
    "staging.file-1",
    "staging.file-10",
    "staging.file-50",
    "staging.written",
    "staging.synced",
    "component.list-written",
    "component.renamed",
    "component.written",
    # install: the release record, then the switch
    "release.written",
    "pointer.written",
    # first start of the new release (its launcher), then garbage collection
    "first-start.begin",
    "first-start.counted",
    "first-start.app-running",
    "first-start.marked-good",
    "gc.begin",
    "gc.component-removed",
    "gc.done",
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
    """Real file operations; ``write``/``write_stream`` do not sync, ``sync``/``sync_dir`` do."""

    written = 0  # bytes of file contents written through this object

    def mkdir(self, path: Path) -> None:
        """Create ``path`` and its missing parents (exist ok; not durable until each new
        entry's parent is synced: see :meth:`make_dirs`)."""
        path.mkdir(parents=True, exist_ok=True)

    def write(self, path: Path, data: bytes) -> None:
        """Create or replace ``path`` with ``data`` (not yet durable)."""
        with path.open("wb") as f:
            f.write(data)
        self.written += len(data)

    def write_stream(self, path: Path, chunks: Iterable[bytes]) -> int:
        """Create or replace ``path`` with the chunks as they come (not yet durable): a
        component's files are streamed, never held whole in memory. Returns the size."""
        size = 0
        with path.open("wb") as f:
            for chunk in chunks:
                f.write(chunk)
                size += len(chunk)
                self.written += len(chunk)
        return size

    def sync(self, path: Path) -> None:
        """Make the content of ``path`` durable."""
        fsync_file(path)

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

    def free_space(self, path: Path) -> tuple[int, int]:
        """(bytes free, allocation unit) of the file system holding ``path``."""
        free = shutil.disk_usage(path).free
        statvfs = getattr(os, "statvfs", None)
        cluster = statvfs(path).f_frsize if statvfs is not None else DEFAULT_CLUSTER
        return free, cluster or DEFAULT_CLUSTER

    def executor(self, workers: int) -> Executor:
        """Where the installer overlaps its syncs: they wait on the device, not the CPU.
        (A power-cut model runs them inline, so that its k-th call is the same in every
        run.)"""
        return ThreadPoolExecutor(max_workers=workers)

    # --- made of the primitives above -----------------------------------------------------

    def make_dirs(self, path: Path) -> None:
        """Create ``path`` and its missing parents, each new entry durable (parent synced)."""
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
