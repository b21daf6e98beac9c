"""The publishing side of a release (format 1): an application root split into its
components by mount, each component's file list, the release record, and the bases of
the patches. Decisions over names and bytes; the files are read streaming.

An application root (the CD-ROM's layout, docs/format-1.md)::

    app/  lib/<p>/  firefox/<p>/  profile/  trust/

Anything else at its top (a CD-ROM's bootstrap, runtime, autorun, MANIFEST...) is not part
of any component: it is left out, and named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from esecure.bundle.tree import hash_file, walk_files
from esecure.errors import UpdateSecurityError, UsageError
from esecure.updater._container import Gunzip, apply_archive
from esecure.updater._security import safe_name
from esecure_onkey.components import (
    KINDS,
    ComponentList,
    decode_component_list,
    digest,
    encode_component_list,
    mount,
)
from esecure_onkey.filelist import check_path
from esecure_onkey.layout import PLATFORMS

__all__ = ["Component", "extract_archive", "left_out", "read_list", "split_components"]

Sign = Callable[[bytes], bytes]
Files = Mapping[str, tuple[int, str]]


@dataclass(frozen=True)
class Component:
    """One component of the application root: where its files are, and its list."""

    name: str
    root: Path
    files: dict[str, tuple[int, str]]
    listed: bytes  # the list's bytes: its SHA-256 is the component's id

    @property
    def id(self) -> str:
        """The component's id."""
        return digest(self.listed)

    @property
    def size(self) -> int:
        """Bytes of its files."""
        return sum(size for size, _sha in self.files.values())


def _names() -> list[str]:
    names: list[str] = []
    for kind in KINDS:
        if kind in ("deps", "firefox"):
            names.extend(f"{kind}-{p}" for p in PLATFORMS)
        else:
            names.append(kind)
    return names


def _check_names(name: str, paths: list[str]) -> None:
    """Every path a key's FAT can hold, on every system (each part a safe file name), and
    no two that FAT would take for one (it ignores case)."""
    seen: dict[str, str] = {}
    for path in paths:
        check_path(path)
        for part in path.split("/"):
            safe_name(part, f"{name}: {path}:")
        folded = path.casefold()
        if folded in seen:
            raise ValueError(f"{name}: {seen[folded]} and {path} are one file on FAT")
        seen[folded] = path


def split_components(bundle: Path) -> dict[str, Component]:
    """Every component ``bundle`` holds (a directory at its mount), by name; ES953 for a
    symbolic link, a name no key can hold, or two names FAT takes for one."""
    out: dict[str, Component] = {}
    for name in _names():
        root = bundle / mount(name)
        if not root.is_dir():
            continue
        try:
            paths = walk_files(root)
            _check_names(name, paths)
        except (ValueError, TypeError, UpdateSecurityError) as exc:
            detail = exc.detail if isinstance(exc, UpdateSecurityError) else str(exc)
            raise UsageError(
                f"{detail}: copy the target in (cp -rL) and rename such files before publishing",
                code="ES953",
            ) from None
        files = {p: ((root / p).stat().st_size, hash_file(root / p)) for p in paths}
        out[name] = Component(name, root, files, encode_component_list(name, files))
    return out


def left_out(bundle: Path) -> list[str]:
    """Top-level entries of ``bundle`` that belong to no component."""
    mounts = {mount(n).split("/", 1)[0] for n in _names()}
    top = sorted(p.name for p in bundle.iterdir())
    inside = [n for n in top if n not in mounts]
    for first in ("lib", "firefox"):
        if (bundle / first).is_dir():
            inside += [
                f"{first}/{p.name}"
                for p in sorted((bundle / first).iterdir())
                if p.name not in PLATFORMS
            ]
    return inside


def read_list(path: Path, cid: str) -> ComponentList | None:
    """A published component list, when it is the one of ``cid``."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if digest(data) != cid:
        return None
    return decode_component_list(data)


def extract_archive(archive: Path, cap: int, files: Files, dest: Path) -> None:
    """A published full archive into ``dest``, streaming and checked against its list
    (the base of a patch: a Firefox is never held in memory)."""

    def write(path: str, chunks: Iterator[bytes]) -> None:
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as f:
            for chunk in chunks:
                f.write(chunk)

    with archive.open("rb") as raw:
        apply_archive(Gunzip(raw, cap), files, write)
