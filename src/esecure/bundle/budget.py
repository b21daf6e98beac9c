"""The data partition's size from the plan: a pure budget over the update components.

Updates reach the key as content-addressed **components** (docs/updates.md):

``app``                 the esecure package and ``product.json`` (``app/``)
``deps-<platform>``     third-party packages (``lib/<platform>/``)
``firefox-<platform>``  ``firefox/<platform>/``
``profile``             ``profile/``
``trust``               ``trust/``

The data area keeps a store in which each component version is written once; the
CD-ROM's own components are used by reference and cost nothing there. The budget rule:

1. every file costs its size rounded up to the 4 KiB cluster, and every folder one cluster;
2. in force: every component of every platform in ``[image] platforms`` replaced once in
   the store (the worst reachable state: any component may have been updated);
3. plus a new version of the largest component being written (staging) and its
   download (bounded by its size);
4. plus fixed allowances: live Firefox profile 64 MiB, logs 16 MiB, reports 8 MiB, pki
   1 MiB, TUF metadata + release records 8 MiB;
5. plus a margin of 10 %, then the FAT32 overhead (two FATs of 4 bytes per cluster,
   reserved sectors, data aligned to 1 MiB), rounded up to a whole MiB — and never
   below the smallest FAT32 volume with 4 KiB clusters (257 MiB).

No I/O: the sizes come in as (path, size) pairs of an application root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from esecure.bundle import fat32
from esecure_onkey.components import component_names as onkey_component_names
from esecure_onkey.components import mount
from esecure_onkey.layout import PLATFORMS

__all__ = [
    "ALLOWANCES",
    "RULE",
    "Allowance",
    "Budget",
    "ComponentSize",
    "Term",
    "component_names",
    "component_of",
    "component_sizes",
    "plan_budget",
]

CLUSTER = fat32.CLUSTER
MIB = fat32.MIB
MARGIN_PERCENT = 10
#: Every component name of format 1, for every platform (app, profile and trust once).
_NAMES = tuple(dict.fromkeys(n for p in PLATFORMS for n in onkey_component_names(p)))


@dataclass(frozen=True)
class Allowance:
    """A fixed part of the data area that no component accounts for."""

    name: str
    mib: int


ALLOWANCES: tuple[Allowance, ...] = (
    Allowance("live Firefox profile (profile/)", 64),
    Allowance("logs (logs/)", 16),
    Allowance("support reports (reports/)", 8),
    Allowance("key and certificate (pki/)", 1),
    Allowance("TUF metadata + release records (updates/)", 8),
)

RULE = (
    "every file rounded up to the 4 KiB cluster, plus one cluster per folder",
    "in force: every component of every platform replaced once in the store",
    "plus a new version of the largest component being written, and its download",
    "plus fixed allowances: profile 64, logs 16, reports 8, pki 1, TUF metadata 8 MiB",
    "plus 10 %, then FAT32 (2 FATs, reserved sectors, data on 1 MiB), in whole MiB",
)


def component_names(platforms: Iterable[str]) -> list[str]:
    """Every component a key of ``platforms`` runs, in a stable order."""
    plats = sorted(set(platforms))
    deps = [f"deps-{p}" for p in plats]
    return ["app", *deps, *(f"firefox-{p}" for p in plats), "profile", "trust"]


def component_of(path: str) -> tuple[str, str] | None:
    """(component, path inside it) of a path of an application root, or None for what no
    update carries (the bootstrap, its runtime, autorun, branding, guide, manifest, the
    release record and lists). Mounts are format 1's (:func:`esecure_onkey.components.mount`).
    """
    parts = PurePosixPath(path).parts
    for name in _NAMES:
        mounted = PurePosixPath(mount(name)).parts
        if len(parts) > len(mounted) and parts[: len(mounted)] == mounted:
            return name, "/".join(parts[len(mounted) :])
    return None


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _clusters(size: int) -> int:
    return -(-size // CLUSTER) * CLUSTER


@dataclass(frozen=True)
class ComponentSize:
    """One component version as the store holds it."""

    name: str
    files: int
    folders: int  # its own folder and every folder below it
    size: int  # bytes of its files
    on_disk: int  # files rounded up to clusters, plus one cluster per folder


def component_sizes(files: Iterable[tuple[str, int]]) -> dict[str, ComponentSize]:
    """The components of an application root from its (path, size) pairs.

    A file ``app`` gets from two platforms' ``lib/`` counts once, at the larger size.
    """
    by_component: dict[str, dict[str, int]] = {}
    for path, size in files:
        found = component_of(path)
        if found is None:
            continue
        name, inside = found
        seen = by_component.setdefault(name, {})
        seen[inside] = max(size, seen.get(inside, 0))
    out = {}
    for name, members in sorted(by_component.items()):
        folders = {str(PurePosixPath(p).parent) for p in members}
        folders |= {str(a) for f in list(folders) for a in PurePosixPath(f).parents}
        folders.add(".")  # the component version's own folder
        out[name] = ComponentSize(
            name=name,
            files=len(members),
            folders=len(folders),
            size=sum(members.values()),
            on_disk=sum(_clusters(s) for s in members.values()) + CLUSTER * len(folders),
        )
    return out


@dataclass(frozen=True)
class Term:
    """One line of the budget."""

    label: str
    size: int  # bytes

    @property
    def mib(self) -> float:
        """The term in MiB."""
        return self.size / MIB


@dataclass(frozen=True)
class Budget:
    """The data partition's budget: its terms, in order (they add up to the minimum), the
    components behind the first one, and the minimum in whole MiB."""

    platforms: tuple[str, ...]
    components: tuple[ComponentSize, ...]
    largest: str | None
    terms: tuple[Term, ...]
    minimum_mib: int

    def lines(self) -> list[str]:
        """The budget as printed: the rule, one line per term (the components under the
        first), the minimum."""
        rows: list[tuple[str, float]] = []
        for i, term in enumerate(self.terms):
            rows.append((term.label, term.mib))
            if i == 0:
                rows.extend(
                    (
                        f"  {c.name} ({_count(c.files, 'file')}, {_count(c.folders, 'folder')})",
                        c.on_disk / MIB,
                    )
                    for c in self.components
                )
        width = max(len(label) for label, _ in rows)
        out = ["data partition budget, by this rule:"]
        out.extend(f"  {n}. {step}" for n, step in enumerate(RULE, start=1))
        out.extend(f"  {label:<{width}}  {mib:>9.1f} MiB" for label, mib in rows)
        out.append(f"  {'minimum':<{width}}  {self.minimum_mib:>9} MiB")
        return out

    def as_dict(self) -> dict[str, object]:
        """What build-report.json records."""
        return {
            "rule": list(RULE),
            "platforms": list(self.platforms),
            "components": {
                c.name: {
                    "files": c.files,
                    "folders": c.folders,
                    "size": c.size,
                    "on_disk": c.on_disk,
                }
                for c in self.components
            },
            "largest": self.largest,
            "terms": [{"term": t.label, "bytes": t.size} for t in self.terms],
            "minimum_mib": self.minimum_mib,
        }


def _smallest_volume(data_bytes: int) -> int:
    """The fewest whole MiB whose FAT32 layout has clusters for ``data_bytes``."""
    size = max(1, -(-data_bytes // MIB))
    while fat32.layout(size).data_bytes < data_bytes:
        size += 1
    return size


def plan_budget(
    components: Mapping[str, ComponentSize],
    platforms: Sequence[str],
    allowances: Sequence[Allowance] = ALLOWANCES,
) -> Budget:
    """The budget of a key carrying ``platforms`` (see the module's rule).

    A component of the plan absent from ``components`` costs nothing: `esecure check`
    passes what it can size without a build, and gets a lower bound.
    """
    present = [components[n] for n in component_names(platforms) if n in components]
    largest = max(present, key=lambda c: (c.on_disk, c.name), default=None)
    in_force = sum(c.on_disk for c in present)
    staging = largest.on_disk if largest is not None else 0
    download = _clusters(largest.size) if largest is not None else 0
    name = largest.name if largest is not None else "component"
    plats = ", ".join(sorted(set(platforms)))
    terms = [
        Term(f"in force: every component of {plats} replaced once", in_force),
        Term(f"staging: a new {name} being written", staging),
        Term(f"download of that {name} (at most its size)", download),
        *(Term(a.name, a.mib * MIB) for a in allowances),
    ]
    subtotal = sum(t.size for t in terms)
    margin = -(-subtotal * MARGIN_PERCENT // 100)
    terms.append(Term(f"margin {MARGIN_PERCENT} %", margin))
    size = _smallest_volume(subtotal + margin)
    terms.append(
        Term(
            "FAT32: 2 FATs, reserved sectors, data on 1 MiB, whole MiB",
            size * MIB - subtotal - margin,
        )
    )
    floor = fat32.smallest_mib()
    if size < floor:
        terms.append(
            Term(f"raised to the smallest FAT32 volume ({floor} MiB)", (floor - size) * MIB)
        )
        size = floor
    return Budget(
        platforms=tuple(sorted(set(platforms))),
        components=tuple(present),
        largest=largest.name if largest is not None else None,
        terms=tuple(terms),
        minimum_mib=size,
    )
