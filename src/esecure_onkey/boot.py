"""The bootstrap: what the program frozen on the read-only CD-ROM does at every start.

It picks a *release* and runs the application's code from that release's components in
its own interpreter (``e-secure`` / ``e-secure.exe`` is a Python runtime plus this
package):

* the release the data area's pointer record names, when it may run
  (:func:`esecure_onkey.store.resolve`: signed record, version not below the CD-ROM's,
  every component the CD-ROM's own or complete and matching its signed list), and it has
  not already failed to start twice; else the release before it under the same checks;
* else the release shipped on the CD-ROM.

It never writes to the CD-ROM, never writes into the component store and never executes
a native program from the data area; it writes only ``boot/`` (the start counter) and,
on a switch back, one pointer record.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import import_module
from pathlib import Path
from typing import Protocol

from esecure_onkey.components import component_names, mount
from esecure_onkey.discovery import DataArea, find_data_area
from esecure_onkey.layout import (
    APP_MODULE,
    CD,
    CD_ROOT_ENV,
    DATA_DIR_ENV,
    MAX_FAILED_STARTS,
    POINTER_FILES,
    attempts_path,
    platform_name,
    pointer_path,
    rollback_path,
)
from esecure_onkey.records import Pointer, decode_pointer, encode_pointer, newest
from esecure_onkey.store import Resolved, cd_release, cd_resolved, resolve

__all__ = [
    "OS_FILE_OPS",
    "Choice",
    "FileOps",
    "OsFileOps",
    "cd_choice",
    "cd_root",
    "choose",
    "data_dir_from_env",
    "failed_starts",
    "fsync_file",
    "main",
    "read_pointer",
    "run",
    "start_choice",
    "write_pointer",
    "write_synced",
]


@dataclass(frozen=True)
class Choice:
    """Which release the bootstrap runs, from where, and why (reported by diagnostics)."""

    cd: Path  # the CD-ROM root
    release: str  # a release id, or "cd"
    version: str
    dirs: Mapping[str, Path] = field(repr=False)  # component name -> its directory
    reason: str
    platform: str = field(default_factory=platform_name)
    rolled_back: bool = False
    degraded: bool = False  # the release in force could not run: another one runs
    data_dir: Path | None = None  # the data area the launcher uses (None: none usable)
    data_kind: str = "none"  # "env", "partition", "user" or "none"
    data_reason: str = ""  # where the data area is and why

    def component(self, kind: str) -> Path:
        """The directory of ``kind`` ("app", "deps", "firefox", "profile", "trust")."""
        name = f"{kind}-{self.platform}" if kind in ("deps", "firefox") else kind
        return self.dirs[name]

    @property
    def from_store(self) -> bool:
        """Whether some component runs from the data area (not the read-only CD-ROM)."""
        return any(not _inside(path, self.cd) for path in self.dirs.values())


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


# --- data-area I/O (small, synced) ------------------------------------------------------------


class FileOps(Protocol):
    """The file operations the bootstrap writes the data area with, one primitive each.

    Nothing is durable until synced: a file's contents by :meth:`sync`, a new or removed
    entry of a directory by :meth:`sync_dir` of that directory (FAT on a yanked key keeps
    no more). :data:`OS_FILE_OPS` is the real file system; the updater's crash tests pass
    a model of a power cut (tests/updater/powercut.py) to cut after any one of them.
    """

    def mkdir(self, path: Path) -> None:
        """Create ``path`` and its missing parents (exist ok)."""

    def write(self, path: Path, data: bytes) -> None:
        """Create or truncate ``path`` and write ``data``."""

    def append(self, path: Path, data: bytes) -> None:
        """Add ``data`` at the end of ``path`` (created if missing)."""

    def sync(self, path: Path) -> None:
        """Make the contents of the file ``path`` durable."""

    def sync_dir(self, directory: Path) -> None:
        """Make the entries of ``directory`` (created, removed, renamed) durable."""


def fsync_file(path: Path) -> None:
    """Make the contents of the file ``path`` durable (opened for writing: Windows'
    FlushFileBuffers refuses a read-only handle)."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(path: Path, mode: int, data: bytes) -> None:
    """Open ``path`` for writing (created if missing; ``mode`` O_TRUNC or O_APPEND) and
    write all of ``data``."""
    flags = os.O_WRONLY | os.O_CREAT | mode | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class OsFileOps:
    """:class:`FileOps` on the real file system."""

    def mkdir(self, path: Path) -> None:
        """Create ``path`` and its missing parents (exist ok)."""
        path.mkdir(parents=True, exist_ok=True)

    def write(self, path: Path, data: bytes) -> None:
        """Create or truncate ``path`` and write ``data``."""
        _write_all(path, os.O_TRUNC, data)

    def append(self, path: Path, data: bytes) -> None:
        """Add ``data`` at the end of ``path`` (created if missing)."""
        _write_all(path, os.O_APPEND, data)

    def sync(self, path: Path) -> None:
        """Make the contents of the file ``path`` durable."""
        fsync_file(path)

    def sync_dir(self, directory: Path) -> None:
        """Make the entries of ``directory`` durable (nothing to do where a directory cannot
        be opened: Windows)."""
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


