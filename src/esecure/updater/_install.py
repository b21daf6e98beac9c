"""Writing a release into the component store, switching to it, and collecting garbage
(docs/format-1.md, "Install"). Every write, sync, rename and removal goes through
:class:`~esecure.updater._disk.Disk`.

Order, each step durable before the next, so that a cut at any point leaves the release in
force complete and in force:

1. (the caller) the release record, its signature and every component list were
   downloaded and verified: TUF, then the image-signing key of the CD-ROM;
2. free space: the files still to write, each rounded up to the cluster (ES524 with both
   numbers), before anything is written;
3. each component not the CD-ROM's and not complete in the store: its files streamed into
   ``store/.staging/`` (emptied first), each checked against the signed list as it is
   written; every file, then every directory synced; the list and its signature written
   atomically; a damaged earlier copy invalidated (completion record removed, synced)
   then removed; staging renamed to ``store/<id>``, ``store/`` synced; the completion
   record written atomically (last);
4. the release record and its signature, atomically, in ``releases/``;
5. the pointer (next sequence number, release = the new one, previous = the one running,
   not good) into ``pointer-(seq % 2)``, synced, the data area synced;
6. once the new release marked itself good (:func:`mark_good`): every store entry and
   release record that the pointer's release does not reference is removed.

The CD-ROM's own components are never copied: the store holds only what the CD-ROM lacks.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from esecure.errors import StorageError
from esecure.updater._container import Write
from esecure.updater._disk import Checkpoints, Disk
from esecure_onkey.boot import read_pointer
from esecure_onkey.components import decode_release, digest, is_id
from esecure_onkey.layout import (
    CD,
    component_dir,
    component_file,
    pointer_path,
    release_file,
    staging_dir,
    store_dir,
)
from esecure_onkey.records import Pointer, encode_component_completion, encode_pointer

__all__ = [
    "RECORD_ROOM",
    "check_space",
    "collect_garbage",
    "commit_release",
    "mark_good",
    "needed_space",
    "write_component",
]

log = logging.getLogger(__name__)
Progress = Callable[[int], None]
Fill = Callable[[Write], None]
_FILE_CHECKPOINTS = {1: "staging.file-1", 10: "staging.file-10", 50: "staging.file-50"}
SYNC_THREADS = 8
RECORD_ROOM = 4  # clusters per component for its list, signature and completion record


def _round_up(size: int, cluster: int) -> int:
    return -(-size // cluster) * cluster if size else 0


def needed_space(sizes: Iterable[Iterable[int]], cluster: int) -> int:
    """Bytes the install takes on a file system of ``cluster``-byte allocation units:
    every file of each component rounded up, plus room for its records and the
    release's."""
    total = 0
    for files in sizes:
        total += sum(_round_up(size, cluster) for size in files) + RECORD_ROOM * cluster
    return total + 2 * cluster  # the release record and its signature


def check_space(data_dir: Path, sizes: Iterable[Iterable[int]], disk: Disk) -> None:
    """ES524 naming both numbers when the data area cannot hold what is to be written."""
    free, cluster = disk.free_space(data_dir)
    needed = needed_space(sizes, cluster)
    if needed > free:
        raise StorageError(
            f"the data area has {free:,} bytes free; this update needs {needed:,} "
            f"(files rounded up to {cluster:,}-byte clusters): nothing was written",
            code="ES524",
        )


def _writer(
    staging: Path, disk: Disk, cp: Checkpoints, progress: Progress | None, written: list[Path]
) -> Write:
    """The ``write(path, chunks)`` a container applier calls: one file into staging."""

    def write(path: str, chunks: Iterator[bytes]) -> None:
        target = staging / path
        disk.mkdir(target.parent)
        size = disk.write_stream(target, chunks)
        written.append(target)
        if progress is not None:
            progress(size)
        name = _FILE_CHECKPOINTS.get(len(written))
        if name:
            cp(name)

    return write


def _sync_tree(staging: Path, files: list[Path], disk: Disk) -> None:
    """Every file, then every directory (deepest first) of staging, durable."""
    with disk.executor(SYNC_THREADS) as pool:
        list(pool.map(disk.sync, files))
    directories = {staging}
    for file in files:
        parent = file.parent
        while parent != staging and parent not in directories:
            directories.add(parent)
            parent = parent.parent
    for directory in sorted(directories, key=lambda d: len(d.parts), reverse=True):
        disk.sync_dir(directory)


