"""The bootstrap: what the program frozen on the read-only CD-ROM does at every start.

It picks an *application root* and runs the application's code from there in its own
interpreter (``e-secure`` / ``e-secure.exe`` is a Python runtime plus this package):

* the active slot of the data area, when its pointer record is valid, its completion
  record is valid and every file it lists is present with its recorded size, its signed
  file list verifies with the CD-ROM's image-signing key (:func:`verify_app_root`), and
  it has not already failed to start twice; else the previous slot under the same
  conditions;
* else the application shipped on the CD-ROM.

It never writes to the CD-ROM, never writes into a slot and never executes a native
program from the data area. The names and records it reads are in
:mod:`esecure_onkey.layout` and :mod:`esecure_onkey.records`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import import_module
from pathlib import Path
from typing import Protocol

from esecure_onkey.discovery import DataArea, find_data_area
from esecure_onkey.filelist import verify_file_list
from esecure_onkey.layout import (
    APP_MODULE,
    APP_ROOT_ENV,
    CD_ROOT_ENV,
    CD_SLOT,
    DATA_DIR_ENV,
    IMAGE_KEY,
    MANIFEST_NAME,
    MAX_FAILED_STARTS,
    POINTER_FILES,
    SIGNATURE_NAME,
    SLOTS,
    attempts_path,
    completion_path,
    hashed_at_start,
    platform_name,
    pointer_path,
    rollback_path,
    slot_dir,
)
from esecure_onkey.product import product_version
from esecure_onkey.records import (
    Completion,
    Pointer,
    decode_completion,
    decode_pointer,
    encode_pointer,
    newest,
)
from esecure_onkey.versions import version_key

__all__ = [
    "OS_FILE_OPS",
    "Choice",
    "FileOps",
    "OsFileOps",
    "cd_root",
    "check_slot",
    "choose",
    "data_dir_from_env",
    "failed_starts",
    "main",
    "read_pointer",
    "run",
    "sha256_file",
    "start_choice",
    "usable_slot",
    "verify_app_root",
    "write_pointer",
    "write_synced",
]


@dataclass(frozen=True)
class Choice:
    """Which application the bootstrap runs, and why (reported by diagnostics)."""

    root: Path
    slot: str | None
    reason: str
    rolled_back: bool = False
    degraded: bool = False  # the active slot was incomplete: another application runs
    data_dir: Path | None = None  # the data area the launcher uses (None: none usable)
    data_kind: str = "none"  # "env", "partition", "user" or "none"
    data_reason: str = ""  # where the data area is and why


# --- data-area I/O (small, synced) ----------------------------------------------------------


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class OsFileOps:
    """:class:`FileOps` on the real file system."""

    def mkdir(self, path: Path) -> None:
        """Create ``path`` and its missing parents (exist ok)."""
        path.mkdir(parents=True, exist_ok=True)

    def write(self, path: Path, data: bytes) -> None:
        """Create or truncate ``path`` and write ``data``."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)

    def append(self, path: Path, data: bytes) -> None:
        """Add ``data`` at the end of ``path`` (created if missing)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        fd = os.open(path, flags, 0o644)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)

    def sync(self, path: Path) -> None:
        """Make the contents of the file ``path`` durable (opened for writing: Windows'
        FlushFileBuffers refuses a read-only handle)."""
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

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


def check_slot(data_dir: Path, slot: str, *, full: bool = False) -> tuple[Completion | None, str]:
    """(record, "") when the slot is complete, else (None, why). ``full`` also hashes files."""
    record = decode_completion(_read(completion_path(data_dir, slot)) or b"")
    if record is None:
        return None, f"slot {slot} has no valid completion record"
    root = slot_dir(data_dir, slot)
    for name, (size, digest) in record.files.items():
        path = root / name
        try:
            actual = path.stat().st_size
        except OSError:
            return None, f"slot {slot}: {name} is missing"
        if actual != size:
            return None, f"slot {slot}: {name} has {actual} bytes, expected {size}"
        if full and sha256_file(path) != digest:
            return None, f"slot {slot}: {name} differs from its recorded SHA-256"
    return record, ""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


# --- the signed file list of an application root ----------------------------------------------


def _signed_list(root: Path, cd: Path) -> tuple[str, dict[str, tuple[int, str]]] | str:
    """The verified (version, files) of ``root``'s signed file list, or why it cannot be
    trusted: signed by the key on the CD-ROM (never one from the data area), and of a
    version not lower than the CD-ROM application's (no replay of an older release)."""
    try:
        pem = (cd / IMAGE_KEY).read_bytes()
    except OSError:
        return f"the CD-ROM has no {IMAGE_KEY} to check updates with"
    try:
        data = (root / MANIFEST_NAME).read_bytes()
        signature = (root / SIGNATURE_NAME).read_bytes()
    except OSError:
        return f"no readable signed {MANIFEST_NAME}"
    listed = verify_file_list(data, signature, pem)
    if isinstance(listed, str):
        return listed
    floor = product_version(cd) or ""
    mine, theirs = version_key(listed.version), version_key(floor)
    if mine is None or theirs is None:
        return f"version {listed.version!r} cannot be compared with the CD-ROM's {floor!r}"
    if mine < theirs:
        return f"version {listed.version} is older than the CD-ROM's {floor}"
    return listed.version, listed.files


