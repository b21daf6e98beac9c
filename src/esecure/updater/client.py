"""The client side: check, plan, download (per-file patches or full archives), install
into the component store, switch (docs/format-1.md, "Install").

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

A release is signed twice: by TUF's targets key (the channel: every file's length and
hashes) and by the image-signing key whose public half is on the CD-ROM (what may run:
the release record and each component's file list, checked here exactly as the bootstrap
checks them at every start). Targets download to the host's temporary directory, under
names of ours (a name from signed metadata never becomes a path: ``_security.safe_name``,
ES511), never into the data area: the key's flash is written only with the components'
files, their records and the switch (``_install``), and only after everything a
component needs was downloaded and verified.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
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
from esecure.updater._container import (
    Gunzip,
    MismatchError,
    NotApplicableError,
    Write,
    apply_archive,
    apply_patch,
)
from esecure.updater._disk import Checkpoints, Disk
from esecure.updater._fetch import Fetcher
from esecure.updater._plan import (
    ComponentPlan,
    Offer,
    ReleaseTargets,
    choose_release,
    releases_of,
    tar_cap,
)
from esecure.updater._security import check_names, classify, safe_name
from esecure_onkey.components import (
    ComponentList,
    ReleaseRecord,
    component_names,
    decode_component_list,
    decode_release,
    digest,
    mount,
)
from esecure_onkey.ed25519 import check_signature
from esecure_onkey.layout import (
    CD,
    IMAGE_KEY,
    cd_component_file,
    component_dir,
    component_file,
    platform_name,
)
from esecure_onkey.store import cd_release, check_component, read_release
from esecure_onkey.versions import parse_version, version_key

__all__ = [
    "ComponentPlan",
    "Downloaded",
    "Offer",
    "ReleaseTargets",
    "UpdateClient",
    "confirm_started",
    "gunzip_capped",
    "last_check",
    "mark_good",
]

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
mark_good = _install.mark_good
MIN_SPEED = 64 * 1024  # bytes/s: below this for a whole file, the download is abandoned
TRUSTED_FILES = (  # fixed names, in the order the workflow verifies and keeps them
    "root.json",  # 5.3.8: each newer root, once verified (5.3.9: repeat)
    "timestamp.json",  # 5.4.5
    "snapshot.json",  # 5.5.7
    "targets.json",  # 5.6.6
)


def _gunzip_error(exc: ValueError, name: str) -> UpdateSecurityError:
    if isinstance(exc, Gunzip.BombError):
        return UpdateSecurityError(f"{name} decompresses to {exc}", code="ES507")
    return UpdateSecurityError(f"{name}: {exc}", code="ES506")


def gunzip_capped(data: bytes, cap: int, name: str) -> bytes:
    """Decompress a gzip archive, streaming, refusing more than ``cap`` bytes (ES507) or a
    stream that is not gzip or ends early (ES506)."""
    reader = Gunzip(io.BytesIO(data), cap)
    try:
        return b"".join(iter(reader.read, b""))
    except (Gunzip.BombError, Gunzip.BrokenError) as exc:
        raise _gunzip_error(exc, name) from None


def confirm_started(
    data_dir: Path, checkpoints: Checkpoints | None = None, *, running: str | None = None
) -> bool:
    """The release ``running`` reached its UI: mark it good (the bootstrap stops counting
    starts), then collect what it does not reference."""
    cp = checkpoints or Checkpoints()
    cp("first-start.app-running")
    return mark_good(data_dir, running=running, checkpoints=cp)


def last_check(data_dir: Path) -> dt.datetime | None:
    """When the last successful check ended (for the maximum offline age)."""
    try:
        value = json.loads((data_dir / "updates" / "last-check.json").read_text())["at"]
        return dt.datetime.fromisoformat(value)
    except (OSError, ValueError, KeyError, TypeError):
        return None


# --- downloads ------------------------------------------------------------------------------


@dataclass
class Fetched:
    """One component's verified list, and its downloaded patch or archive."""

    plan: ComponentPlan
    listed: bytes
    signature: bytes
    files: ComponentList
    patch: Path | None = None
    archive: Path | None = None