OS_FILE_OPS: FileOps = OsFileOps()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _make_dir(ops: FileOps, directory: Path) -> None:
    """Create ``directory`` if missing, each new entry durable (its parent synced)."""
    missing: list[Path] = []
    here = directory
    while not here.is_dir() and here.parent != here:  # bounded by the path's depth
        missing.append(here)
        here = here.parent
    if missing:
        ops.mkdir(directory)
        for created in reversed(missing):
            ops.sync_dir(created.parent)


def write_synced(path: Path, data: bytes, ops: FileOps = OS_FILE_OPS) -> None:
    """Write in place, durably (contents and entry): records that have a twin (pointer) or
    a checksum, so a write torn by a power cut is recognised."""
    _make_dir(ops, path.parent)
    ops.write(path, data)
    ops.sync(path)
    ops.sync_dir(path.parent)


def read_pointer(data_dir: Path) -> Pointer | None:
    """The pointer in force: the newest valid of the two records."""
    return newest([decode_pointer(_read(data_dir / n) or b"") for n in POINTER_FILES])


def write_pointer(data_dir: Path, pointer: Pointer, ops: FileOps = OS_FILE_OPS) -> None:
    """Write ``pointer`` over the record the current one is not in (by sequence parity)."""
    write_synced(pointer_path(data_dir, pointer.seq), encode_pointer(pointer), ops)


def failed_starts(data_dir: Path, seq: int) -> int:
    """How many starts the pointer record ``seq`` had without being marked good."""
    try:
        return attempts_path(data_dir, seq).stat().st_size
    except OSError:
        return 0


def _count_start(data_dir: Path, seq: int, ops: FileOps) -> None:
    """One more start of pointer ``seq``, durable before the application runs (a count lost
    to a power cut would allow a third start of a version that cannot start)."""
    path = attempts_path(data_dir, seq)
    _make_dir(ops, path.parent)
    ops.append(path, b".")
    ops.sync(path)
    ops.sync_dir(path.parent)


# --- the choice ---------------------------------------------------------------------------------


def cd_root() -> Path:
    """The CD-ROM root: beside the frozen executable; ESECURE_CD_ROOT overrides (tests)."""
    override = os.environ.get(CD_ROOT_ENV)
    if override:
        return Path(override)
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path.cwd()


def data_dir_from_env() -> Path | None:
    """The data area named by ESECURE_DATA_DIR (set by the launcher or its tests)."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value) if value else None


def _choice(
    resolved: Resolved,
    cd: Path,
    platform: str,
    reason: str,
    *,
    rolled_back: bool = False,
    degraded: bool = False,
) -> Choice:
    return Choice(
        cd,
        resolved.release,
        resolved.version,
        resolved.dirs,
        reason,
        platform,
        rolled_back=rolled_back,
        degraded=degraded,
    )


def cd_choice(
    cd: Path,
    reason: str = "application shipped on the CD-ROM",
    *,
    rolled_back: bool = False,
    degraded: bool = False,
) -> Choice:
    """The CD-ROM's own release (its version from release.json, when readable)."""
    platform = platform_name()
    floor = cd_release(cd)
    if isinstance(floor, str):  # an unreadable release.json: run the CD-ROM's files anyway
        dirs = {name: cd / mount(name) for name in component_names(platform)}
        why = f"{reason} ({floor})"
        return Choice(cd, CD, "", dirs, why, platform, rolled_back=rolled_back, degraded=degraded)
    resolved = cd_resolved(cd, floor, platform)
    return _choice(resolved, cd, platform, reason, rolled_back=rolled_back, degraded=degraded)


