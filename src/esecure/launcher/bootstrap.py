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

The data area is found at every start (:func:`find_data_area`), first that answers:

1. ``ESECURE_DATA_DIR`` (tests, operators);
2. the key's own writable data partition: the FAT volume labelled as ``product.json``'s
   ``data.label`` (the CD-ROM's own ``product.json``), preferring the one on the same
   physical device as the CD-ROM; when two candidates are equally good none is taken
   (another key's data area would be worse than none);
3. a per-user directory on the host: ``%LOCALAPPDATA%\\e-secure\\<id>``,
   ``$XDG_DATA_HOME/e-secure/<id>`` (default ``~/.local/share``), or
   ``~/Library/Application Support/e-secure/<id>``; the choice's reason says so.

It holds, beside ``updates/``::

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

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import import_module
from pathlib import Path

__all__ = [
    "APP_ROOT_ENV",
    "CD_ROOT_ENV",
    "CD_SLOT",
    "DATA_DIR_ENV",
    "IMAGE_KEY",
    "MANIFEST_NAME",
    "MAX_FAILED_STARTS",
    "POINTER_FILES",
    "SIGNATURE_NAME",
    "SLOTS",
    "Choice",
    "Completion",
    "DataArea",
    "MountEntry",
    "Pointer",
    "Volume",
    "cd_root",
    "cd_version",
    "check_slot",
    "choose",
    "completion_path",
    "decode_completion",
    "decode_pointer",
    "encode_completion",
    "encode_pointer",
    "find_data_area",
    "hashed_at_start",
    "linux_volumes",
    "main",
    "parse_mountinfo",
    "pick_data_volume",
    "platform_name",
    "public_key_from_pem",
    "read_pointer",
    "slot_dir",
    "start_choice",
    "usable_slot",
    "user_data_dir",
    "verify_app_root",
    "verify_ed25519",
    "version_key",
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
    data_dir: Path | None = None  # the data area the launcher uses (None: none usable)
    data_kind: str = "none"  # "env", "partition", "user" or "none"
    data_reason: str = ""  # where the data area is and why


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


# --- Ed25519 verification (RFC 8032, section 5.1.7), pure Python ----------------------------
#
# The bootstrap is frozen with the standard library only, so it carries its own verifier.
# Only verification: the bootstrap never signs. Points are in extended coordinates
# (X:Y:Z:T) with x = X/Z, y = Y/Z, x*y = T/Z (RFC 8032, section 5.1.4).

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_Point = tuple[int, int, int, int]
_B: _Point = (_BX, _BY, 1, _BX * _BY % _P)
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _double(p: _Point) -> _Point:
    x1, y1, z1, _t1 = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _base_table() -> list[_Point]:
    """[2^i]B for i in 0..252: the base multiple then needs additions only."""
    table = [_B]
    for _ in range(252):
        table.append(_double(table[-1]))
    return table


_BASE_TABLE: list[_Point] = []


def _mul_base(scalar: int) -> _Point:
    if not _BASE_TABLE:
        _BASE_TABLE.extend(_base_table())
    out = _IDENTITY
    for i in range(scalar.bit_length()):
        if scalar >> i & 1:
            out = _add(out, _BASE_TABLE[i])
    return out


def _mul(scalar: int, point: _Point) -> _Point:
    """[scalar]point with a 4-bit fixed window (about 64 additions instead of 128)."""
    table = [_IDENTITY, point]
    for _ in range(14):
        table.append(_add(table[-1], point))
    out = _IDENTITY
    for shift in range((scalar.bit_length() + 3) // 4 * 4 - 4, -4, -4):
        out = _double(_double(_double(_double(out))))
        digit = scalar >> shift & 15
        if digit:
            out = _add(out, table[digit])
    return out


def _decode_point(data: bytes) -> _Point | None:
    """RFC 8032, section 5.1.3: a 32-byte encoding to a point, or None when invalid."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    x_0 = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if (v * x * x - u) % _P != 0:
        if (v * x * x + u) % _P != 0:
            return None
        x = x * _SQRT_M1 % _P
    if x == 0 and x_0 == 1:
        return None
    if x & 1 != x_0:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _same_point(p: _Point, q: _Point) -> bool:
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % _P == 0 and (y1 * z2 - y2 * z1) % _P == 0


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032, section 5.1.7: is ``signature`` a valid Ed25519 signature of ``message``?

    Rejects wrong lengths, keys and R that do not decode, and a non-canonical S (S >= L),
    then checks [S]B = R + [k]A with k = SHA-512(R || A || M) mod L.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public_key)
    r = _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    k = int.from_bytes(digest, "little") % _L
    return _same_point(_mul_base(s), _add(r, _mul(k, a)))


# --- the signed manifest of an application root ------------------------------------------------

MANIFEST_NAME = "MANIFEST.json"
SIGNATURE_NAME = "MANIFEST.json.sig"
IMAGE_KEY = "trust/image-signing.pub.pem"
# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE, AlgorithmIdentifier
# 1.3.101.112, BIT STRING of 33 bytes; the 32 key bytes follow.
_ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")
# Native libraries of Firefox the launcher itself loads (ctypes, NSS): hashed at every
# start like lib/, since they run inside the launcher's process.
LAUNCHER_LOADED = frozenset(
    {
        "libnssutil3.so",
        "libnss3.so",
        "libmozsqlite3.so",
        "libfreeblpriv3.so",
        "libsoftokn3.so",
        "libsmime3.so",
        "mozglue.dll",
        "nss3.dll",
        "freebl3.dll",
        "softokn3.dll",
        "libmozglue.dylib",
        "libnss3.dylib",
        "libfreebl3.dylib",
        "libsoftokn3.dylib",
    }
)
_VERSION = re.compile(r"(\d+(?:\.\d+)*)(?:(a|b|rc)(\d+))?")
_PRE = {"a": 0, "b": 1, "rc": 2}


def public_key_from_pem(pem: bytes) -> bytes | None:
    """The 32 bytes of an Ed25519 public key in PEM (SubjectPublicKeyInfo), or None."""
    lines = pem.decode("ascii", "replace").strip().splitlines()
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----":
        return None
    if lines[-1] != "-----END PUBLIC KEY-----":
        return None
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(der) != 44 or not der.startswith(_ED25519_SPKI):
        return None
    return der[len(_ED25519_SPKI) :]


def version_key(version: str) -> tuple[tuple[int, ...], tuple[int, int]] | None:
    """A comparable key for ``1.4.0`` / ``1.4.0rc1`` (PEP 440 release + pre-release), or None."""
    match = _VERSION.fullmatch(version.strip())
    if match is None:
        return None
    release = tuple(int(n) for n in match.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    pre = (_PRE[match.group(2)], int(match.group(3))) if match.group(2) else (3, 0)
    return release, pre


def cd_version(cd: Path) -> str | None:
    """The version of the application on the CD-ROM (its product.json)."""
    try:
        doc = json.loads((cd / "product.json").read_bytes())
    except (OSError, ValueError):
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    return version if isinstance(version, str) else None


def _listed(data: bytes) -> tuple[str, dict[str, tuple[int, str]]] | None:
    """(version, path -> (size, sha256)) of signed manifest bytes, or None when malformed."""
    try:
        doc = json.loads(data.decode("utf-8"))
        if doc["format"] != 1 or not isinstance(doc["version"], str):
            return None
        files: dict[str, tuple[int, str]] = {}
        for entry in doc["files"]:
            path, size, digest = entry["path"], entry["size"], entry["sha256"]
            if not (isinstance(path, str) and isinstance(size, int) and isinstance(digest, str)):
                return None
            parts = path.split("/")
            if path.startswith("/") or any(
                p in ("", ".", "..") or "\\" in p or ":" in p for p in parts
            ):
                return None
            files[path] = (size, digest)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return doc["version"], files


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


def hashed_at_start(name: str, platform: str) -> bool:
    """Whether the start check hashes ``name`` in full: everything but Firefox's own files
    (sizes only), and of those its distribution/ (policies, CA) and the NSS libraries the
    launcher loads with ctypes."""
    if not name.startswith("firefox/"):
        return True
    firefox = f"firefox/{platform}/"
    return name.startswith(f"{firefox}distribution/") or (
        name.startswith(firefox) and name.rsplit("/", 1)[-1] in LAUNCHER_LOADED
    )


def _signed_list(  # noqa: PLR0911 - one reason per return, in check order
    root: Path, cd: Path
) -> tuple[str, dict[str, tuple[int, str]]] | str:
    """The verified (version, files) of ``root``'s manifest, or why it cannot be trusted."""
    try:
        pem = (cd / IMAGE_KEY).read_bytes()
    except OSError:
        return f"the CD-ROM has no {IMAGE_KEY} to check updates with"
    key = public_key_from_pem(pem)
    if key is None:
        return f"the CD-ROM's {IMAGE_KEY} is not an Ed25519 public key"
    try:
        data = (root / MANIFEST_NAME).read_bytes()
        signature = base64.b64decode((root / SIGNATURE_NAME).read_bytes().strip(), validate=True)
    except (OSError, binascii.Error, ValueError):
        return f"no readable signed {MANIFEST_NAME}"
    if not verify_ed25519(key, data, signature):
        return f"{MANIFEST_NAME} is not signed by the image-signing key"
    listed = _listed(data)
    if listed is None:
        return f"{MANIFEST_NAME} is signed but malformed"
    version, floor = listed[0], cd_version(cd) or ""
    mine, theirs = version_key(version), version_key(floor)
    if mine is None or theirs is None:
        return f"version {version!r} cannot be compared with the CD-ROM's {floor!r}"
    if mine < theirs:
        return f"version {version} is older than the CD-ROM's {floor}"
    return listed


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
        if (full or hashed_at_start(name, platform)) and _sha256(path) != digest:
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


# --- finding the data area: pure decisions over text and records, tiny OS adapters -------------

DATA_VENDOR_DIR = "e-secure"
FAT_TYPES = ("vfat", "msdos", "fat", "fat12", "fat16", "fat32", "exfat")


@dataclass(frozen=True)
class DataArea:
    """Where the data area is, and why (the kind: "env", "partition", "user" or "none")."""

    path: Path | None
    kind: str
    reason: str


@dataclass(frozen=True)
class Volume:
    """A mounted volume as the OS reports it; ``device`` names its physical device (the USB
    device both LUNs of a key share), or is None when it cannot be told."""

    root: Path
    label: str
    fs: str
    device: str | None
    writable: bool = True


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo."""

    devno: str  # major:minor
    mount_point: str
    fs: str
    source: str
    options: tuple[str, ...]


def _unescape_mount(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo (octal)."""
    out, i = [], 0
    while i < len(text):
        chunk = text[i + 1 : i + 4]
        if text[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The mounts of /proc/self/mountinfo (malformed lines are skipped)."""
    entries: list[MountEntry] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        entries.append(
            MountEntry(
                devno=fields[2],
                mount_point=_unescape_mount(fields[4]),
                fs=tail[0],
                source=_unescape_mount(tail[1]),
                options=tuple(fields[5].split(",")),
            )
        )
    return entries


def mount_of(path: str, mounts: Iterable[MountEntry]) -> MountEntry | None:
    """The mount that holds ``path`` (the longest mount point that contains it; last wins)."""
    best: MountEntry | None = None
    for m in mounts:
        point = m.mount_point.rstrip("/") or "/"
        inside = point in ("/", path) or path.startswith(point + "/")
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip("/") or "/")):
            best = m
    return best


def usb_device_of(sys_path: str) -> str:
    """The physical device of a block device, from its resolved /sys path: the part up to
    the SCSI host (``.../usb1/1-2/1-2:1.0/host6``), which the CD-ROM LUN (sr0) and the disk
    LUN (sdb) of one key share; else the whole path (a loop device, an NVMe disk...)."""
    parts = sys_path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("host") and part[4:].isdigit():
            return "/".join(parts[: i + 1])
    return sys_path


def same_label(a: str, b: str) -> bool:
    """FAT labels compare without case and trailing blanks (FAT stores them upper-case)."""
    return a.strip().upper() == b.strip().upper()


def pick_data_volume(
    volumes: Iterable[Volume], label: str, cd_device: str | None
) -> tuple[Volume | None, str]:
    """The key's data partition among ``volumes``, or (None, why). Pure.

    Only writable FAT volumes labelled ``label`` count. With the CD-ROM's device known, a
    candidate on that device wins and one known to be on another device never counts (it
    is another key's, with its serial and certificate). Two equally good candidates are a
    tie: none is taken, rather than the wrong key's.
    """
    found = [
        v
        for v in volumes
        if same_label(v.label, label) and v.fs.lower() in FAT_TYPES and v.writable
    ]
    if not found:
        return None, f"no writable FAT volume labelled {label}"
    if cd_device is not None:
        same = [v for v in found if v.device == cd_device]
        if len(same) == 1:
            return same[0], f"partition {label} at {same[0].root}, on the CD-ROM's device"
        if len(same) > 1:
            roots = ", ".join(str(v.root) for v in same)
            return None, f"{len(same)} volumes labelled {label} on the CD-ROM's device ({roots})"
        unknown = [v for v in found if v.device is None]
        if not unknown:
            roots = ", ".join(str(v.root) for v in found)
            return None, f"volume(s) labelled {label} ({roots}) belong to another device"
        found = unknown
    if len(found) == 1:
        return found[0], f"partition {label} at {found[0].root}"
    roots = ", ".join(str(v.root) for v in found)
    return None, (
        f"{len(found)} volumes labelled {label} ({roots}) and none known to be on the "
        "CD-ROM's device: not guessing which key is this one"
    )


def user_data_dir(product_id: str, platform: str, environ: Mapping[str, str], home: Path) -> Path:
    """The per-user data directory on the host. Pure."""
    if platform == "windows":
        base = environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / DATA_VENDOR_DIR / product_id
    if platform == "macos":
        return home / "Library" / "Application Support" / DATA_VENDOR_DIR / product_id
    xdg = environ.get("XDG_DATA_HOME", "")
    base_dir = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base_dir / DATA_VENDOR_DIR / product_id


def read_cd_product(cd: Path) -> tuple[str, str] | None:
    """(product id, data label) from the CD-ROM's product.json, or None when unreadable."""
    try:
        doc = json.loads((cd / "product.json").read_bytes())
        pid, label = doc["id"], doc["data"]["label"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(pid, str) and isinstance(label, str) and pid and label:
        return pid, label
    return None


# Linux: /proc/self/mountinfo, the udev database (/run/udev/data), /sys/dev/block.


def udev_label(text: str) -> str | None:
    """The file-system label in a udev database record (``E:ID_FS_LABEL_ENC=`` escapes
    as \\xNN, ``E:ID_FS_LABEL=`` replaces unsafe characters). Pure."""
    values = dict(
        line[2:].split("=", 1)
        for line in text.splitlines()
        if line.startswith("E:") and "=" in line
    )
    encoded = values.get("ID_FS_LABEL_ENC")
    if encoded:
        return re.sub(r"\\x([0-9a-fA-F]{2})", lambda h: chr(int(h.group(1), 16)), encoded)
    return values.get("ID_FS_LABEL") or None


def _sys_device(devno: str, sys_root: Path) -> str | None:
    node = sys_root / "dev" / "block" / devno
    if not devno or not node.exists():
        return None
    return usb_device_of(os.path.realpath(node))


def linux_volumes(
    mountinfo: str, *, run_root: Path = Path("/run"), sys_root: Path = Path("/sys")
) -> list[Volume]:
    """Mounted FAT volumes with their labels (udev database, else the mount point's name,
    as udisks names it) and physical devices (the resolved /sys/dev/block/<major:minor>)."""
    volumes = []
    for m in parse_mountinfo(mountinfo):
        if m.fs.lower() not in FAT_TYPES:
            continue
        label = None
        with contextlib.suppress(OSError):
            label = udev_label(
                (run_root / "udev" / "data" / f"b{m.devno}").read_text(errors="replace")
            )
        volumes.append(
            Volume(
                Path(m.mount_point),
                label or Path(m.mount_point).name,
                m.fs,
                _sys_device(m.devno, sys_root),
                "rw" in m.options,
            )
        )
    return volumes


def linux_cd_device(cd: Path, mountinfo: str, *, sys_root: Path = Path("/sys")) -> str | None:
    """The physical device of the volume the CD-ROM root is on."""
    m = mount_of(os.path.realpath(cd), parse_mountinfo(mountinfo))
    return _sys_device(m.devno, sys_root) if m is not None else None


# macOS: /Volumes/<label>; a second volume with the same label is mounted as "<label> 1".


def macos_volumes(label: str, volumes_root: Path = Path("/Volumes")) -> list[Volume]:
    """The volumes named ``label`` or ``label N`` (FAT assumed; the device is not told)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in volumes_root.iterdir():
            base, _, suffix = entry.name.rpartition(" ")
            named = same_label(entry.name, label) or (same_label(base, label) and suffix.isdigit())
            if named and entry.is_dir():
                found.append(Volume(entry, label, "fat", None, os.access(entry, os.W_OK)))
    return found


# Windows: drive letters (kernel32), and the USB identity of each drive's device.

STORAGE_DEVICE_DESCRIPTOR_MIN = 36


def decode_storage_descriptor(data: bytes) -> str | None:
    """The device identity (bus, vendor, product, serial) of a STORAGE_DEVICE_DESCRIPTOR
    returned by IOCTL_STORAGE_QUERY_PROPERTY; None without a serial number. Pure."""
    if len(data) < STORAGE_DEVICE_DESCRIPTOR_MIN:
        return None

    def dword(at: int) -> int:
        return int.from_bytes(data[at : at + 4], "little")

    def text(at: int) -> str:
        offset = dword(at)
        if offset == 0 or offset >= len(data):
            return ""
        return data[offset:].split(b"\0", 1)[0].decode("ascii", "replace").strip()

    serial = text(24)
    if not serial:
        return None
    return f"bus{dword(28)}|{text(12)}|{text(16)}|{serial}"


def _windows_device(letter: str) -> str | None:  # pragma: no cover - runs on Windows only
    import ctypes  # noqa: PLC0415
    from ctypes import wintypes  # noqa: PLC0415

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    k32.CreateFileW.restype = wintypes.HANDLE
    k32.CreateFileW.argtypes = [
        wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
        wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE,
    ]  # fmt: skip
    handle = k32.CreateFileW(f"\\\\.\\{letter}:", 0, 3, None, 3, 0, None)  # no access, share rw
    if handle in (None, wintypes.HANDLE(-1).value):
        return None
    try:
        query = (ctypes.c_uint32 * 3)(0, 0, 0)  # StorageDeviceProperty, PropertyStandardQuery
        out = ctypes.create_string_buffer(1024)
        got = wintypes.DWORD(0)
        ok = k32.DeviceIoControl(
            wintypes.HANDLE(handle), 0x002D1400, query, 12, out, 1024, ctypes.byref(got), None
        )  # IOCTL_STORAGE_QUERY_PROPERTY
        return decode_storage_descriptor(out.raw[: got.value]) if ok else None
    finally:
        k32.CloseHandle(wintypes.HANDLE(handle))


def windows_volumes() -> list[Volume]:  # pragma: no cover - runs on Windows only
    """Every drive letter with its label, file system and device identity."""
    import ctypes  # noqa: PLC0415

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    buf = ctypes.create_unicode_buffer(1024)
    size = k32.GetLogicalDriveStringsW(1023, buf)
    volumes = []
    for root in ctypes.wstring_at(ctypes.addressof(buf), size).split("\0"):
        if not root or k32.GetDriveTypeW(root) not in (2, 3):  # DRIVE_REMOVABLE, DRIVE_FIXED
            continue
        name, fs = ctypes.create_unicode_buffer(261), ctypes.create_unicode_buffer(261)
        flags = ctypes.c_uint32(0)
        if not k32.GetVolumeInformationW(root, name, 261, None, None, ctypes.byref(flags), fs, 261):
            continue
        read_only = bool(flags.value & 0x00080000)  # FILE_READ_ONLY_VOLUME
        device = None
        with contextlib.suppress(Exception):
            device = _windows_device(root[0])
        volumes.append(Volume(Path(root), name.value, fs.value, device, not read_only))
    return volumes


def _probe(
    cd: Path, label: str, platform: str
) -> tuple[list[Volume], str | None]:  # pragma: no cover - the OS adapters, one per platform
    if platform == "linux":
        text = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
        return linux_volumes(text), linux_cd_device(cd, text)
    if platform == "macos":
        return macos_volumes(label), None
    drive = os.path.splitdrive(os.path.realpath(cd))[0][:1]
    return windows_volumes(), (_windows_device(drive) if drive else None)


Probe = Callable[[Path, str, str], tuple[list[Volume], str | None]]


def find_data_area(
    cd: Path,
    *,
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
    probe: Probe = _probe,
) -> DataArea:
    """The data area: ESECURE_DATA_DIR, else the key's data partition, else a per-user
    directory on the host (which the reason says). Never raises: the key must start."""
    env = os.environ if environ is None else environ
    plat = platform or platform_name()
    value = env.get(DATA_DIR_ENV)
    if value:
        return DataArea(Path(value), "env", f"data area {value} (from {DATA_DIR_ENV})")
    product = read_cd_product(cd)
    if product is None:
        return DataArea(None, "none", f"no data area: {cd / 'product.json'} is unreadable")
    product_id, label = product
    try:
        volumes, cd_device = probe(cd, label, plat)
        volume, why = pick_data_volume(volumes, label, cd_device)
    except Exception as exc:  # noqa: BLE001 - an OS oddity must not stop the key from starting
        volume, why = None, f"looking for partition {label} failed ({type(exc).__name__})"
    if volume is not None:
        return DataArea(volume.root, "partition", f"data area: {why}")
    try:
        where = user_data_dir(product_id, plat, env, home or Path.home())
    except (RuntimeError, KeyError):  # no home directory
        return DataArea(None, "none", f"no data area: {why}, and no home directory")
    return DataArea(
        where, "user", f"data area: per-user directory {where} on this computer ({why})"
    )


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


def _roll_back(data_dir: Path, pointer: Pointer, cd: Path) -> Choice:
    """Two failed starts: make the previous application the active one again, and say so."""
    report = {"from_slot": pointer.active, "from_version": pointer.version, "seq": pointer.seq}
    if pointer.previous in SLOTS:
        record, why = usable_slot(data_dir, pointer.previous, cd)
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
