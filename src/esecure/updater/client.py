"""The client side: check, download (patch or full archive), verify, install, switch.

Built on python-tuf's ngclient (the ``tuf`` package tufup installs) rather than on
``tufup.client``: tufup hides security failures as "no update", re-compresses every
patched archive with gzip -9, and installs over the live directory (raising on Linux).
See docs/updates.md.

Trusted metadata is kept as the TUF client workflow says: each file as soon as it is
verified (5.3.8 root, 5.4.5 timestamp, 5.5.7 snapshot, 5.6.6 targets), also when a later
step fails, so a newer root (and the keys it revoked) and the newer versions already seen
are never forgotten. python-tuf's Updater verifies, in a work directory; before each of
its requests and when its refresh ends, whichever way, what it wrote there (only ever
verified metadata) is written into ``updates/metadata/`` through :class:`Disk`
(temporary file, fsync, rename, fsync of the directory). python-tuf 4.0 writes its own
directory by a rename without fsync, which a power cut on FAT can leave torn (a torn
root.json would stop every later check), and through a private method only.

The slots and the pointer change only after a whole verified release (``_install``);
``last-check.json`` only after a complete, successful refresh. Names from signed metadata
become file names or URL components only through ``_security.safe_name`` (ES511): the
trusted files have fixed names, and a target downloads to a fixed temporary name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tuf.api.metadata import (  # type: ignore[attr-defined]  # re-exported without __all__
    Metadata,
    Snapshot,
    TargetFile,
    Targets,
)
from tuf.ngclient.updater import Updater

from esecure.errors import StorageError, UpdateError, UpdateSecurityError
from esecure.updater import _install
from esecure.updater._disk import Checkpoints, Disk
from esecure.updater._fetch import Fetcher
from esecure.updater._security import check_names, classify, safe_name
from esecure.updater._zstd import apply_patch
from esecure_onkey.boot import read_pointer
from esecure_onkey.versions import Version, parse_version, version_key

__all__ = [
    "Offer",
    "Release",
    "UpdateClient",
    "cluster_size",
    "confirm_started",
    "install_footprint",
    "last_check",
    "mark_good",
]

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
ARCHIVE, PATCH = ".tar.gz", ".patch"
mark_good = _install.mark_good
MIN_SPEED = 64 * 1024  # bytes/s: below this for a whole file, the download is abandoned
FALLBACK_RATIO = 64  # uncompressed cap for archives signed without tar_size (older releases)
TRUSTED_FILES = (  # fixed names, in the order the workflow verifies and keeps them
    "root.json",  # 5.3.8: each newer root, once verified (5.3.9: repeat)
    "timestamp.json",  # 5.4.5
    "snapshot.json",  # 5.5.7
    "targets.json",  # 5.6.6
)
DOWNLOAD_NAME = "target.part"  # every target downloads to this name, never to its own
DEFAULT_CLUSTER = 4096  # the data partition `esecure build` makes (FAT32, 4 KiB clusters)
MB = 1_000_000


def _tar_cap(target: TargetFile) -> int:
    """The signed uncompressed size of an archive, else a generous multiple of its length."""
    size = ((target.custom or {}).get("tufup") or {}).get("tar_size")
    if isinstance(size, int) and size >= 0:
        return size
    return max(FALLBACK_RATIO * target.length, 64 * 1024 * 1024)


def gunzip_capped(data: bytes, cap: int, name: str) -> bytes:
    """Decompress a gzip archive, streaming, refusing more than ``cap`` bytes (ES507) or a
    stream that is not gzip or ends early (ES506)."""
    inflater = zlib.decompressobj(wbits=31)
    parts: list[bytes] = []
    total = 0
    pending = data
    try:
        while not inflater.eof:
            piece = inflater.decompress(pending, cap + 1 - total)
            pending = inflater.unconsumed_tail
            if not piece and not pending:
                break  # no more input: truncated
            total += len(piece)
            parts.append(piece)
            if total > cap:
                raise UpdateSecurityError(
                    f"{name} decompresses to more than its signed {cap} bytes", code="ES507"
                )
    except zlib.error as exc:  # signed but not a gzip: a broken release
        raise UpdateSecurityError(f"{name} is not a gzip archive", code="ES506") from exc
    if not inflater.eof:
        raise UpdateSecurityError(f"{name} is a truncated gzip archive", code="ES506")
    return b"".join(parts)


def install_footprint(tar_bytes: bytes, cluster: int) -> int:
    """Bytes an installation of ``tar_bytes`` writes on a file system of ``cluster``-byte
    clusters: every file of the archive rounded up to the cluster, one cluster per folder
    (the slot's own included), and the archive itself, kept as the next patch's base
    (``_install``: staging, then ``updates/cache/``). A stream that is not a tar archive is
    a broken release (ES506)."""

    def up(size: int) -> int:
        return -(-size // cluster) * cluster

    folders = {PurePosixPath(".")}
    files = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            for member in tar.getmembers():
                path = PurePosixPath(*(p for p in PurePosixPath(member.name).parts if p != "."))
                if member.isdir():
                    folders.add(path)
                    folders.update(path.parents)
                elif member.isfile():
                    files += up(member.size)
                    folders.update(path.parents)
    except tarfile.TarError as exc:
        raise UpdateSecurityError(f"the update is not a tar archive ({exc})", code="ES506") from exc
    return files + cluster * len(folders) + up(len(tar_bytes))


def cluster_size(directory: Path) -> int:
    """The allocation unit of the file system holding ``directory`` (statvfs f_frsize);
    4 KiB where the OS has no statvfs (Windows), the cluster of the partition the build
    makes."""
    statvfs = getattr(os, "statvfs", None)
    if statvfs is None:  # pragma: no cover - Windows
        return DEFAULT_CLUSTER
    return int(statvfs(directory).f_frsize) or DEFAULT_CLUSTER


def confirm_started(data_dir: Path, checkpoints: Checkpoints | None = None) -> bool:
    """The new version reached its UI: mark it good (the bootstrap stops counting starts)."""
    cp = checkpoints or Checkpoints()
    cp("first-start.app-running")
    done = mark_good(data_dir)
    cp("first-start.marked-good")
    return done


@dataclass(frozen=True)
class Release:
    """One published version, as the signed targets metadata describes it."""

    version: Version
    required: bool
    archive: TargetFile
    patch: TargetFile | None


@dataclass(frozen=True)
class Offer:
    """What the launcher offers the user: a version, its download size, whether it can wait."""

    current: str
    version: str
    required: bool
    download_size: int
    use_patch: bool
    chain: tuple[Release, ...]


def last_check(data_dir: Path) -> dt.datetime | None:
    """When the last successful check ended (for the maximum offline age)."""
    try:
        value = json.loads((data_dir / "updates" / "last-check.json").read_text())["at"]
        return dt.datetime.fromisoformat(value)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _releases(targets: dict[str, TargetFile], app: str) -> list[Release]:
    """The releases of ``app`` the signed targets list; a release file whose name cannot be
    a file name is refused (ES511: a version may carry spaces, tabs or a newline)."""
    prefix = f"{app}-"
    found: dict[Version, dict[str, TargetFile]] = {}
    for name, info in targets.items():
        for suffix in (ARCHIVE, PATCH):
            if name.startswith(prefix) and name.endswith(suffix):
                safe_name(name, "release file")
                key = version_key(name[len(prefix) : -len(suffix)])
                if key is None:  # outside the grammar: no key's bootstrap could run it
                    continue
                v = Version(key, name[len(prefix) : -len(suffix)])
                found.setdefault(v, {})[suffix] = info
    out = []
    for v, files in sorted(found.items()):
        if ARCHIVE in files:
            custom = (files[ARCHIVE].custom or {}).get("tufup") or {}
            out.append(Release(v, bool(custom.get("required")), files[ARCHIVE], files.get(PATCH)))
    return out


def choose_release(releases: list[Release], current: Version) -> Release | None:
    """The next version to install: the oldest required one above current, else the newest."""
    newer = [r for r in releases if r.version > current]
    if not newer:
        return None
    required = [r for r in newer if r.required]
    return required[0] if required else newer[-1]


def plan(releases: list[Release], current: Version, has_base: bool) -> Offer | None:
    """The offer: a patch chain when every step has a patch and it is smaller, else full."""
    target = choose_release(releases, current)
    if target is None:
        return None
    chain = tuple(r for r in releases if current < r.version <= target.version)
    patch_size = sum(r.patch.length for r in chain if r.patch is not None)
    use_patch = (
        has_base and all(r.patch is not None for r in chain) and patch_size < target.archive.length
    )
    return Offer(
        current=str(current),
        version=str(target.version),
        required=any(r.required for r in chain),
        download_size=patch_size if use_patch else target.archive.length,
        use_patch=use_patch,
        chain=chain,
    )


@contextlib.contextmanager
def _storage(doing: str) -> Iterator[None]:
    """An OSError of the data area (full, read-only, removed) as ES524: "could not update,
    the current version goes on", never a traceback."""
    try:
        yield
    except OSError as exc:
        raise StorageError(f"{doing} failed: {exc.strerror or exc}", code="ES524") from exc


class UpdateClient:
    """One update session against one repository, over one data area."""

    def __init__(
        self,
        data_dir: Path,
        repository_url: str,
        app: str,
        *,
        initial_root: Path | None = None,
        image_key: Path,
        timeout: float = 10,
        min_speed: float = MIN_SPEED,
        disk: Disk | None = None,
        checkpoints: Checkpoints | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.url = repository_url.rstrip("/") + "/"
        self.app = app
        self.initial_root = initial_root
        self.image_key = image_key  # the CD-ROM's trust/image-signing.pub.pem
        self.timeout = timeout
        self.min_speed = min_speed
        self.disk = disk or Disk()
        self.cp = checkpoints or Checkpoints()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.updates = data_dir / "updates"
        self.trusted = self.updates / "metadata"
        self.work = self.updates / ".metadata-work"  # python-tuf's directory, during check()
        self.downloads = self.updates / "downloads"
        self._updater: Any = None
        self._fetcher: Fetcher | None = None
        self._kept: dict[str, bytes] = {}  # what updates/metadata/ holds, by file name

    # --- check ------------------------------------------------------------------------------

    def _prepare_work(self) -> None:
        """The trusted root (at first the CD-ROM's, 5.2), and python-tuf's work directory
        holding a copy of the trusted metadata (scratch: plain writes, never trusted)."""
        if not (self.trusted / "root.json").is_file():
            if self.initial_root is None or not self.initial_root.is_file():
                raise UpdateSecurityError(
                    "no trusted root: the CD-ROM's trust/root.json is missing", code="ES510"
                )
            with _storage("preparing the update metadata"):
                self.trusted.mkdir(parents=True, exist_ok=True)
                self.disk.write_atomic(self.trusted / "root.json", self.initial_root.read_bytes())
        with _storage("preparing the update metadata"):
            self.disk.remove(self.work)
            self.work.mkdir()
            self._kept = {}
            for name in TRUSTED_FILES:
                if (self.trusted / name).is_file():
                    self._kept[name] = (self.trusted / name).read_bytes()
                    (self.work / name).write_bytes(self._kept[name])

    def _keep_verified(self) -> None:
        """Write into the trusted directory, durably and in the workflow's order, each file
        python-tuf verified since the last call: python-tuf writes a file to its directory
        only once it passed every check of its step (5.3.8, 5.4.5, 5.5.7, 5.6.6)."""
        with _storage("keeping the verified update metadata"):
            for name in TRUSTED_FILES:
                path = self.work / name
                data = path.read_bytes() if path.is_file() else None
                if data is not None and data != self._kept.get(name):
                    self.disk.write_atomic(self.trusted / name, data)
                    self._kept[name] = data

    def _refresh(self, fetcher: Fetcher) -> Updater:
        """python-tuf's refresh (5.3 root, 5.4 timestamp, 5.5 snapshot, 5.6 targets) with
        each verified file kept before the next request and when the refresh ends."""
        fetcher.before_request = self._keep_verified
        try:
            updater = Updater(
                metadata_dir=str(self.work),
                metadata_base_url=self.url + "metadata/",
                target_dir=str(self.downloads),
                target_base_url=self.url + "targets/",
                fetcher=fetcher,
            )
            updater.refresh()
        finally:  # also after a failed step: what was verified before it stays trusted
            fetcher.before_request = None
            self._keep_verified()
        return updater

    def _verified_releases(self) -> list[Release]:
        """The releases the verified targets list, once every name in it is safe (ES511)."""
        with _storage("reading the verified update metadata"):
            snapshot = Metadata[Snapshot].from_file(str(self.trusted / "snapshot.json"))
            targets = Metadata[Targets].from_file(str(self.trusted / "targets.json"))
        check_names(snapshot.signed, targets.signed)
        return _releases(targets.signed.targets, self.app)

    def _security(self, exc: Exception, phase: str) -> UpdateError:
        fetcher = self._fetcher
        return classify(
            exc,
            phase=phase,
            now=self.clock(),
            server_time=fetcher.server_time if fetcher else None,
            declared_length=fetcher.declared_length if fetcher else None,
        )

    def check(self, current: str) -> Offer | None:
        """Refresh the signed metadata (bounded in time) and say what can be installed.

        Each metadata file is kept as soon as it is verified, also when a later step fails;
        ``last-check.json`` is written only when the whole refresh passed. Raises
        UpdateSecurityError (its own code per attack), UpdateError ES520 (offline) or
        StorageError ES524 (data area full, read-only or unreadable).
        """
        from tuf.api import exceptions  # noqa: PLC0415

        with _storage("preparing the update metadata"):
            self.updates.mkdir(parents=True, exist_ok=True)
        self._prepare_work()
        fetcher = Fetcher(timeout=self.timeout, deadline=time.monotonic() + self.timeout)
        self._fetcher = fetcher
        try:
            updater = self._refresh(fetcher)
            releases = self._verified_releases()
        except (exceptions.RepositoryError, exceptions.DownloadError, OSError) as exc:
            raise self._security(exc, "check") from exc
        finally:
            fetcher.close()
            with contextlib.suppress(OSError):  # scratch only: the next check starts afresh
                self.disk.remove(self.work)
        self._updater = updater
        with _storage("recording the successful check"):
            stamp = json.dumps({"at": self.clock().isoformat()}).encode()
            self.disk.write_atomic(self.updates / "last-check.json", stamp)
        self.cp("download.metadata-committed")
        try:
            current_v = parse_version(current)
        except ValueError:  # nothing can be compared with it: never guess "older than all"
            raise UpdateError(
                f"the running version {current!r} is not a version: updates cannot be "
                "compared with it (the key's product.json is damaged)",
                code="ES510",
            ) from None
        base = _install.cache_path(self.data_dir, self.app, current)
        return plan(releases, current_v, base.is_file())

    # --- download -------------------------------------------------------------------------

    def _fetch_target(self, info: TargetFile, progress: Progress | None, total: int) -> bytes:
        from tuf.api import exceptions  # noqa: PLC0415

        assert self._fetcher is not None  # noqa: S101 - check() ran first
        done = [0]

        def counted(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress("download", done[0], total)

        safe_name(info.path, "release file")  # it becomes a URL component
        with _storage("preparing the download"):
            self.downloads.mkdir(parents=True, exist_ok=True)
        dest = self.downloads / DOWNLOAD_NAME  # a name of ours: its clean-up removes only it
        # each read waits at most `timeout`, and the whole file must arrive at the minimum
        # speed: a server dripping bytes cannot hold the key for ever (ES525)
        self._fetcher.deadline = time.monotonic() + self.timeout + info.length / self.min_speed
        self._fetcher.progress = counted
        try:
            self._updater.download_target(info, filepath=str(dest))
        except (exceptions.RepositoryError, exceptions.DownloadError, OSError) as exc:
            self.disk.remove(dest)
            raise self._security(exc, "download") from exc
        finally:
            self._fetcher.progress = None
            self._fetcher.close()
        with _storage("reading the download back"):
            data = dest.read_bytes()
            self.disk.remove(dest)
        return data

    def _patched(self, offer: Offer, progress: Progress | None) -> bytes | None:
        """The new archive from the cached one and the patch chain; None if a step fails."""
        with _storage("reading the installed version's archive (the patch base)"):
            base = _install.cache_path(self.data_dir, self.app, offer.current).read_bytes()
        patches = [
            self._fetch_target(r.patch, progress, offer.download_size)
            for r in offer.chain
            if r.patch is not None
        ]
        self.cp("download.patch-fetched")
        self.cp("patch.begin")
        tar = base
        for release, patch in zip(offer.chain, patches, strict=True):
            assert release.patch is not None  # noqa: S101 - plan() guarantees it
            expected = (release.patch.custom or {}).get("tufup") or {}
            try:
                tar = apply_patch(tar, patch)
            except ValueError:
                log.warning("patch to %s does not apply: full archive instead", release.version)
                return None
            self.cp("patch.applied")
            # the patched archive against its signed size and hash (tufup's verify-after-patch)
            if len(tar) != expected.get("tar_size") or hashlib.sha256(
                tar
            ).hexdigest() != expected.get("tar_hash"):
                log.warning("patched %s differs from the signed one: full archive", release.version)
                return None
        self.cp("patch.verified")
        return tar

    def download(self, offer: Offer, progress: Progress | None = None) -> bytes:
        """The new version's uncompressed archive, verified against the signed metadata."""
        if self._updater is None:
            raise UpdateError("download() before check()", code="ES525")
        self.cp("download.begin")
        if offer.use_patch:
            tar = self._patched(offer, progress)
            if tar is not None:
                return tar
        target = offer.chain[-1].archive
        data = self._fetch_target(target, progress, target.length)
        self.cp("download.archive-fetched")
        self.cp("patch.begin")
        tar = gunzip_capped(data, _tar_cap(target), target.path)
        self.cp("patch.verified")
        return tar

    # --- install --------------------------------------------------------------------------

    def _check_free_space(self, tar: bytes) -> None:
        """Room for the whole installation before its first write (ES524 otherwise): a
        data area that fills up half-way costs a long write for nothing."""
        with _storage("measuring the free space of the data area"):
            needed = install_footprint(tar, cluster_size(self.data_dir))
            free = shutil.disk_usage(self.data_dir).free
        if needed > free:
            tenth = MB // 10  # needed rounded up, free down: never "needs 2.0, 2.0 free"
            raise StorageError(
                f"the update needs {-(-needed // tenth) / 10:.1f} MB on the key's data area "
                f"and {free // tenth / 10:.1f} MB are free: nothing was written",
                code="ES524",
            )

    def install(
        self,
        offer: Offer,
        tar: bytes,
        *,
        running_slot: str | None,
        progress: Progress | None = None,
    ) -> str:
        """Install into the inactive slot and switch the pointer; returns the slot.

        Nothing is written unless the data area has room for the whole installation
        (:func:`install_footprint`; ES524 otherwise)."""
        self.cp("patch.tar-written")
        try:
            image_key = self.image_key.read_bytes()
        except OSError as exc:
            raise StorageError(
                f"cannot read the image-signing key {self.image_key} ({exc.strerror or exc})",
                code="ES524",
            ) from None
        self._check_free_space(tar)
        slot = _install.install(
            self.data_dir,
            tar,
            image_key=image_key,
            app=self.app,
            version=offer.version,
            running_slot=running_slot,
            disk=self.disk,
            cp=self.cp,
            progress=progress,
        )
        pointer = read_pointer(self.data_dir)
        if pointer is None or pointer.active != slot:  # pragma: no cover - defensive
            raise StorageError("the new pointer record did not read back", code="ES524")
        return slot
