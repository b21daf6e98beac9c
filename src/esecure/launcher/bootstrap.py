"""The bootstrap: the program frozen onto the read-only CD-ROM as ``e-secure`` / ``e-secure.exe``.

It is a Python runtime plus this one module (standard library only: it must not import
``esecure``, or the frozen copy would shadow the application it starts). At every start it
picks an *application root* and runs the application's code from there in this interpreter:

* the active slot of the data area, when its pointer record is valid, its completion record
  is valid and every file it lists is present with its recorded size, and the slot has not
  already failed to start twice; else the previous slot under the same conditions;
* else the application shipped on the CD-ROM.

An application root has the same layout wherever it lives (CD-ROM root or a slot)::

    lib/<platform>/      the `esecure` package and its third-party packages (.py/.pyc and
                         compiled extensions; never a native program that is executed)
    firefox/<platform>/  the portable Firefox
    profile/user.js      the profile template
    product.json         names, URLs, languages, support phone
    trust/               the CA certificate(s)

The data area (a directory; ``ESECURE_DATA_DIR`` names it) holds, beside ``updates/``::

    slots/A/, slots/B/        two application roots
    slots/A.complete, ...     completion record of each slot: version + every file's size
                              and SHA-256, with a checksum over the record
    pointer-0, pointer-1      two pointer records (sequence number, active slot, previous
                              slot, version, marked good, checksum): the valid record with
                              the highest sequence number wins, so a record torn by a power
                              cut (FAT renames are not atomic) leaves the other one in force
    boot/<seq>                one byte per start of the pointer record <seq> not yet marked
                              good; two failed starts make the bootstrap switch back
    boot/rollback.json        what the last automatic switch back did (for the launcher)

The bootstrap never writes to the CD-ROM, never writes into a slot and never executes a
native binary from the data area. The formats below are a contract: the copy frozen on the
CD-ROM can never change, so later versions write records this module can read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

__all__ = [
    "APP_ROOT_ENV",
    "CD_ROOT_ENV",
    "CD_SLOT",
    "DATA_DIR_ENV",
    "MAX_FAILED_STARTS",
    "POINTER_FILES",
    "SLOTS",
    "Choice",
    "Completion",
    "Pointer",
    "cd_root",
    "check_slot",
    "choose",
    "completion_path",
    "decode_completion",
    "decode_pointer",
    "encode_completion",
    "encode_pointer",
    "main",
    "platform_name",
    "read_pointer",
    "slot_dir",
    "write_pointer",
]

APP_ROOT_ENV = "ESECURE_APP_ROOT"
CD_ROOT_ENV = "ESECURE_CD_ROOT"
DATA_DIR_ENV = "ESECURE_DATA_DIR"
APP_MODULE = "esecure.launcher.app"
SLOTS = ("A", "B")
CD_SLOT = "cd"
MAX_FAILED_STARTS = 2
POINTER_FILES = ("pointer-0", "pointer-1")
FORMAT = 1


@dataclass(frozen=True)
class Choice:
    """Which application the bootstrap runs, and why (reported by diagnostics)."""

    root: Path
    slot: str | None
    reason: str
    rolled_back: bool = False
    degraded: bool = False  # the active slot was incomplete: another application runs


@dataclass(frozen=True)
class Pointer:
    """One pointer record: which slot is active, which one was before, whether it is proven."""

    seq: int
    active: str
    previous: str
    version: str
    good: bool


@dataclass(frozen=True)
class Completion:
    """A slot's completion record: written last, after every file of the slot is synced."""

    version: str
    files: dict[str, tuple[int, str]]  # relative POSIX path -> (size, sha256 hex)


# --- record formats (pure) ------------------------------------------------------------------


def _seal(body: dict[str, object]) -> bytes:
    """JSON body + its SHA-256, so a torn or altered record is recognised as invalid."""
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(payload.encode()).hexdigest()
    return json.dumps({"body": payload, "sha256": digest}).encode() + b"\n"


def _unseal(data: bytes) -> dict[str, object] | None:
    try:
        outer = json.loads(data)
        payload = outer["body"]
        if hashlib.sha256(payload.encode()).hexdigest() != outer["sha256"]:
            return None
        body = json.loads(payload)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return None
    return body


def encode_pointer(p: Pointer) -> bytes:
    """The bytes of a pointer record."""
    return _seal(
        {
            "format": FORMAT,
            "seq": p.seq,
            "active": p.active,
            "previous": p.previous,
            "version": p.version,
            "good": p.good,
        }
    )


def decode_pointer(data: bytes) -> Pointer | None:
    """A pointer record, or None when it is torn, altered or names an unknown slot."""
    body = _unseal(data)
    if body is None:
        return None
    seq, active, previous = body.get("seq"), body.get("active"), body.get("previous")
    version, good = body.get("version"), body.get("good")
    if not (isinstance(seq, int) and seq >= 0 and active in SLOTS):
        return None
    if previous not in (*SLOTS, CD_SLOT) or previous == active:
        return None
    if not (isinstance(version, str) and isinstance(good, bool)):
        return None
    return Pointer(seq, str(active), str(previous), version, good)


def encode_completion(c: Completion) -> bytes:
    """The bytes of a slot completion record."""
    files = {name: [size, digest] for name, (size, digest) in sorted(c.files.items())}
    return _seal({"format": FORMAT, "version": c.version, "files": files})


def decode_completion(data: bytes) -> Completion | None:
    """A completion record, or None when it is torn or altered."""
    body = _unseal(data)
    if body is None:
        return None
    version, files = body.get("version"), body.get("files")
    if not (isinstance(version, str) and isinstance(files, dict)):
        return None
    out: dict[str, tuple[int, str]] = {}
    for name, value in files.items():
        if not (isinstance(value, list) and len(value) == 2):
            return None
        size, digest = value
        if not (isinstance(size, int) and isinstance(digest, str)):
            return None
        out[str(name)] = (size, digest)
    return Completion(version, out)