def _files_outside_firefox(root: Path) -> list[str] | None:
    """Every file of ``root`` outside firefox/, as a POSIX path; None on a symbolic link."""
    out: list[str] = []
    for directory, dirs, files in os.walk(root):
        base = Path(directory)
        if base == root:
            dirs[:] = [d for d in dirs if d != "firefox"]
        for name in [*dirs, *files]:
            if (base / name).is_symlink():
                return None
        out.extend((base / name).relative_to(root).as_posix() for name in files)
    return out


def _files_differ(
    root: Path, files: dict[str, tuple[int, str]], platform: str, *, full: bool
) -> str:
    """Why the files under ``root`` differ from the signed list, or "" when they match."""
    present = _files_outside_firefox(root)
    if present is None:
        return "the slot holds a symbolic link"
    for name in sorted(present):
        if name not in files and name not in (MANIFEST_NAME, SIGNATURE_NAME):
            return f"{name} is not listed in the signed manifest"
    for name, (size, digest) in sorted(files.items()):
        path = root / name
        try:
            actual = path.stat().st_size
        except OSError:
            return f"{name} is missing"
        if actual != size:
            return f"{name} has {actual} bytes, the manifest says {size}"
        if (full or hashed_at_start(name, platform)) and sha256_file(path) != digest:
            return f"{name} differs from the signed manifest"
    return ""


def verify_app_root(
    root: Path, cd: Path, platform: str, *, full: bool = False
) -> tuple[str | None, str]:
    """(version, "") when the application root at ``root`` may run, else (None, why).

    At every start, before anything of ``root`` is imported: the signature of its
    MANIFEST.json by the image-signing key on the CD-ROM; its version not lower than the
    CD-ROM application's (no replay of an older genuine release); no unlisted file outside
    firefox/; the full SHA-256 of every file outside firefox/ (lib/, product.json, trust/,
    profile/), of Firefox's distribution/ and of the NSS libraries the launcher loads; the
    size of every other listed file (Firefox's own). ``full`` (diagnostics) hashes every
    listed file: against the signed list, not the completion record an attacker can rewrite.
    """
    listed = _signed_list(root, cd)
    if isinstance(listed, str):
        return None, listed
    why = _files_differ(root, listed[1], platform, full=full)
    return (None, why) if why else (listed[0], "")


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


def usable_slot(data_dir: Path, slot: str, cd: Path) -> tuple[Completion | None, str]:
    """(record, "") when ``slot`` is complete AND its signed manifest verifies, else (None, why).

    The completion record only says the install finished; what may run is decided by
    :func:`verify_app_root` against the key on the CD-ROM, at every start.
    """
    record, why = check_slot(data_dir, slot)
    if record is None:
        return None, why
    version, why = verify_app_root(slot_dir(data_dir, slot), cd, platform_name())
    if version is None:
        return None, f"slot {slot}: {why}"
    if version_key(version) != version_key(record.version):
        return None, f"slot {slot}: signed version {version}, recorded {record.version}"
    return record, ""