class Downloaded:
    """What :meth:`UpdateClient.download` fetched, in a directory of the host (removed by
    :meth:`close`, which :meth:`UpdateClient.install` calls)."""

    def __init__(self, directory: Path, *, owned: bool) -> None:
        self.directory = directory
        self.owned = owned
        self.components: list[Fetched] = []
        self._count = 0

    def new_path(self) -> Path:
        """A fresh file name of ours (never a name from the metadata)."""
        self._count += 1
        return self.directory / f"{self._count}.part"

    def close(self) -> None:
        """Remove every downloaded file."""
        if self.owned:
            shutil.rmtree(self.directory, ignore_errors=True)
            return
        for path in self.directory.glob("*.part"):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def _storage(doing: str) -> Iterator[None]:
    """An OSError of the data area (full, read-only, removed) as ES524: "could not update,
    the current version goes on", never a traceback."""
    try:
        yield
    except OSError as exc:
        raise StorageError(f"{doing} failed: {exc.strerror or exc}", code="ES524") from exc


def _refused(what: str) -> UpdateSecurityError:
    return UpdateSecurityError(what, code="ES506")


class UpdateClient:
    """One update session against one repository, over one data area, for one key."""

    def __init__(
        self,
        data_dir: Path,
        repository_url: str,
        app: str,
        *,
        cd: Path,
        initial_root: Path | None = None,
        image_key: Path | None = None,
        platform: str | None = None,
        download_dir: Path | None = None,
        timeout: float = 10,
        min_speed: float = MIN_SPEED,
        disk: Disk | None = None,
        checkpoints: Checkpoints | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        ca_file: Path | None = None,
        proxy: str = "system",
    ) -> None:
        self.data_dir = data_dir
        self.proxy = proxy  # [network] proxy as the launcher follows it (_fetch.opener)
        self.url = repository_url.rstrip("/") + "/"
        self.app = app
        self.cd = cd  # the CD-ROM root: its release, components, image key, initial root
        self.initial_root = initial_root or cd / "trust" / "root.json"
        self.image_key = image_key or cd / IMAGE_KEY
        default_ca = cd / "trust" / "ca.pem"  # the key's CA, trusted beside the system's
        self.ca_file = ca_file or (default_ca if default_ca.is_file() else None)
        self.platform = platform or platform_name()
        self.download_dir = download_dir  # None: a private temporary directory of the host
        self.timeout = timeout
        self.min_speed = min_speed
        self.disk = disk or Disk()
        self.cp = checkpoints or Checkpoints()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.updates = data_dir / "updates"
        self.trusted = self.updates / "metadata"
        self.work = self.updates / ".metadata-work"  # python-tuf's directory, during check()
        self._updater: Any = None
        self._fetcher: Fetcher | None = None
        self._targets: dict[str, TargetFile] = {}
        self._kept: dict[str, bytes] = {}  # what updates/metadata/ holds, by file name

    # --- check: the TUF refresh -----------------------------------------------------------

    def _prepare_work(self) -> None:
        """The trusted root (at first the CD-ROM's, 5.2), and python-tuf's work directory
        holding a copy of the trusted metadata (scratch: plain writes, never trusted)."""
        if not (self.trusted / "root.json").is_file():
            if not self.initial_root.is_file():
                raise UpdateSecurityError(
                    "no trusted root: the CD-ROM's trust/root.json is missing", code="ES510"
                )
            with _storage("preparing the update metadata"):
                self.disk.make_dirs(self.trusted)
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
                target_dir=None,
                target_base_url=self.url + "targets/",
                fetcher=fetcher,
            )
            updater.refresh()
        finally:  # also after a failed step: what was verified before it stays trusted
            fetcher.before_request = None
            self._keep_verified()
        return updater

    def _verified_targets(self) -> dict[str, TargetFile]:
        """The verified targets, once every name in them is safe (ES511)."""
        with _storage("reading the verified update metadata"):
            snapshot = Metadata[Snapshot].from_file(str(self.trusted / "snapshot.json"))
            targets = Metadata[Targets].from_file(str(self.trusted / "targets.json"))
        check_names(snapshot.signed, targets.signed)
        found: dict[str, TargetFile] = targets.signed.targets
        return found

    def _security(self, exc: Exception, phase: str) -> UpdateError:
        fetcher = self._fetcher
        return classify(
            exc,
            phase=phase,
            now=self.clock(),
            server_time=fetcher.server_time if fetcher else None,
            declared_length=fetcher.declared_length if fetcher else None,
        )

    def check(self, current: str, *, running: str = CD) -> Offer | None:
        """Refresh the signed metadata (bounded in time), then plan the newest release
        above ``current`` (the oldest required one first) for this key.

        ``running`` is the release that runs now (``boot.Choice.release``): its components
        are the patches' bases. The release record and its signature are downloaded and
        verified here (TUF, then the CD-ROM's image key). Raises UpdateSecurityError (its
        own code per attack), UpdateError ES520 (offline) or StorageError ES524 (data
        area full, read-only or unreadable).
        """
        from tuf.api import exceptions  # noqa: PLC0415

        with _storage("preparing the update metadata"):
            self.disk.make_dirs(self.updates)
        self._prepare_work()
        fetcher = Fetcher(
            timeout=self.timeout,
            deadline=time.monotonic() + self.timeout,
            ca_file=self.ca_file,
            proxy=self.proxy,
        )
        self._fetcher = fetcher
        try:
            updater = self._refresh(fetcher)
            targets = self._verified_targets()
            releases = releases_of(targets, self.app)
        except (exceptions.RepositoryError, exceptions.DownloadError, OSError) as exc:
            raise self._security(exc, "check") from exc
        finally:
            fetcher.close()
            with contextlib.suppress(OSError):  # scratch only: the next check starts afresh
                self.disk.remove(self.work)
        self._updater = updater
        self._targets = targets
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
        chosen = choose_release(releases, current_v)
        if chosen is None:
            return None
        return self._plan(current, chosen, running)

    # --- check: the release and the plan ----------------------------------------------------

    def _cd_record(self) -> ReleaseRecord:
        floor = cd_release(self.cd)
        if isinstance(floor, str):
            raise UpdateError(f"{floor}: updates cannot be planned", code="ES510")
        return floor

    def _image_key_pem(self) -> bytes:
        try:
            return self.image_key.read_bytes()
        except OSError as exc:
            raise StorageError(
                f"cannot read the image-signing key {self.image_key} ({exc.strerror or exc})",
                code="ES524",
            ) from None

    def _verify_release(
        self, chosen: ReleaseTargets, data: bytes, signature: bytes, floor: ReleaseRecord
    ) -> ReleaseRecord:
        """Install step 1: signed by the CD-ROM's image key, of this product and of the
        version its target names, naming every component this platform runs (ES506)."""
        version = str(chosen.version)
        why = check_signature(data, signature, self._image_key_pem(), f"release {version}")
        if why:
            raise _refused(why)
        try:
            record = decode_release(data)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise _refused(f"release {version} is signed but malformed ({exc})") from None
        if record.product != floor.product:
            raise _refused(f"release {version} is of product {record.product!r}")
        if version_key(record.version) != chosen.version.key:
            raise _refused(f"the release record of {version} names version {record.version}")
        missing = [n for n in component_names(self.platform) if n not in record.components]
        if missing:
            raise _refused(f"release {version} has no {', '.join(missing)} component")
        return record

    def _running_record(self, running: str, floor: ReleaseRecord) -> ReleaseRecord | None:
        if running == CD:
            return floor
        record = read_release(self.data_dir, running, self.cd, floor)
        return record if isinstance(record, ReleaseRecord) else None

    def _target(self, name: str) -> TargetFile:
        info = self._targets.get(f"{self.app}-{name}")
        if info is None:
            raise _refused(f"{self.app}-{name} is not published")
        return info

    def _plan(self, current: str, chosen: ReleaseTargets, running: str) -> Offer:
        """What this key must download and write: the components of this platform that
        are neither the CD-ROM's nor complete in the store (install step 2)."""
        floor = self._cd_record()
        data = self._fetch_bytes(chosen.record)
        signature = self._fetch_bytes(chosen.signature)
        record = self._verify_release(chosen, data, signature, floor)
        bases = self._running_record(running, floor)
        plans = []
        for name in component_names(self.platform):
            cid = record.components[name]
            if floor.components.get(name) == cid:
                continue  # the CD-ROM's own: used in place
            with _storage(f"checking the installed {name}"):
                done = check_component(self.data_dir, name, cid, self.platform)
            if isinstance(done, ComponentList):
                continue
            base = bases.components.get(name) if bases is not None else None
            patch = self._targets.get(f"{self.app}-c-{cid}.from-{base}.patch") if base else None
            archive = self._target(f"c-{cid}.tar.gz")
            if patch is not None and patch.length >= archive.length:
                patch = None  # the archive is smaller: no reason to patch
            plans.append(
                ComponentPlan(
                    name,
                    cid,
                    self._target(f"c-{cid}.list"),
                    self._target(f"c-{cid}.list.sig"),
                    archive,
                    patch,
                    base if patch is not None else None,
                )
            )
        return Offer(
            current=current,
            version=str(chosen.version),
            required=chosen.required,
            release=digest(data),
            record=data,
            signature=signature,
            running=running,
            components=tuple(plans),
        )

    # --- download -------------------------------------------------------------------------

    def _fetch(
        self, info: TargetFile, dest: Path, progress: Callable[[int], None] | None = None
    ) -> None:
        """TUF's target download (5.7: length and hashes) into ``dest``, a name of ours."""
        from tuf.api import exceptions  # noqa: PLC0415

        if self._updater is None or self._fetcher is None:
            raise UpdateError("download before check()", code="ES525")
        safe_name(info.path, "release file")  # it becomes a URL component
        # each read waits at most `timeout`, and the whole file must arrive at the minimum
        # speed: a server dripping bytes cannot hold the key for ever (ES525)
        self._fetcher.deadline = time.monotonic() + self.timeout + info.length / self.min_speed
        self._fetcher.progress = progress
        try:
            self._updater.download_target(info, filepath=str(dest))
        except (exceptions.RepositoryError, exceptions.DownloadError, OSError) as exc:
            dest.unlink(missing_ok=True)
            raise self._security(exc, "download") from exc
        finally:
            self._fetcher.progress = None
            self._fetcher.close()

    def _fetch_bytes(self, info: TargetFile) -> bytes:
        """A small target (record, list, signature), verified, in memory."""
        with tempfile.TemporaryDirectory(prefix="esecure-update-") as tmp:
            dest = Path(tmp) / "1.part"
            self._fetch(info, dest)
            return dest.read_bytes()

    def _verify_list(self, plan: ComponentPlan, data: bytes, signature: bytes) -> ComponentList:
        """Install step 2's list: it is the one the release names (its SHA-256 is the id),
        signed by the CD-ROM's image key, of that component (ES506)."""
        where = f"the file list of {plan.name} {plan.id[:12]}"
        if digest(data) != plan.id:
            raise _refused(f"{where} does not hash to the id its release names")
        why = check_signature(data, signature, self._image_key_pem(), where)
        if why:
            raise _refused(why)
        try:
            listed = decode_component_list(data)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise _refused(f"{where} is signed but malformed ({exc})") from None
        if listed.component != plan.name:
            raise _refused(f"{where} is a {listed.component} component")
        return listed

    def _new_downloads(self) -> Downloaded:
        if self.download_dir is not None:
            self.download_dir.mkdir(parents=True, exist_ok=True)
            return Downloaded(self.download_dir, owned=False)
        return Downloaded(Path(tempfile.mkdtemp(prefix="esecure-update-")), owned=True)

    def download(self, offer: Offer, progress: Progress | None = None) -> Downloaded:
        """Every component's list (verified), then its patch or its full archive (verified
        by TUF), into a directory of the host: nothing is written to the data area."""
        if self._updater is None:
            raise UpdateError("download() before check()", code="ES525")
        self.cp("download.begin")
        total, done = offer.download_size, [0]

        def counted(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress("download", done[0], total)

        downloaded = self._new_downloads()
        try:
            for plan in offer.components:
                data, signature = self._fetch_bytes(plan.listed), self._fetch_bytes(plan.signature)
                counted(len(data) + len(signature))
                downloaded.components.append(
                    Fetched(plan, data, signature, self._verify_list(plan, data, signature))
                )
            self.cp("download.lists-fetched")
            for fetched in downloaded.components:
                plan = fetched.plan
                path = downloaded.new_path()
                self._fetch(plan.patch or plan.archive, path, counted)
                if plan.patch is not None:
                    fetched.patch = path
                else:
                    fetched.archive = path
            self.cp("download.patch-fetched" if offer.use_patch else "download.archive-fetched")
        except BaseException:
            downloaded.close()
            raise
        return downloaded

    # --- install --------------------------------------------------------------------------

    def _base(self, name: str, base: str) -> tuple[Path, ComponentList] | None:
        """The installed, verified files of component version ``base`` (the patch's base):
        the CD-ROM's directory or the store's; None when its list is not there."""
        floor = self._cd_record()
        on_cd = floor.components.get(name) == base
        list_path = (
            cd_component_file(self.cd, base, ".list")
            if on_cd
            else component_file(self.data_dir, base, ".list")
        )
        try:
            data = list_path.read_bytes()
            listed = decode_component_list(data)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
            return None
        if digest(data) != base or listed.component != name:
            return None
        root = self.cd / mount(name) if on_cd else component_dir(self.data_dir, base)
        return root, listed

    def _write(
        self, fetched: Fetched, fill: Callable[[Write], None], progress: Callable[[int], None]
    ) -> None:
        """Write component ``fetched`` into the store, its files coming from ``fill``."""
        _install.write_component(
            self.data_dir,
            fetched.plan.id,
            fetched.listed,
            fetched.signature,
            fill,
            disk=self.disk,
            cp=self.cp,
            progress=progress,
        )

    def _write_archive(
        self, fetched: Fetched, archive: Path, progress: Callable[[int], None]
    ) -> None:
        plan = fetched.plan

        def fill(write: Write) -> None:
            with archive.open("rb") as raw:
                apply_archive(Gunzip(raw, tar_cap(plan.archive)), fetched.files.files, write)

        try:
            self._write(fetched, fill, progress)
        except MismatchError as exc:
            raise _refused(f"{plan.name} {plan.id[:12]}: {exc}") from None
        except (Gunzip.BombError, Gunzip.BrokenError) as exc:
            raise _gunzip_error(exc, plan.archive.path) from None

    def _write_patched(
        self, fetched: Fetched, patch: Path, progress: Callable[[int], None]
    ) -> bool:
        """The component from its patch and its base; False when the patch does not apply
        (then the full archive is needed)."""
        plan = fetched.plan
        base = self._base(plan.name, plan.base) if plan.base is not None else None
        if base is None:
            log.warning("%s: the patch's base is not installed: full archive", plan.name)
            return False
        root, base_list = base

        def fill(write: Write) -> None:
            with patch.open("rb") as container:
                apply_patch(container, root, base_list.files, fetched.files.files, write)

        try:
            self._write(fetched, fill, progress)
        except NotApplicableError as exc:
            log.warning("%s: the patch does not apply (%s): full archive", plan.name, exc)
            return False
        return True

    def install(
        self, offer: Offer, downloaded: Downloaded, *, progress: Progress | None = None
    ) -> str:
        """Write the components, the release record and the pointer (install steps 2-4,
        each durable before the next); returns the release id, now in force on trial.

        A patch that does not apply is replaced by the full archive (downloaded then).
        Raises StorageError ES524 (free space, with both numbers; a write that failed),
        UpdateSecurityError ES506/ES507 (an archive that does not match its signed list).
        """
        total = sum(sum(s for s, _h in f.files.files.values()) for f in downloaded.components)
        done = [0]

        def counted(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress("install", done[0], total)

        try:
            with _storage(f"installing version {offer.version}"):
                sizes = [[s for s, _h in f.files.files.values()] for f in downloaded.components]
                _install.check_space(self.data_dir, sizes, self.disk)
                self.cp("install.begin")
                for fetched in downloaded.components:
                    self._install_component(fetched, downloaded, counted)
                _install.commit_release(
                    self.data_dir,
                    offer.release,
                    offer.record,
                    offer.signature,
                    version=offer.version,
                    running=offer.running,
                    disk=self.disk,
                    cp=self.cp,
                )
        finally:
            downloaded.close()
        return offer.release

    def _install_component(
        self, fetched: Fetched, downloaded: Downloaded, progress: Callable[[int], None]
    ) -> None:
        if fetched.patch is not None and self._write_patched(fetched, fetched.patch, progress):
            return
        if fetched.archive is None:  # the patch did not apply: the full archive now
            fetched.archive = downloaded.new_path()
            self._fetch(fetched.plan.archive, fetched.archive)
            self.cp("download.archive-fetched")
        self._write_archive(fetched, fetched.archive, progress)
