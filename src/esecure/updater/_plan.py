"""Which release a key takes, and what it must download for it: pure decisions over the
verified targets metadata (no I/O; the client fetches, then asks here).

Targets of a product (docs/format-1.md, "The channel"): ``<id>-<v>.release`` and its
``.sig``, and per component version ``<id>-c-<cid>.list``, ``.list.sig``, ``.tar.gz`` and
``.from-<base>.patch``; custom metadata under ``esecure``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tuf.api.metadata import TargetFile  # type: ignore[attr-defined]  # re-exported without __all__

from esecure.updater._security import safe_name
from esecure_onkey.versions import Version, version_key

__all__ = [
    "FALLBACK_RATIO",
    "ComponentPlan",
    "Offer",
    "ReleaseTargets",
    "choose_release",
    "releases_of",
    "tar_cap",
]

FALLBACK_RATIO = 64  # uncompressed cap for archives signed without tar_size
RELEASE, SIGNATURE = ".release", ".sig"


def _custom(target: TargetFile) -> dict[str, Any]:
    value = (target.custom or {}).get("esecure")
    return value if isinstance(value, dict) else {}


def tar_cap(target: TargetFile) -> int:
    """The signed uncompressed size of an archive, else a generous multiple of its length."""
    size = _custom(target).get("tar_size")
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        return size
    return max(FALLBACK_RATIO * target.length, 64 * 1024 * 1024)


@dataclass(frozen=True)
class ReleaseTargets:
    """One published release: its record and signature as the signed targets list them."""

    version: Version
    required: bool
    record: TargetFile
    signature: TargetFile


@dataclass(frozen=True)
class ComponentPlan:
    """One component the release needs and this key lacks: what to download for it."""

    name: str
    id: str
    listed: TargetFile  # c-<id>.list
    signature: TargetFile  # c-<id>.list.sig
    archive: TargetFile  # c-<id>.tar.gz (also the fallback of a patch that does not apply)
    patch: TargetFile | None  # c-<id>.from-<base>.patch, when published for this key's base
    base: str | None  # the running release's version of this component (the patch's base)

    @property
    def download_size(self) -> int:
        """Bytes to download for it: list, signature, then the patch or the archive."""
        body = self.patch if self.patch is not None else self.archive
        return self.listed.length + self.signature.length + body.length

    @property
    def install_size(self) -> int:
        """About what it writes on the key: its archive's signed uncompressed size."""
        return tar_cap(self.archive)


@dataclass(frozen=True)
class Offer:
    """What the launcher offers the user, and the verified plan behind it."""

    current: str
    version: str
    required: bool
    release: str  # the release id: SHA-256 of its record
    record: bytes = field(repr=False)  # verified: TUF, then the CD-ROM's image key
    signature: bytes = field(repr=False)
    running: str  # the release that runs now ("cd" or an id): the patches' base
    components: tuple[ComponentPlan, ...]

    @property
    def download_size(self) -> int:
        """Bytes to download."""
        return sum(c.download_size for c in self.components)

    @property
    def install_size(self) -> int:
        """About the bytes the install writes on the key."""
        return sum(c.install_size for c in self.components)

    @property
    def use_patch(self) -> bool:
        """Whether some component comes as a patch."""
        return any(c.patch is not None for c in self.components)


def releases_of(targets: dict[str, TargetFile], app: str) -> list[ReleaseTargets]:
    """The releases of ``app`` the signed targets list, oldest first. Every target name of
    the product must be able to be a file name (ES511: a version may carry spaces, tabs
    or a newline); a release outside the version grammar is not offered."""
    prefix = f"{app}-"
    found: dict[Version, ReleaseTargets] = {}
    for name, info in targets.items():
        if not name.startswith(prefix):
            continue
        safe_name(name, "release file")
        if not name.endswith(RELEASE):
            continue
        text = name[len(prefix) : -len(RELEASE)]
        key = version_key(text)
        signature = targets.get(name + SIGNATURE)
        if key is None or signature is None:  # no key's bootstrap could run it
            continue
        version = Version(key, text)
        found[version] = ReleaseTargets(
            version, bool(_custom(info).get("required")), info, signature
        )
    return [found[v] for v in sorted(found)]


def choose_release(releases: list[ReleaseTargets], current: Version) -> ReleaseTargets | None:
    """The next version to install: the oldest required one above current, else the newest."""
    newer = [r for r in releases if r.version > current]
    if not newer:
        return None
    required = [r for r in newer if r.required]
    return required[0] if required else newer[-1]
