"""The launcher's self-check at every start: is this key what the bank signed? (seed row E1)

Sized for a start over USB 2: the manifest's signature, every listed file's presence and
size, and full SHA-256 of what :func:`esecure_onkey.layout.hashed_at_start` names — the
same rule as the bootstrap's start check: everything that runs or is trusted on this
platform (bootstrap, runtime, lib/, trust/, product.json, the profile template, autorun,
guide) and, of Firefox, its distribution/ (policies, CA) and the NSS libraries the
launcher loads — not Firefox's large binaries, which ``esecure verify`` and diagnostics
hash in full, nor what only another platform runs.

The decision is :mod:`esecure.bundle.manifest`'s (the same code as ``esecure verify``);
this module only reads. A changed file (size, content), an unlisted one or a bad
signature is ES101 (E1, "the key is damaged"). Files that are only missing or cannot be
opened while every other one matches are ES102 (E4): what an antivirus leaves when it
quarantines files (they vanish) or blocks them (opening fails: access denied, a sharing
violation while it scans, "contains a virus"). Both name the files. The public key
checked against is the one in trust/ on the read-only medium: the self-check detects
damage and tampering of a copy, while a forger able to write a whole medium is answered
by ``esecure verify`` with the project's own key and by the server refusing unknown
serials.

When the bootstrap started a release from the data area's component store, the launcher
checks it too, with the bootstrap's own rules (:func:`esecure_onkey.store.resolve`: the
release record signed by the key on the CD-ROM, each store component complete and
matching its signed list, what runs hashed in full): the application actually running,
not only the CD-ROM. Its components that are the CD-ROM's own are covered by the CD-ROM's
manifest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from esecure.bundle.manifest import (
    MANIFEST_NAME,
    PUBLIC_KEY_PATH,
    SIGNATURE_NAME,
    compare,
    manifest_of,
)
from esecure.bundle.tree import observe
from esecure.errors import IntegrityError, StorageError
from esecure.launcher.hostpolicy import (
    GPO_KEY,
    RegistryTree,
    Weakening,
    gpo_policies,
    read_linux_host_policies,
    weakenings,
)
from esecure_onkey.filelist import verify_file_list
from esecure_onkey.layout import hashed_at_start
from esecure_onkey.store import Resolved, resolve

if TYPE_CHECKING:
    from esecure_onkey.boot import Choice

__all__ = [
    "Depth",
    "RunningRelease",
    "SelfCheck",
    "check_running_release",
    "host_policy_weakenings",
    "read_windows_group_policies",
    "self_check",
]

_MAX_NAMED = 5
_BLOCKED = frozenset({"missing", "unreadable"})  # what a quarantine leaves (ES102)
Depth = Literal["sizes", "start", "full"]


@dataclass(frozen=True)
class SelfCheck:
    """A passed self-check: how much it covered and how long it took."""

    files: int
    hashed: int
    seconds: float


def _read(root: Path, name: str) -> bytes:
    try:
        return (root / name).read_bytes()
    except FileNotFoundError:
        raise IntegrityError(f"self-check: {name} is missing", code="ES101") from None
    except OSError as exc:
        raise StorageError(
            f"self-check: {name} cannot be opened ({exc.strerror or exc})", code="ES102"
        ) from None


def _hashed(depth: Depth, platform: str) -> Callable[[str], bool]:
    if depth == "sizes":
        return lambda _path: False
    if depth == "full":
        return lambda _path: True
    return lambda path: hashed_at_start(path, platform)


def self_check(root: Path, *, platform: str, depth: Depth = "start") -> SelfCheck:
    """Check the CD-ROM at ``root`` against its signed manifest; raise ES101/ES102 naming
    the culprit file(s).

    ``depth``: "sizes" — the signature, every file's presence and size, nothing hashed
    (the start-up flow's critical path: the CD-ROM is read-only, see docs/threat-model.md
    T13); "start" — and full hashes of what :func:`hashed_at_start` names (``--self-check``);
    "full" — every file hashed (the flow's background check once the site is open, and
    diagnostics)."""
    start = time.perf_counter()
    data = _read(root, MANIFEST_NAME)
    signature = _read(root, SIGNATURE_NAME)
    public_key = _read(root, PUBLIC_KEY_PATH)
    listed = verify_file_list(data, signature, public_key)  # the bootstrap's own verifier
    if isinstance(listed, str):
        raise IntegrityError(f"self-check: {listed}", code="ES101")
    manifest = manifest_of(listed)
    observed = observe(root, manifest, _hashed(depth, platform))
    mismatches = compare(manifest, observed)
    if mismatches:
        named = "; ".join(m.render() for m in mismatches[:_MAX_NAMED])
        more = len(mismatches) - _MAX_NAMED
        rest = f" (and {more} more)" if more > 0 else ""
        if all(m.problem in _BLOCKED for m in mismatches):
            raise StorageError(
                f"self-check: {len(mismatches)} file(s) missing or blocked, every other file "
                f"as signed (what an antivirus quarantine leaves): {named}{rest}",
                code="ES102",
            )
        raise IntegrityError(f"self-check: {named}{rest}", code="ES101")
    hashed = sum(1 for o in observed.values() if o.sha256 is not None)
    return SelfCheck(len(manifest.files), hashed, time.perf_counter() - start)


@dataclass(frozen=True)
class RunningRelease:
    """A release from the data area that passed the bootstrap's checks again."""

    release: str
    version: str
    from_store: tuple[str, ...]  # component names whose files are in the data area
    from_cd: tuple[str, ...]  # component names run from the CD-ROM (by reference)
    seconds: float

    def render(self) -> str:
        """One line for the self-check's output."""
        cd = f"; {', '.join(self.from_cd)} from the CD-ROM" if self.from_cd else ""
        return (
            f"version {self.version} from the data area (release {self.release[:12]}): ok "
            f"({', '.join(self.from_store)} from the store{cd}; "
            f"{self.seconds * 1000:.0f} ms)"
        )


