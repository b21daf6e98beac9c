"""An independent judge of a data area: exactly the old release in force, or the new one.

It reads the pointer records, the completion records and the slots with its own code
(the standard library's ``json`` and ``hashlib``, and the on-key format as docs/updates.md
states it), never with ``esecure_onkey.records``/``boot``: they are what the crash tests
test. It is the format-specific half of the crash harness (the power-cut model knows
nothing of slots); a content-addressed store would get its own judge beside this one.

The rules, after any cut:

* every valid completion record tells the truth: its slot holds exactly the files it
  lists (no more, no fewer), each with its size and full SHA-256, and that is a known
  release of the record's version (a record left over a replaced slot is a lie the
  bootstrap would believe);
* the newest valid pointer record is one of the states the caller allows (old or new),
  with its version, ``previous`` and ``good``; its active slot holds that release exactly
  and is complete. An incomplete active slot is a failure even though the bootstrap would
  fall back to another one: a degraded start is the installer's fault, not a pass;
* ``previous`` names "cd" or a slot holding the release the state says (strictly for a
  new state; for the old state, the slot the install is replacing may be invalidated:
  no valid record, hence never chosen);
* optionally the start counter of the pointer in force and the switch-back report.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

POINTER_FILES = ("pointer-0", "pointer-1")
SLOT_NAMES = ("A", "B")
CD = "cd"


@dataclass(frozen=True)
class Release:
    """What a slot holding ``version`` must hold: every file's SHA-256 by its path."""

    version: str
    files: Mapping[str, str]

    @classmethod
    def from_tar(cls, version: str, tar_bytes: bytes) -> Release:
        """The release an archive installs (its file members, the signed list included)."""
        files: dict[str, str] = {}
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                name = "/".join(p for p in member.name.split("/") if p not in ("", "."))
                source = tar.extractfile(member)
                files[name] = hashlib.sha256(source.read() if source else b"").hexdigest()
        return cls(version, files)


@dataclass(frozen=True)
class Pointer:
    """A pointer record as this judge decodes it."""

    seq: int
    active: str
    previous: str
    version: str
    good: bool


@dataclass(frozen=True)
class State:
    """One state the key may be in after a cut.

    ``active`` None: no valid pointer (the CD-ROM's application). ``previous_holds`` None:
    the previous slot may be invalidated (it is the install's target). ``good`` None:
    either. ``starts``: the counts of starts the pointer in force may have (None: any).
    ``report``: boot/rollback.json must say the switch back.
    """

    active: str | None
    release: Release | None = None
    previous: str = CD
    previous_holds: Release | None = None
    good: bool | None = None
    starts: tuple[int, ...] | None = None
    report: bool = False

    def describe(self) -> str:
        """One line for failure messages."""
        if self.active is None:
            return "no pointer (CD-ROM)"
        version = self.release.version if self.release else "?"
        return f"{self.active}={version} previous {self.previous} good={self.good}"


def _unseal(data: bytes) -> dict[str, object] | None:
    """The body of a sealed record: {"body": "<json>", "sha256": "<hex of body>"}, format 1."""
    try:
        outer = json.loads(data.decode("utf-8"))
        body_text = outer["body"]
        if not isinstance(body_text, str):
            return None
        if hashlib.sha256(body_text.encode("utf-8")).hexdigest() != outer["sha256"]:
            return None
        body = json.loads(body_text)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or body.get("format") != 1:
        return None
    return body


def decode_pointer(data: bytes) -> Pointer | None:
    """A pointer record, or None when torn or malformed."""
    body = _unseal(data)
    if body is None:
        return None
    seq, active, previous = body.get("seq"), body.get("active"), body.get("previous")
    version, good = body.get("version"), body.get("good")
    if type(seq) is not int or seq < 0 or active not in SLOT_NAMES:
        return None
    if previous not in (*SLOT_NAMES, CD) or previous == active:
        return None
    if not isinstance(version, str) or type(good) is not bool:
        return None
    return Pointer(seq, str(active), str(previous), version, good)


def decode_completion(data: bytes) -> tuple[str, dict[str, tuple[int, str]]] | None:
    """(version, {path: (size, sha256)}) of a completion record, or None."""
    body = _unseal(data)
    if body is None:
        return None
    version, files = body.get("version"), body.get("files")
    if not isinstance(version, str) or not isinstance(files, dict):
        return None
    out: dict[str, tuple[int, str]] = {}
    for name, value in files.items():
        if not (isinstance(value, list) and len(value) == 2):
            return None
        size, digest = value
        if type(size) is not int or not isinstance(digest, str):
            return None
        out[name] = (size, digest)
    return version, out


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def newest_pointer(data_dir: Path) -> Pointer | None:
    """The valid pointer record with the highest sequence number."""
    found = [decode_pointer(_read(data_dir / n)) for n in POINTER_FILES]
    valid = [p for p in found if p is not None]
    return max(valid, key=lambda p: p.seq) if valid else None


