"""The live Firefox profile in the data area: made from the template on first use, the
template's changes merged at later starts.

The template is the running release's ``profile`` component (``user.js``, and whatever
else a release engineer ships there). Template files win: each is written into the live
profile whenever it differs (Firefox applies ``user.js`` over ``prefs.js`` at every
start, so the template's preferences win too). What the user's sessions made — history,
cookies, the NSS databases holding the certificate — is kept. Two things would otherwise
outlive a template change, and are removed: a file an older template shipped and the new
one does not, and a preference an older template set and the new one does not (Firefox
copied it into ``prefs.js``). The stamp ``.e-secure-template.json`` records what the
template last installed: its files' SHA-256 and the preferences its ``user.js`` set.

Never while Firefox runs on the profile (the caller checks); every write is atomic.
Decisions (:func:`plan_merge`, :func:`pref_names`, :func:`drop_prefs`) are pure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from esecure._fs import atomic_write
from esecure.errors import StorageError

__all__ = [
    "MAX_TEMPLATE_BYTES",
    "MAX_TEMPLATE_FILES",
    "PREFS_FILE",
    "STAMP_NAME",
    "USER_JS",
    "MergePlan",
    "ProfileResult",
    "Stamp",
    "decode_stamp",
    "drop_prefs",
    "encode_stamp",
    "plan_merge",
    "pref_names",
    "prepare_live_profile",
]

STAMP_NAME = ".e-secure-template.json"
USER_JS = "user.js"
PREFS_FILE = "prefs.js"
MAX_TEMPLATE_FILES = 256
MAX_TEMPLATE_BYTES = 16 * 1024 * 1024
_PREF = re.compile(r"""^\s*user_pref\(\s*"((?:[^"\\]|\\.)*)"\s*,""")


def pref_names(js: str) -> tuple[str, ...]:
    """The preference names a ``user.js`` / ``prefs.js`` text sets, in order (pure)."""
    return tuple(match.group(1) for line in js.splitlines() if (match := _PREF.match(line)))


def drop_prefs(prefs_js: str, names: frozenset[str]) -> str:
    """``prefs_js`` without the lines that set one of ``names`` (pure)."""
    kept = [
        line
        for line in prefs_js.splitlines(keepends=True)
        if not ((match := _PREF.match(line)) and match.group(1) in names)
    ]
    return "".join(kept)


@dataclass(frozen=True)
class Stamp:
    """What a template installed: file name -> SHA-256, and the preferences of its user.js."""

    files: Mapping[str, str]
    prefs: tuple[str, ...] = ()


def encode_stamp(stamp: Stamp) -> bytes:
    """The stamp file's bytes."""
    doc = {"format": 1, "files": dict(sorted(stamp.files.items())), "prefs": list(stamp.prefs)}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _safe(name: str) -> bool:
    """A relative name inside the profile: the stamp sits in the writable data area, so a
    name like ``../pki/credential.pem`` must never reach :func:`prepare_live_profile`'s
    removals."""
    parts = name.split("/")
    return (
        bool(name)
        and "\\" not in name
        and ":" not in name
        and not name.startswith("/")
        and (all(p not in ("", ".", "..") for p in parts))
    )


def decode_stamp(data: bytes) -> Stamp | None:
    """A stamp, or None when absent or damaged (the template is then installed again);
    names that would leave the profile are dropped."""
    try:
        doc = json.loads(data)
        files = {str(k): str(v) for k, v in doc["files"].items() if _safe(str(k))}
        return Stamp(files, tuple(str(p) for p in doc["prefs"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


@dataclass(frozen=True)
class MergePlan:
    """What to change in the live profile."""

    write: tuple[str, ...]  # template files to (re)write
    remove: tuple[str, ...]  # files only an older template shipped
    drop: frozenset[str] = field(default_factory=frozenset)  # prefs only it set

    @property
    def empty(self) -> bool:
        """Nothing to do."""
        return not (self.write or self.remove or self.drop)


def plan_merge(old: Stamp | None, new: Stamp, live: Mapping[str, str | None]) -> MergePlan:
    """The changes that bring a live profile to template ``new`` (pure): ``old`` is what
    the previous template installed, ``live`` each template file's SHA-256 in the live
    profile now (None: missing)."""
    write = tuple(name for name, digest in sorted(new.files.items()) if live.get(name) != digest)
    before = old.files if old is not None else {}
    remove = tuple(sorted(set(before) - set(new.files)))
    dropped = set(old.prefs) - set(new.prefs) if old is not None else set()
    return MergePlan(write, remove, frozenset(dropped))


@dataclass(frozen=True)
class ProfileResult:
    """What :func:`prepare_live_profile` did."""

    created: bool
    plan: MergePlan


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _template(template: Path) -> dict[str, bytes]:
    """The template's files (relative POSIX names -> bytes), bounded; ES404 otherwise."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        if not (template / USER_JS).is_file():
            raise StorageError(f"the profile template {template} has no {USER_JS}", code="ES404")
        for directory, dirs, names in os.walk(template):
            dirs.sort()
            for name in sorted(names):
                path = Path(directory) / name
                data = path.read_bytes()
                total += len(data)
                files[path.relative_to(template).as_posix()] = data
                if len(files) > MAX_TEMPLATE_FILES or total > MAX_TEMPLATE_BYTES:
                    raise StorageError(
                        f"the profile template {template} holds more than "
                        f"{MAX_TEMPLATE_FILES} files or {MAX_TEMPLATE_BYTES} bytes",
                        code="ES404",
                    )
    except OSError as exc:
        raise StorageError(
            f"cannot read the profile template {template}: {exc.strerror or exc}", code="ES404"
        ) from None
    return files


def _digest_of(path: Path) -> str | None:
    try:
        return _sha256(path.read_bytes())
    except OSError:
        return None


def prepare_live_profile(template: Path, live: Path) -> ProfileResult:
    """Make ``live`` from ``template`` (first use) or merge the template's changes into it;
    ES404 naming the file when the template cannot be read or the profile written."""
    files = _template(template)
    user_js = files[USER_JS].decode("utf-8", errors="replace")
    new = Stamp({name: _sha256(data) for name, data in files.items()}, pref_names(user_js))
    created = not live.is_dir()
    try:
        old = decode_stamp((live / STAMP_NAME).read_bytes()) if not created else None
    except OSError:
        old = None
    plan = plan_merge(old, new, {name: _digest_of(live / name) for name in files})
    if plan.empty and old == new:
        return ProfileResult(created, plan)
    try:
        live.mkdir(parents=True, exist_ok=True)
        for name in plan.write:
            (live / name).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(live / name, files[name], mode=0o600)
        for name in plan.remove:
            (live / name).unlink(missing_ok=True)
        prefs = live / PREFS_FILE
        if plan.drop and prefs.is_file():
            text = prefs.read_text(encoding="utf-8", errors="replace")
            atomic_write(prefs, drop_prefs(text, plan.drop).encode("utf-8"), mode=0o600)
        atomic_write(live / STAMP_NAME, encode_stamp(new), mode=0o600)  # last: vouches
    except OSError as exc:
        raise StorageError(
            f"cannot write the live profile {live}: {exc.strerror or exc}", code="ES404"
        ) from None
    return ProfileResult(created, plan)