def newest(records: list[Pointer | None]) -> Pointer | None:
    """The valid record with the highest sequence number."""
    valid = [r for r in records if r is not None]
    return max(valid, key=lambda r: r.seq) if valid else None


# --- data-area I/O (small, synced) ------------------------------------------------------------


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_synced(path: Path, data: bytes) -> None:
    """Write in place and fsync: used for records that have a twin (pointer) or a checksum."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def read_pointer(data_dir: Path) -> Pointer | None:
    """The pointer in force: the newest valid of the two records."""
    return newest([decode_pointer(_read(data_dir / n) or b"") for n in POINTER_FILES])


def write_pointer(data_dir: Path, pointer: Pointer) -> None:
    """Write ``pointer`` over the record the current one is not in (by sequence parity)."""
    _write_synced(data_dir / POINTER_FILES[pointer.seq % 2], encode_pointer(pointer))


def slot_dir(data_dir: Path, slot: str) -> Path:
    """Where slot ``slot`` lives."""
    return data_dir / "slots" / slot


def completion_path(data_dir: Path, slot: str) -> Path:
    """Where the completion record of ``slot`` lives (beside the slot, never inside it)."""
    return data_dir / "slots" / f"{slot}.complete"


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
        if full and _sha256(path) != digest:
            return None, f"slot {slot}: {name} differs from its recorded SHA-256"
    return record, ""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _attempts_path(data_dir: Path, seq: int) -> Path:
    return data_dir / "boot" / str(seq)


def failed_starts(data_dir: Path, seq: int) -> int:
    """How many starts the pointer record ``seq`` had without being marked good."""
    try:
        return _attempts_path(data_dir, seq).stat().st_size
    except OSError:
        return 0


def _count_start(data_dir: Path, seq: int) -> None:
    path = _attempts_path(data_dir, seq)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as f:
        f.write(b".")
        f.flush()
        os.fsync(f.fileno())


# --- the choice ---------------------------------------------------------------------------------


def platform_name(sys_platform: str | None = None) -> str:
    """The platform directory name used under lib/ and firefox/."""
    name = sys_platform or sys.platform
    if name.startswith("win"):
        return "windows"
    if name == "darwin":
        return "macos"
    return "linux"


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


def _cd(cd: Path, reason: str, *, rolled_back: bool = False) -> Choice:
    return Choice(root=cd, slot=None, reason=reason, rolled_back=rolled_back)


def _slot_choice(data_dir: Path, slot: str, why: str, *, rolled_back: bool = False) -> Choice:
    return Choice(slot_dir(data_dir, slot), slot, why, rolled_back)


def _roll_back(data_dir: Path, pointer: Pointer, cd: Path) -> Choice:
    """Two failed starts: make the previous application the active one again, and say so."""
    report = {"from_slot": pointer.active, "from_version": pointer.version, "seq": pointer.seq}
    if pointer.previous in SLOTS:
        record, why = check_slot(data_dir, pointer.previous)
        if record is not None:
            back = Pointer(pointer.seq + 1, pointer.previous, CD_SLOT, record.version, good=True)
            with contextlib.suppress(OSError):
                write_pointer(data_dir, back)
                _write_synced(data_dir / "boot" / "rollback.json", json.dumps(report).encode())
            return _slot_choice(
                data_dir,
                pointer.previous,
                f"version {pointer.version} failed to start twice: back to slot "
                f"{pointer.previous} (version {record.version})",
                rolled_back=True,
            )
        report["previous_unusable"] = why
    with contextlib.suppress(OSError):
        _write_synced(data_dir / "boot" / "rollback.json", json.dumps(report).encode())
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
) -> Choice:
    """The application root to run, counting this start when the active slot is on trial.

    ``checkpoint`` lets the updater's crash tests stop a first start at named places.
    """
    if checkpoint is not None:
        checkpoint("first-start.begin")
    if data_dir is None:
        return _cd(cd, "application shipped on the CD-ROM")
    pointer = read_pointer(data_dir)
    if pointer is None:
        return _cd(cd, "application shipped on the CD-ROM (no update installed)")
    record, why = check_slot(data_dir, pointer.active)
    if record is None:
        if pointer.previous in SLOTS and check_slot(data_dir, pointer.previous)[0] is not None:
            return Choice(
                slot_dir(data_dir, pointer.previous),
                pointer.previous,
                f"{why}: previous slot used",
                degraded=True,
            )
        return Choice(cd, None, f"{why}: application shipped on the CD-ROM", degraded=True)
    if not pointer.good:
        if failed_starts(data_dir, pointer.seq) >= MAX_FAILED_STARTS:
            return _roll_back(data_dir, pointer, cd)
        if count_start:
            with contextlib.suppress(OSError):  # a read-only data area must not stop the key
                _count_start(data_dir, pointer.seq)
            if checkpoint is not None:
                checkpoint("first-start.counted")
    return _slot_choice(
        data_dir, pointer.active, f"version {record.version} from slot {pointer.active}"
    )


def run(choice: Choice, argv: list[str]) -> int:
    """Import the application from the chosen root and hand it the command line."""
    lib = choice.root / "lib" / platform_name()
    if lib.is_dir():
        sys.path.insert(0, str(lib))
    os.environ[APP_ROOT_ENV] = str(choice.root)
    app = import_module(APP_MODULE)
    code: int = app.main(argv, boot=choice)
    return code


def main() -> None:
    """Entry point of the frozen bootstrap."""
    sys.exit(run(choose(cd_root(), data_dir_from_env()), sys.argv[1:]))


if __name__ == "__main__":
    main()