def write_component(
    data_dir: Path,
    cid: str,
    listed: bytes,
    signature: bytes,
    fill: Fill,
    *,
    disk: Disk,
    cp: Checkpoints,
    progress: Progress | None = None,
) -> None:
    """Component version ``cid`` into the store (step 3): ``fill(write)`` gives its files.

    Whatever ``fill`` raises propagates once staging is removed: nothing outside
    ``store/.staging`` is touched until every file was written and checked.
    """
    store = store_dir(data_dir)
    staging = staging_dir(data_dir)
    disk.make_dirs(store)
    cp("staging.begin")
    disk.remove(staging)
    disk.mkdir(staging)
    disk.sync_dir(store)
    written: list[Path] = []
    try:
        fill(_writer(staging, disk, cp, progress, written))
    except Exception:  # refused or failed: what was staged goes (the next install would)
        with contextlib.suppress(OSError):
            disk.remove(staging)
        raise
    cp("staging.written")
    _sync_tree(staging, written, disk)
    cp("staging.synced")

    complete = component_file(data_dir, cid, ".complete")
    if complete.exists():  # an earlier copy that no longer checks: it stops being complete
        disk.remove(complete)
        disk.sync_dir(store)
    disk.write_atomic(component_file(data_dir, cid, ".list"), listed)
    disk.write_atomic(component_file(data_dir, cid, ".sig"), signature)
    cp("component.list-written")
    target = component_dir(data_dir, cid)
    if target.exists():
        disk.remove(target)
        disk.sync_dir(store)
    disk.replace(staging, target)
    disk.sync_dir(store)
    cp("component.renamed")
    disk.write_atomic(complete, encode_component_completion(cid))
    cp("component.written")


def commit_release(
    data_dir: Path,
    rid: str,
    record: bytes,
    signature: bytes,
    *,
    version: str,
    running: str | None,
    disk: Disk,
    cp: Checkpoints,
) -> Pointer:
    """Steps 4 and 5: the release record, then the pointer naming it (on trial)."""
    releases = data_dir / "releases"
    disk.make_dirs(releases)
    disk.write_atomic(release_file(data_dir, rid, ".json"), record)
    disk.write_atomic(release_file(data_dir, rid, ".sig"), signature)
    cp("release.written")
    pointer = read_pointer(data_dir)
    if running is not None and running != rid:
        previous = running  # what runs now is what works: the fallback if the new one fails
    elif pointer is not None and pointer.release != rid:
        previous = pointer.release
    else:  # re-installing the release in force (a component of it was damaged)
        previous = pointer.previous if pointer is not None else CD
    seq = pointer.seq + 1 if pointer is not None else 1
    new = Pointer(seq, rid, previous, version, good=False)
    disk.write_synced(pointer_path(data_dir, seq), encode_pointer(new))
    disk.sync_dir(data_dir)
    cp("pointer.written")
    return new


def _referenced(data_dir: Path, rid: str) -> set[str] | None:
    """The component ids release ``rid`` names (on every platform: the key also starts on
    other systems), or None when its record cannot be read (then nothing is collected)."""
    try:
        data = release_file(data_dir, rid, ".json").read_bytes()
        if digest(data) != rid:
            return None
        return set(decode_release(data).components.values())
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


def _entry_id(name: str) -> str | None:
    """The id a store or release entry belongs to (``<id>``, ``<id>.list``, a temporary
    ``.<id>.list.tmp``...), or None for anything else."""
    stem = name.lstrip(".").split(".", 1)[0]
    return stem if is_id(stem) else None


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def collect_garbage(data_dir: Path, rid: str, *, disk: Disk, cp: Checkpoints) -> int:
    """Step 6: remove every component and release record that release ``rid`` (the good
    pointer's; "cd" for the CD-ROM's) does not reference. A component stops being
    complete (its record removed, synced) before its files go. Returns how many entries
    were removed."""
    keep: set[str] = set()
    if rid != CD:
        referenced = _referenced(data_dir, rid)
        if referenced is None:
            log.warning("release %s unreadable: nothing collected", rid[:12])
            return 0
        keep = referenced
    cp("gc.begin")
    removed = 0
    store = store_dir(data_dir)
    if store.is_dir():
        doomed = sorted({i for n in _names(store) if (i := _entry_id(n)) and i not in keep})
        for cid in doomed:
            disk.remove(component_file(data_dir, cid, ".complete"))
            disk.sync_dir(store)
            for name in _names(store):
                if _entry_id(name) == cid:
                    disk.remove(store / name)
                    removed += 1
            disk.sync_dir(store)
            cp("gc.component-removed")
    releases = data_dir / "releases"
    if releases.is_dir():
        for name in _names(releases):
            if _entry_id(name) not in (rid, None) or name.startswith("."):
                disk.remove(releases / name)
                removed += 1
        disk.sync_dir(releases)
    cp("gc.done")
    return removed


def mark_good(
    data_dir: Path,
    *,
    running: str | None = None,
    disk: Disk | None = None,
    checkpoints: Checkpoints | None = None,
) -> bool:
    """Called by a new release once it reached its UI: the bootstrap stops counting its
    starts, then what it does not reference is collected (step 6).

    ``running`` is the release the caller runs (its ``Choice.release``): when it is not the
    pointer's (a degraded start), nothing is marked and nothing collected. Returns False
    when there was nothing to mark (already good, no update installed, not the running
    release); garbage left by an interrupted collection is collected again.
    """
    d = disk or Disk()
    cp = checkpoints or Checkpoints()
    pointer = read_pointer(data_dir)
    if pointer is None or (running is not None and pointer.release != running):
        return False
    marked = False
    if not pointer.good:
        new = Pointer(
            pointer.seq + 1, pointer.release, pointer.previous, pointer.version, good=True
        )
        d.write_synced(pointer_path(data_dir, new.seq), encode_pointer(new))
        d.sync_dir(data_dir)
        marked = True
    cp("first-start.marked-good")
    collect_garbage(data_dir, pointer.release, disk=d, cp=cp)
    return marked