def slot_files(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` (a slot) with its size and SHA-256."""
    if not root.is_dir():
        return {}
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            out[path.relative_to(root).as_posix()] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def _differences(label: str, found: Mapping[str, str], expected: Mapping[str, str]) -> list[str]:
    missing = sorted(expected.keys() - found.keys())
    extra = sorted(found.keys() - expected.keys())
    changed = sorted(n for n in found.keys() & expected.keys() if found[n] != expected[n])
    out = [f"{label}: {n} missing" for n in missing[:3]]
    out += [f"{label}: {n} not expected" for n in extra[:3]]
    out += [f"{label}: {n} differs" for n in changed[:3]]
    return out


def _honest_records(
    data_dir: Path, releases: Sequence[Release]
) -> tuple[dict[str, str], list[str]]:
    """{slot: version} of the slots whose valid completion record tells the truth, and the
    lies found."""
    complete: dict[str, str] = {}
    problems: list[str] = []
    known = {r.version: r for r in releases}
    for slot in SLOT_NAMES:
        record = decode_completion(_read(data_dir / "slots" / f"{slot}.complete"))
        if record is None:
            continue
        version, listed = record
        found = slot_files(data_dir / "slots" / slot)
        lies = _differences(
            f"slot {slot} (record {version})",
            {n: f"{s}:{d}" for n, (s, d) in found.items()},
            {n: f"{s}:{d}" for n, (s, d) in listed.items()},
        )
        release = known.get(version)
        if release is None:
            lies.append(f"slot {slot}: record of unknown version {version}")
        else:
            lies += _differences(
                f"slot {slot} record vs release {version}",
                {n: d for n, (_s, d) in listed.items()},
                release.files,
            )
        if lies:
            problems += [f"completion record lies: {lie}" for lie in lies]
        else:
            complete[slot] = version
    return complete, problems


def _starts(data_dir: Path, seq: int) -> int:
    try:
        return (data_dir / "boot" / str(seq)).stat().st_size
    except OSError:
        return 0


def _match(
    data_dir: Path, pointer: Pointer | None, state: State, complete: Mapping[str, str]
) -> list[str]:
    """What differs between the area and ``state`` (empty: it is that state)."""
    if state.active is None or pointer is None:
        if state.active is None and pointer is None:
            return []
        return [f"pointer in force {pointer}, expected {state.describe()}"]
    release = state.release
    if release is None:  # pragma: no cover - a state naming a slot names its release
        return ["state without a release"]
    if (pointer.active, pointer.version, pointer.previous) != (
        state.active,
        release.version,
        state.previous,
    ) or (state.good is not None and pointer.good != state.good):
        return [f"pointer in force {pointer}, expected {state.describe()}"]
    out: list[str] = []
    if complete.get(state.active) != release.version:
        out.append(f"active slot {state.active} does not hold a complete {release.version}")
    holds = state.previous_holds
    if holds is not None and complete.get(state.previous) != holds.version:
        out.append(f"previous slot {state.previous} does not hold a complete {holds.version}")
    if state.starts is not None and _starts(data_dir, pointer.seq) not in state.starts:
        out.append(f"{_starts(data_dir, pointer.seq)} counted starts, expected {state.starts}")
    if state.report:
        try:
            report = json.loads((data_dir / "boot" / "rollback.json").read_text())
        except (OSError, ValueError):
            report = None
        if not isinstance(report, dict) or "from_version" not in report:
            out.append("boot/rollback.json does not say the switch back")
    return out


def check(data_dir: Path, states: Sequence[State], releases: Sequence[Release]) -> list[str]:
    """What is wrong with ``data_dir`` (empty: it is exactly one of ``states``)."""
    known = [*releases, *(s.release for s in states if s.release is not None)]
    complete, problems = _honest_records(data_dir, known)
    pointer = newest_pointer(data_dir)
    misses = [_match(data_dir, pointer, state, complete) for state in states]
    if all(misses):
        problems += [
            f"not {state.describe()}: {'; '.join(miss)}"
            for state, miss in zip(states, misses, strict=True)
        ]
    return problems
