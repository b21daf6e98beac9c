"""Reading the component store: may this release run, and from which directories? Reads only.

The decisions the bootstrap makes at every start, before anything of a release is
imported (the updater and diagnostics ask the same questions):

1. the release record's bytes hash to the id the pointer names, and carry a valid
   signature by the image-signing key on the CD-ROM (never a key from the data area);
2. it is of this product, and of a version not lower than the CD-ROM's release (a
   genuine but older release copied into the data area does not run);
3. each component the platform runs is either the CD-ROM's own version (same id: used in
   place, by reference) or a complete version in the store: its completion record, its
   file list hashing to the id the release names, no file it does not list (outside
   Firefox), every listed file of the listed size, and the full SHA-256 of what
   :func:`esecure_onkey.layout.hashed_at_start` names (everything the launcher's process
   loads or trusts; ``full`` hashes every file, for diagnostics).

What a completion record says is only that an install finished: its checksum can be
recomputed by anyone who can write the data area; the signature and the ids decide.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from esecure_onkey.components import (
    ComponentList,
    ReleaseRecord,
    component_names,
    decode_component_list,
    decode_release,
    digest,
    is_id,
    mount,
)
from esecure_onkey.ed25519 import check_signature
from esecure_onkey.layout import (
    CD,
    CD_RELEASE,
    IMAGE_KEY,
    component_dir,
    component_file,
    hashed_at_start,
    release_file,
)
from esecure_onkey.records import decode_component_completion
from esecure_onkey.versions import version_key

__all__ = ["Resolved", "cd_release", "check_component", "read_release", "resolve", "sha256_file"]


@dataclass(frozen=True)
class Resolved:
    """A release that may run: its id ("cd" for the CD-ROM's), version and directories."""

    release: str
    version: str
    dirs: Mapping[str, Path]  # component name -> the directory holding its files
    record: ReleaseRecord


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def cd_release(cd: Path) -> ReleaseRecord | str:
    """The CD-ROM's own release record (trusted by where it is: the read-only medium the
    self-check covers), or why it cannot be read."""
    data = _read(cd / CD_RELEASE)
    if data is None:
        return f"the CD-ROM has no readable {CD_RELEASE}"
    try:
        return decode_release(data)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return f"the CD-ROM's {CD_RELEASE} is malformed ({exc})"


def cd_resolved(cd: Path, record: ReleaseRecord, platform: str) -> Resolved:
    """The CD-ROM's release: every component in its own directory."""
    dirs = {name: cd / mount(name) for name in component_names(platform)}
    return Resolved(CD, record.version, dirs, record)


def read_release(  # noqa: PLR0911 - one reason per return, in check order
    data_dir: Path, rid: str, cd: Path, floor: ReleaseRecord
) -> ReleaseRecord | str:
    """Release ``rid`` from the data area when its bytes, signature, product and version
    hold (steps 1 and 2), else why not."""
    if not is_id(rid):
        return f"{rid!r} is not a release id"
    data = _read(release_file(data_dir, rid, ".json"))
    signature = _read(release_file(data_dir, rid, ".sig"))
    if data is None or signature is None:
        return f"release {rid[:12]} is not in the data area"
    if digest(data) != rid:
        return f"release {rid[:12]}: its record does not hash to its id"
    pem = _read(cd / IMAGE_KEY)
    if pem is None:
        return f"the CD-ROM has no {IMAGE_KEY} to check updates with"
    why = check_signature(data, signature, pem, f"release {rid[:12]}")
    if why:
        return why
    try:
        record = decode_release(data)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return f"release {rid[:12]} is signed but malformed ({exc})"
    if record.product != floor.product:
        return f"release {rid[:12]} is of product {record.product!r}, not {floor.product!r}"
    mine, theirs = version_key(record.version), version_key(floor.version)
    if mine is None or theirs is None or mine < theirs:
        return f"version {record.version} is older than the CD-ROM's {floor.version}"
    return record


def _unlisted(root: Path, files: Mapping[str, tuple[int, str]]) -> str:
    """The first file under ``root`` the list does not name, a symbolic link, or ""."""
    for directory, dirs, names in os.walk(root):
        base = Path(directory)
        for name in sorted([*dirs, *names]):
            path = base / name
            if path.is_symlink():
                return f"{path.relative_to(root).as_posix()} is a symbolic link"
            if name in names and path.relative_to(root).as_posix() not in files:
                return f"{path.relative_to(root).as_posix()} is not in the signed list"
    return ""


def check_component(  # noqa: PLR0911 - one reason per return, in check order
    data_dir: Path, name: str, cid: str, platform: str, *, full: bool = False
) -> ComponentList | str:
    """Component version ``cid`` of the store, when complete and matching its list
    (step 3); else why not."""
    where = f"{name} {cid[:12]}"
    record = decode_component_completion(_read(component_file(data_dir, cid, ".complete")) or b"")
    if record != cid:
        return f"{where} is not completely installed"
    data = _read(component_file(data_dir, cid, ".list"))
    if data is None or digest(data) != cid:
        return f"{where}: its file list does not hash to its id"
    try:
        listed = decode_component_list(data)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return f"{where}: malformed file list ({exc})"
    if listed.component != name:
        return f"{where} is a {listed.component} component, not {name}"
    root = component_dir(data_dir, cid)
    if not root.is_dir():
        return f"{where} is missing"
    prefix = mount(name) + "/"
    if not name.startswith("firefox-"):
        why = _unlisted(root, listed.files)
        if why:
            return f"{where}: {why}"
    for path, (size, sha256) in listed.files.items():
        file = root / path
        try:
            actual = file.stat().st_size
        except OSError:
            return f"{where}: {path} is missing"
        if actual != size:
            return f"{where}: {path} has {actual} bytes, the signed list says {size}"
        if (full or hashed_at_start(prefix + path, platform)) and sha256_file(file) != sha256:
            return f"{where}: {path} differs from the signed list"
    return listed


def resolve(
    data_dir: Path, rid: str, cd: Path, platform: str, *, full: bool = False
) -> Resolved | str:
    """Release ``rid`` with the directory of each component ``platform`` runs, when it may
    run (steps 1 to 3); else why not. ``rid`` "cd" is the CD-ROM's release."""
    floor = cd_release(cd)
    if isinstance(floor, str):
        return floor
    if rid == CD:
        return cd_resolved(cd, floor, platform)
    record = read_release(data_dir, rid, cd, floor)
    if isinstance(record, str):
        return record
    dirs: dict[str, Path] = {}
    for name in component_names(platform):
        cid = record.components.get(name)
        if cid is None:
            return f"version {record.version} has no {name} component"
        if floor.components.get(name) == cid:
            dirs[name] = cd / mount(name)  # the CD-ROM's own version: used in place
            continue
        checked = check_component(data_dir, name, cid, platform, full=full)
        if isinstance(checked, str):
            return f"version {record.version}: {checked}"
        dirs[name] = component_dir(data_dir, cid)
    return Resolved(rid, record.version, dirs, record)
