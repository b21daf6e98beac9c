"""An independent judge of a data area of format 1: exactly the old release in force, or
the new one, and nothing on the key that lies.

It reads the pointer records, the release records, the component store and the CD-ROM's
release.json with its own code (the standard library's ``json`` and ``hashlib``, and the
format as docs/format-1.md states it), never with ``esecure_onkey`` or ``esecure``: they
are what the crash tests test. It is the format-specific half of the crash harness (the
power-cut model of tests/updater/powercut.py knows nothing of the store).

The rules, after any cut:

* every valid completion record (``store/<id>.complete``) tells the truth: ``store/<id>.list``
  hashes to ``<id>`` and ``store/<id>/`` holds exactly the files it lists (no more, no
  fewer), each with its size and full SHA-256. A record left over a directory being
  replaced, or over torn files, is a lie the next install and the bootstrap would believe
  (the bootstrap hashes only part of Firefox at each start);
* the newest valid pointer record is one of the states the caller allows (its release,
  ``previous`` and ``good``); no valid pointer is the CD-ROM's release;
* the release it names is whole: ``releases/<rid>.json`` hashes to ``rid``, has the
  state's version, and every component it names for the platform is the CD-ROM's (by the
  CD-ROM's release.json) or complete in the store as above, its list naming that
  component. An incomplete release in force is a failure even though the bootstrap would
  fall back to ``previous``: a degraded start is the installer's fault, not a pass;
* when the state says so, the previous release is whole too (before garbage collection it
  is the fallback), the store and ``releases/`` hold only what the release in force
  references (after garbage collection), the start counter of the pointer in force has
  an allowed count, and ``boot/rollback.json`` reports the switch back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POINTER_FILES = ("pointer-0", "pointer-1")
CD = "cd"
FORMAT = 1


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def unseal(data: bytes) -> dict[str, Any] | None:
    """The body of a sealed record (``{"body": "<json>", "sha256": "<hex of body>"}``) of
    format 1, or None when torn, altered or of another format."""
    try:
        outer = json.loads(data)
        body = outer["body"]
        if not isinstance(body, str) or sha256(body.encode()) != outer["sha256"]:
            return None
        inner = json.loads(body)
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(inner, dict) or inner.get("format") != FORMAT:
        return None
    return inner


@dataclass(frozen=True)
class Pointer:
    """A pointer record as this judge decodes it."""

    seq: int
    release: str
    previous: str
    version: str
    good: bool


def decode_pointer(data: bytes) -> Pointer | None:
    """A pointer record, or None when it is not a valid one."""
    body = unseal(data)
    if body is None:
        return None
    seq, release, previous = body.get("seq"), body.get("release"), body.get("previous")
    version, good = body.get("version"), body.get("good")
    if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(good, bool):
        return None
    if not all(isinstance(v, str) for v in (release, previous, version)):
        return None
    return Pointer(seq, str(release), str(previous), str(version), good)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def pointer_in_force(data: Path) -> Pointer | None:
    """The newest valid pointer record."""
    found = [decode_pointer(_read(data / n) or b"") for n in POINTER_FILES]
    valid = [p for p in found if p is not None]
    return max(valid, key=lambda p: p.seq) if valid else None


@dataclass(frozen=True)
class State:
    """One state the key may be in after a cut.

    ``release`` "cd" with ``previous`` None: no valid pointer at all. ``good`` None:
    either. ``previous_whole``: the previous release must be whole too. ``collected``: the
    store and ``releases/`` hold only what the release references. ``starts``: the
    counts of starts the pointer in force may have (None: any). ``report``:
    boot/rollback.json must report the switch back from ``previous``.
    """

    release: str
    version: str | None = None
    previous: str | None = None
    good: bool | None = None
    previous_whole: bool = False
    collected: bool = False
    starts: tuple[int, ...] | None = None
    report: bool = False

    def matches(self, pointer: Pointer | None) -> bool:
        """The pointer in force is this state's."""
        if pointer is None:
            return self.release == CD and self.previous is None
        return (
            (pointer.release, pointer.previous) == (self.release, self.previous)
            and (self.version is None or pointer.version == self.version)
            and self.good in (None, pointer.good)
        )


def _store_problem(data: Path, cid: str, name: str | None = None) -> str | None:
    """What keeps ``store/<cid>`` from being complete and matching its list (None: it is)."""
    store = data / "store"
    record = unseal(_read(store / f"{cid}.complete") or b"")
    if record is None or record.get("component") != cid:
        return f"{cid[:12]}: no valid completion record"
    return _files_problem(data, cid, name)