def check_running_release(choice: Choice, *, full: bool = False) -> RunningRelease:
    """Check the release the bootstrap started from the data area as the bootstrap does
    (``full``: hash every file, for diagnostics); raise ES101 naming what fails.

    The public key is the CD-ROM's (never one from the data area). The release must still
    resolve to the directories that are running.
    """
    start = time.perf_counter()
    if choice.data_dir is None:
        raise IntegrityError(
            f"self-check: release {choice.release[:12]} runs from a data area that is gone",
            code="ES101",
        )
    resolved = resolve(choice.data_dir, choice.release, choice.cd, choice.platform, full=full)
    if not isinstance(resolved, Resolved):
        raise IntegrityError(f"self-check: {resolved}", code="ES101")
    if dict(resolved.dirs) != dict(choice.dirs):
        raise IntegrityError(
            f"self-check: release {choice.release[:12]} is not the one that started",
            code="ES101",
        )
    from_store = tuple(n for n, d in resolved.dirs.items() if not _inside(d, choice.cd))
    from_cd = tuple(n for n in resolved.dirs if n not in from_store)
    return RunningRelease(
        resolved.release, resolved.version, from_store, from_cd, time.perf_counter() - start
    )


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def host_policy_weakenings(
    firefox: Path, platform: str, host_policies: dict[str, Any] | None = None
) -> list[Weakening]:
    """What the host's Firefox policies would change about those of the running Firefox
    (its directory: ``firefox``) — Linux: replace, Windows: merge."""
    import json  # noqa: PLC0415

    key_file = firefox / "distribution" / "policies.json"
    try:
        key = json.loads(key_file.read_bytes())["policies"]
    except (OSError, ValueError, KeyError):
        return []  # the self-check reports a broken key file; nothing to compare here
    if platform == "linux":
        host = read_linux_host_policies() if host_policies is None else host_policies
        return weakenings(key, host, "replace")
    host = read_windows_group_policies() if host_policies is None else host_policies
    return weakenings(key, host, "merge")


_MAX_ENTRIES = 10_000  # bounds every registry enumeration


def read_windows_group_policies() -> dict[str, Any] | None:
    """Firefox's Group Policy on this Windows host (HKLM over HKCU); None elsewhere."""
    import importlib  # noqa: PLC0415
    import sys  # noqa: PLC0415

    host: str = sys.platform  # a plain str: mypy would prune the Windows branch otherwise
    if not host.startswith("win"):
        return None
    winreg: Any = importlib.import_module("winreg")  # pragma: no cover - Windows only

    def read(root: Any, path: str, depth: int = 0) -> RegistryTree | None:  # noqa: ANN401  # pragma: no cover
        try:
            key = winreg.OpenKey(root, path)
        except OSError:
            return None
        with key:
            values: dict[str, object] = {}
            for i in range(_MAX_ENTRIES):
                try:
                    name, data, _kind = winreg.EnumValue(key, i)
                except OSError:
                    break
                values[name] = data
            subkeys: dict[str, RegistryTree] = {}
            for i in range(_MAX_ENTRIES if depth < 8 else 0):
                try:
                    sub = winreg.EnumKey(key, i)
                except OSError:
                    break
                tree = read(root, f"{path}\\{sub}", depth + 1)
                if tree is not None:
                    subkeys[sub] = tree
        return values, subkeys

    found = gpo_policies(  # pragma: no cover - Windows only
        read(winreg.HKEY_LOCAL_MACHINE, GPO_KEY), read(winreg.HKEY_CURRENT_USER, GPO_KEY)
    )
    return found or None  # pragma: no cover - Windows only