def _roll_back(data_dir: Path, pointer: Pointer, cd: Path, platform: str, ops: FileOps) -> Choice:
    """Two failed starts: make the previous release the one in force again, and say so.

    The report is written before the new pointer: the pointer is the switch, so a power cut
    between the two leaves the report and the old pointer, and the next start switches back
    again (the report is rewritten); never a switch without its report.
    """
    report: dict[str, object] = {
        "from_release": pointer.release,
        "from_version": pointer.version,
        "seq": pointer.seq,
    }
    back = resolve(data_dir, pointer.previous, cd, platform) if pointer.previous != CD else None
    if isinstance(back, Resolved):
        new = Pointer(pointer.seq + 1, back.release, pointer.release, back.version, good=True)
        why = f"version {pointer.version} failed to start twice: back to version {back.version}"
    else:
        if isinstance(back, str):
            report["previous_unusable"] = back
        new = Pointer(pointer.seq + 1, CD, pointer.release, cd_choice(cd).version or "0", good=True)
        why = f"version {pointer.version} failed to start twice: back to the CD-ROM's application"
    with contextlib.suppress(OSError):  # a read-only data area must not stop the key
        write_synced(rollback_path(data_dir), json.dumps(report).encode(), ops)
        write_pointer(data_dir, new, ops)
    if isinstance(back, Resolved):
        return _choice(back, cd, platform, why, rolled_back=True)
    return cd_choice(cd, why, rolled_back=True)


def choose(  # noqa: PLR0911 - one answer per case, in the order the cases are checked
    cd: Path,
    data_dir: Path | None = None,
    *,
    count_start: bool = True,
    checkpoint: Callable[[str], None] | None = None,
    platform: str | None = None,
    ops: FileOps = OS_FILE_OPS,
) -> Choice:
    """The release to run, counting this start when the release in force is on trial.

    ``checkpoint`` lets the updater's crash tests stop a first start at named places;
    ``ops`` is how the bootstrap writes (the crash tests' power-cut model).
    """
    plat = platform or platform_name()
    if checkpoint is not None:
        checkpoint("first-start.begin")
    if data_dir is None:
        return cd_choice(cd)
    pointer = read_pointer(data_dir)
    if pointer is None:
        return cd_choice(cd, "application shipped on the CD-ROM (no update installed)")
    if pointer.release == CD:
        return cd_choice(cd, f"application shipped on the CD-ROM (pointer {pointer.seq})")
    resolved = resolve(data_dir, pointer.release, cd, plat)
    if isinstance(resolved, str):
        if pointer.previous != CD:
            before = resolve(data_dir, pointer.previous, cd, plat)
            if isinstance(before, Resolved):
                why = f"{resolved}: version {before.version} used"
                return _choice(before, cd, plat, why, degraded=True)
        return cd_choice(cd, f"{resolved}: application shipped on the CD-ROM", degraded=True)
    if not pointer.good:
        if failed_starts(data_dir, pointer.seq) >= MAX_FAILED_STARTS:
            return _roll_back(data_dir, pointer, cd, plat, ops)
        if count_start:
            with contextlib.suppress(OSError):  # a read-only data area must not stop the key
                _count_start(data_dir, pointer.seq, ops)
            if checkpoint is not None:
                checkpoint("first-start.counted")
    return _choice(resolved, cd, plat, f"version {resolved.version} from the data area")


def run(choice: Choice, argv: list[str]) -> int:
    """Import the application from the chosen release and hand it the command line."""
    if choice.from_store:
        # the store's files were checked against their signed lists: Python must not add
        # unlisted __pycache__ files to them (they would make the next start refuse them)
        sys.dont_write_bytecode = True
    for kind in ("deps", "app"):  # app first on sys.path, then its packages
        directory = choice.component(kind)
        if directory.is_dir():
            sys.path.insert(0, str(directory))
    app = import_module(APP_MODULE)
    code: int = app.main(argv, boot=choice)
    return code


def start_choice(cd: Path, area: DataArea) -> Choice:
    """The choice of application for ``area``; it carries the data area, and its reason
    says where the data area is unless an operator named it (ESECURE_DATA_DIR)."""
    choice = choose(cd, area.path)
    reason = choice.reason if area.kind == "env" else f"{choice.reason}; {area.reason}"
    return replace(
        choice, reason=reason, data_dir=area.path, data_kind=area.kind, data_reason=area.reason
    )


def main() -> None:
    """Entry point of the frozen bootstrap."""
    cd = cd_root()
    sys.exit(run(start_choice(cd, find_data_area(cd)), sys.argv[1:]))


if __name__ == "__main__":
    main()