def _cd(cd: Path, reason: str, *, rolled_back: bool = False) -> Choice:
    return Choice(root=cd, slot=None, reason=reason, rolled_back=rolled_back)


def _slot_choice(data_dir: Path, slot: str, why: str, *, rolled_back: bool = False) -> Choice:
    return Choice(slot_dir(data_dir, slot), slot, why, rolled_back)


def _roll_back(data_dir: Path, pointer: Pointer, cd: Path, ops: FileOps) -> Choice:
    """Two failed starts: make the previous application the active one again, and say so.

    The report is written before the new pointer: the pointer is the switch, so a power cut
    between the two leaves the report and the old pointer, and the next start switches back
    again (the report is rewritten); never a switch without its report.
    """
    report = {"from_slot": pointer.active, "from_version": pointer.version, "seq": pointer.seq}
    if pointer.previous in SLOTS:
        record, why = usable_slot(data_dir, pointer.previous, cd)
        if record is not None:
            back = Pointer(pointer.seq + 1, pointer.previous, CD_SLOT, record.version, good=True)
            with contextlib.suppress(OSError):
                write_synced(rollback_path(data_dir), json.dumps(report).encode(), ops)
                write_pointer(data_dir, back, ops)
            return _slot_choice(
                data_dir,
                pointer.previous,
                f"version {pointer.version} failed to start twice: back to slot "
                f"{pointer.previous} (version {record.version})",
                rolled_back=True,
            )
        report["previous_unusable"] = why
    with contextlib.suppress(OSError):
        write_synced(rollback_path(data_dir), json.dumps(report).encode(), ops)
    return _cd(
        cd,
        f"version {pointer.version} failed to start twice: back to the CD-ROM's application",
        rolled_back=True,
    )


def choose(
    cd: Path,
    data_dir: Path | None = None,
    *,
    count_start: bool = True,
    checkpoint: Callable[[str], None] | None = None,
    ops: FileOps = OS_FILE_OPS,
) -> Choice:
    """The application root to run, counting this start when the active slot is on trial.

    ``checkpoint`` lets the updater's crash tests stop a first start at named places;
    ``ops`` carries every write of the start (the counter, a switch back), so that they
    can cut the power after any one of them.
    """
    if checkpoint is not None:
        checkpoint("first-start.begin")
    if data_dir is None:
        return _cd(cd, "application shipped on the CD-ROM")
    pointer = read_pointer(data_dir)
    if pointer is None:
        return _cd(cd, "application shipped on the CD-ROM (no update installed)")
    record, why = usable_slot(data_dir, pointer.active, cd)
    if record is None:
        if pointer.previous in SLOTS and usable_slot(data_dir, pointer.previous, cd)[0]:
            return Choice(
                slot_dir(data_dir, pointer.previous),
                pointer.previous,
                f"{why}: previous slot used",
                degraded=True,
            )
        return Choice(cd, None, f"{why}: application shipped on the CD-ROM", degraded=True)
    if not pointer.good:
        if failed_starts(data_dir, pointer.seq) >= MAX_FAILED_STARTS:
            return _roll_back(data_dir, pointer, cd, ops)
        if count_start:
            with contextlib.suppress(OSError):  # a read-only data area must not stop the key
                _count_start(data_dir, pointer.seq, ops)
            if checkpoint is not None:
                checkpoint("first-start.counted")
    return _slot_choice(
        data_dir, pointer.active, f"version {record.version} from slot {pointer.active}"
    )


def run(choice: Choice, argv: list[str]) -> int:
    """Import the application from the chosen root and hand it the command line."""
    lib = choice.root / "lib" / platform_name()
    if choice.slot is not None:
        # the slot's files were checked against its signed manifest: Python must not add
        # unlisted __pycache__ files to it (they would make the next start refuse it)
        sys.dont_write_bytecode = True
    if lib.is_dir():
        sys.path.insert(0, str(lib))
    os.environ[APP_ROOT_ENV] = str(choice.root)
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