def _files_problem(data: Path, cid: str, name: str | None) -> str | None:  # noqa: PLR0911 - one reason per return
    store = data / "store"
    listed = _read(store / f"{cid}.list")
    if listed is None or sha256(listed) != cid:
        return f"{cid[:12]}: its list is missing or does not hash to its id"
    try:
        doc = json.loads(listed)
        files = {e["path"]: (e["size"], e["sha256"]) for e in doc["files"]}
    except (ValueError, KeyError, TypeError):
        return f"{cid[:12]}: its list does not parse"
    if name is not None and doc.get("component") != name:
        return f"{cid[:12]}: its list is of {doc.get('component')!r}, not {name}"
    root = store / cid
    if not root.is_dir():
        return f"{cid[:12]}: its directory is missing"
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    for path in sorted(present - files.keys()):
        return f"{cid[:12]}: {path} is not listed"
    for path, (size, digest) in sorted(files.items()):
        content = _read(root / path)
        if content is None:
            return f"{cid[:12]}: {path} is missing"
        if len(content) != size or sha256(content) != digest:
            return f"{cid[:12]}: {path} differs from its list (size {len(content)}, {size} listed)"
    return None


def lies(data: Path) -> list[str]:
    """Every valid completion record whose directory does not match its list."""
    store = data / "store"
    if not store.is_dir():
        return []
    problems = []
    for path in sorted(store.glob("*.complete")):
        cid = path.name.removesuffix(".complete")
        record = unseal(_read(path) or b"")
        if record is None or record.get("component") != cid:
            continue
        wrong = _files_problem(data, cid, None)
        if wrong is not None:
            problems.append(f"completion record lies: {wrong}")
    return problems


def cd_components(cd: Path) -> dict[str, str]:
    """The CD-ROM release's component ids by name (its release.json)."""
    doc = json.loads((cd / "release.json").read_bytes())
    return {str(k): str(v) for k, v in doc["components"].items()}


def component_names(platform: str) -> tuple[str, ...]:
    """What a start on ``platform`` runs (docs/format-1.md, "Components")."""
    return ("app", f"deps-{platform}", f"firefox-{platform}", "profile", "trust")


def release_problems(
    data: Path, cd: Path, rid: str, platform: str, version: str | None = None
) -> list[str]:
    """What keeps release ``rid`` from starting whole on ``platform`` (empty: nothing)."""
    if rid == CD:
        return []
    record = _read(data / "releases" / f"{rid}.json")
    if record is None or sha256(record) != rid:
        return [f"release {rid[:12]}: its record is missing or does not hash to its id"]
    try:
        doc = json.loads(record)
        components = doc["components"]
    except (ValueError, KeyError, TypeError):
        return [f"release {rid[:12]}: its record does not parse"]
    problems = []
    if version is not None and doc.get("version") != version:
        problems.append(f"release {rid[:12]} is version {doc.get('version')}, not {version}")
    on_cd = cd_components(cd)
    for name in component_names(platform):
        cid = components.get(name)
        if not isinstance(cid, str):
            problems.append(f"release {rid[:12]} names no {name}")
        elif on_cd.get(name) != cid:
            wrong = _store_problem(data, cid, name)
            if wrong is not None:
                problems.append(f"release {rid[:12]}, {name}: {wrong}")
    return problems


def _collected_problems(data: Path, cd: Path, rid: str) -> list[str]:
    record = json.loads((data / "releases" / f"{rid}.json").read_bytes())
    keep = set(record["components"].values()) - set(cd_components(cd).values())
    store = data / "store"
    held = {p.name.lstrip(".").split(".")[0] for p in store.iterdir()} if store.is_dir() else set()
    problems = [f"store: {cid[:12]} not collected" for cid in sorted(held - keep)]
    releases = {p.name for p in (data / "releases").iterdir()}
    problems += [
        f"releases/{n} not collected" for n in sorted(releases - {f"{rid}.json", f"{rid}.sig"})
    ]
    return problems


def _state_problems(
    data: Path, cd: Path, state: State, pointer: Pointer | None, platform: str
) -> list[str]:
    problems = release_problems(data, cd, state.release, platform, state.version)
    if state.previous_whole and state.previous not in (None, CD):
        problems += [
            f"previous: {p}" for p in release_problems(data, cd, str(state.previous), platform)
        ]
    if state.collected and state.release != CD and not problems:
        problems += _collected_problems(data, cd, state.release)
    if state.starts is not None and pointer is not None:
        counted = len(_read(data / "boot" / str(pointer.seq)) or b"")
        if counted not in state.starts:
            problems.append(
                f"pointer {pointer.seq}: {counted} starts counted, {state.starts} allowed"
            )
    if state.report:
        try:
            report = json.loads((data / "boot" / "rollback.json").read_bytes())
        except (OSError, ValueError):
            report = None
        if not isinstance(report, dict) or report.get("from_release") != state.previous:
            problems.append(f"boot/rollback.json does not report the switch back: {report}")
    return problems


def check(
    data: Path,
    cd: Path,
    allowed: Sequence[State],
    platform: str = "linux",
    tolerated: Collection[str] = (),
) -> list[str]:
    """What is wrong with the data area ``data`` (empty: nothing), when it must be in one
    of the ``allowed`` states. ``tolerated``: lies the key told before the scenario (a
    damaged component), exactly as they were: a lie that changes is reported."""
    problems = [p for p in lies(data) if p not in tolerated]
    pointer = pointer_in_force(data)
    matching = [s for s in allowed if s.matches(pointer)]
    if not matching:
        return [*problems, f"pointer in force {pointer} is none of the allowed states"]
    found = [_state_problems(data, cd, s, pointer, platform) for s in matching]
    return problems + min(found, key=len)
