"""The publishing side: TUF keys and roles, releases made of components, expiry.

tufup's ``Repository`` does the TUF bookkeeping (roles, keys, thresholds, targets,
signing, key replacement, expiry). A release (docs/format-1.md, "The channel") is made
here: the application root split into components by mount, each new component version's
file list, its full archive and the per-file patch from the previous release's version of
it, the release record; lists and record signed with the image-signing key. Each file is
registered with tufup's own ``roles.add_or_update_target`` (``add_bundle`` compresses
with gzip -9 and asks on ``input()`` when an archive exists). tufup keeps a config file
in the current directory and reads clear private keys from a directory: every operation
therefore runs inside a temporary, private working directory that :class:`KeyStore`
fills and wipes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from esecure._fs import atomic_write
from esecure.config import Project
from esecure.errors import EsecureError, OperationError, UsageError
from esecure.updater._container import write_archive, write_patch
from esecure.updater._keystore import ROLES, KeyStore
from esecure.updater._release import (
    Component,
    extract_archive,
    left_out,
    read_list,
    split_components,
)
from esecure_onkey.components import (
    ReleaseRecord,
    component_names,
    decode_release,
    encode_release,
    mount,
)
from esecure_onkey.layout import CD_PRODUCT
from esecure_onkey.versions import Version, parse_version

__all__ = [
    "RoleStatus",
    "Status",
    "build_app_root",
    "image_signer",
    "init_keys",
    "publish",
    "published_versions",
    "refresh",
    "repository_dir",
    "rotate_key",
    "status",
]

log = logging.getLogger(__name__)
Say = Callable[[str], None]
Secret = Callable[[], bytes]
RELEASE_SUFFIX = ".release"
_T = TypeVar("_T")


def repository_dir(project: Project) -> Path:
    """``<project>/repository``: metadata/ and targets/, static files to host anywhere."""
    return project.root / "repository"


def keystore(project: Project) -> KeyStore:
    """``<project>/keys/tuf``."""
    return KeyStore(project.root / "keys" / "tuf", encrypted=project.trust.encrypted_keys)


def app_name(project: Project) -> str:
    """The name archives carry: ``<product id>-<version>.tar.gz``."""
    return project.product.id


def _expiry(project: Project) -> dict[str, int]:
    u = project.updates
    return {
        "root": u.root_expiry_days,
        "targets": u.targets_expiry_days,
        "snapshot": u.snapshot_expiry_days,
        "timestamp": u.timestamp_expiry_days,
    }


def _thresholds(project: Project) -> dict[str, int]:
    return {"root": project.updates.root_threshold, "targets": 1, "snapshot": 1, "timestamp": 1}


@contextlib.contextmanager
def _quiet_tufup() -> Iterator[None]:
    """tufup logs at INFO for every step; keep its chatter out of the release engineer's way."""
    logger = logging.getLogger("tufup")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _repository(
    project: Project, work: Path, keymap: dict[str, list[str]], *, fresh: bool = False
) -> Iterator[Any]:
    """A tufup Repository over the project's repository, with keys from ``work``."""
    from tufup.repo import Repository  # noqa: PLC0415 - imports setuptools: publish side only

    repo_dir = repository_dir(project)
    previous = Path.cwd()
    os.chdir(work)  # tufup keeps its config file in the current directory
    try:
        with _quiet_tufup():
            repo = Repository(
                app_name=app_name(project),
                repo_dir=repo_dir,
                keys_dir=work,
                key_map={role: list(names) for role, names in keymap.items()},
                encrypted_keys=[],
                expiration_days=_expiry(project),
                thresholds=_thresholds(project),
            )
            if fresh:
                repo.initialize()
            else:
                repo.save_config()
                repo = Repository.from_config()
            yield repo
    finally:
        os.chdir(previous)


def _passphrase_for(project: Project, say: Say, secret: Secret | None) -> Secret | None:
    if not project.trust.encrypted_keys:
        return None
    if secret is not None:
        return secret
    from esecure.trust import get_passphrase  # noqa: PLC0415

    cache: list[bytes] = []

    def ask() -> bytes:
        if not cache:
            p = get_passphrase(project.product.id, prompt=None)
            say(f"passphrase from {p.source}")
            cache.append(p.value)
        return cache[0]

    return ask


# --- keys ---------------------------------------------------------------------------------


def init_keys(project: Project, *, say: Say, secret: Secret | None = None) -> dict[str, list[str]]:
    """Make the four roles' keys and publish root v1 (ES950 when keys already exist)."""
    store = keystore(project)
    if store.exists():
        raise UsageError(
            f"TUF keys already exist in {store.directory}; to replace one, run "
            "`esecure keys rotate PROJECT ROLE`",
            code="ES950",
        )
    if (repository_dir(project) / "metadata" / "root.json").exists():
        raise UsageError(
            f"{repository_dir(project)} already holds a repository without its keys: move it "
            "away or restore keys/tuf/",
            code="ES950",
        )
    keymap = {
        "root": [f"root-{i}" for i in range(1, project.updates.root_keys + 1)],
        "targets": ["targets-1"],
        "snapshot": ["snapshot-1"],
        "timestamp": ["timestamp-1"],
    }
    ask = _passphrase_for(project, say, secret)
    passphrase = ask() if ask is not None else None
    work = Path(tempfile.mkdtemp(prefix="esecure-tuf-"))
    try:
        work.chmod(0o700)
        with _repository(project, work, keymap, fresh=True):
            pass
        store.store_new(work, [n for names in keymap.values() for n in names], passphrase)
        store.save_keymap(keymap)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    u = project.updates
    say(
        f"TUF keys made in {store.directory} (root {u.root_threshold}-of-{u.root_keys}, "
        f"{'encrypted' if store.encrypted else 'NOT encrypted (demo)'}); root v1 published"
    )
    return keymap


def rotate_key(
    project: Project, role: str, *, key: str | None = None, say: Say, secret: Secret | None = None
) -> str:
    """Replace one key of ``role`` and publish the new root, signed by old and new keys."""
    if role not in ROLES:
        raise UsageError(f"unknown TUF role {role!r}: use one of {', '.join(ROLES)}", code="ES955")
    store = keystore(project)
    keymap = store.keymap()
    old = key or keymap[role][0]
    if old not in keymap[role]:
        raise UsageError(
            f"role {role} has no key {old!r}: its keys are {', '.join(keymap[role])}",
            code="ES955",
        )
    numbers = [int(n.rsplit("-", 1)[1]) for names in keymap.values() for n in names if "-" in n]
    retired = [p.stem for p in (store.directory / "retired").glob("*.pub")]
    numbers += [int(n.rsplit("-", 1)[1]) for n in retired if n.startswith(f"{role}-")]
    new = f"{role}-{max(numbers) + 1}"
    ask = _passphrase_for(project, say, secret)
    with store.opened(ask) as work:
        from securesystemslib.interface import (  # type: ignore[import-untyped]  # noqa: PLC0415
            generate_and_write_unencrypted_ed25519_keypair,
        )

        generate_and_write_unencrypted_ed25519_keypair(filepath=str(work / new))
        with _repository(project, work, keymap) as repo, _quiet_tufup():
            repo.replace_key(
                old_key_name=old,
                new_public_key_path=work / f"{new}.pub",
                new_private_key_encrypted=False,
            )
            repo.publish_changes(private_key_dirs=[work])
            new_map = {r: list(names) for r, names in repo.key_map.items()}
        store.store_new(work, [new], ask() if ask is not None else None)
    store.save_keymap(new_map)
    store.retire(old)
    root = json.loads((repository_dir(project) / "metadata" / "root.json").read_text())
    say(f"{role}: key {old} replaced by {new}; root v{root['signed']['version']} published")
    return new


# --- releases -----------------------------------------------------------------------------


def _check_bundle(bundle: Path) -> None:
    """An application root in the CD-ROM's layout: app/product.json at least."""
    if not bundle.is_dir() or not (bundle / CD_PRODUCT).is_file():
        raise UsageError(
            f"{bundle} is not an application root (missing: {CD_PRODUCT}); pass the "
            "directory that holds app/ (with product.json), lib/<platform>/, "
            "firefox/<platform>/, profile/ and trust/",
            code="ES953",
        )


def build_app_root(
    project: Project,
    dest: Path,
    *,
    launcher_dirs: dict[str, Path] | None = None,
    say: Say = lambda _m: None,
) -> Path:
    """The default bundle: the application root ``esecure build`` lays out from the project
    (the image builder's own code), in ``dest`` (which must not exist)."""
    from esecure.bundle.build import assemble_app_root  # noqa: PLC0415 - image side only

    say(f"assembling the application root of {project.root} as `esecure build` lays it out")
    info = assemble_app_root(project, dest, launcher_dirs=launcher_dirs, report=say)
    say(f"application root for {', '.join(info['platforms'])}: {info['updates']}")
    return dest


def _parse_version(version: str) -> Version:
    """The on-key grammar: a version the keys' bootstraps can compare, or ES952 (exit 2)."""
    try:
        return parse_version(version)
    except ValueError as exc:
        raise UsageError(f"--version: {exc}", code="ES952") from None


def image_signer(project: Project, ask: Secret | None) -> Callable[[bytes], bytes]:
    """Signs bytes with the project's image-signing key (the ``.sig`` file's bytes): the
    key whose public half is on every CD-ROM, that the bootstrap checks releases with."""
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    from esecure.bundle.manifest import sign_manifest  # noqa: PLC0415
    from esecure.trust import Passphrase, load_private_key  # noqa: PLC0415

    secret = (lambda: Passphrase(ask(), "project passphrase")) if ask is not None else None
    key = load_private_key(project.trust.image_signing_key, secret)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise UsageError(
            f"{project.trust.image_signing_key} is not an Ed25519 key: regenerate it",
            code="ES953",
        )
    return lambda data: sign_manifest(data, key)


def _signed_targets(project: Project) -> dict[str, Any]:
    path = repository_dir(project) / "metadata" / "targets.json"
    if not path.is_file():
        return {}
    found: dict[str, Any] = json.loads(path.read_text())["signed"]["targets"]
    return found


def _esecure(info: dict[str, Any]) -> dict[str, Any]:
    custom = (info.get("custom") or {}).get("esecure")
    return custom if isinstance(custom, dict) else {}


def published_versions(project: Project) -> list[tuple[Version, bool]]:
    """(version, required) of each release in the signed targets, oldest first."""
    prefix, suffix = f"{app_name(project)}-", RELEASE_SUFFIX
    out = []
    for name, info in _signed_targets(project).items():
        if name.startswith(prefix) and name.endswith(suffix):
            version = _parse_version(name[len(prefix) : -len(suffix)])
            out.append((version, bool(_esecure(info).get("required"))))
    return sorted(out)


def _previous_release(project: Project, version: Version | None) -> ReleaseRecord | None:
    if version is None:
        return None
    path = repository_dir(project) / "targets" / f"{app_name(project)}-{version}{RELEASE_SUFFIX}"
    try:
        return decode_release(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None


@dataclass
class _Writer:
    """Writes target files (temporary name, then rename) and registers each with tufup."""

    targets: Path
    repo: Any
    sign: Callable[[bytes], bytes]
    written: list[Path]

    def path(self, name: str) -> Path:
        return self.targets / name

    def add(
        self, name: str, data: bytes | None = None, custom: dict[str, Any] | None = None
    ) -> Path:
        """Register ``targets/name`` (written from ``data`` when given) as a TUF target."""
        path = self.path(name)
        if data is not None:
            atomic_write(path, data)
        self.written.append(path)
        self.repo.roles.add_or_update_target(
            local_path=path, custom={"esecure": custom} if custom is not None else None
        )
        return path

    def stream(self, name: str, make: Callable[[BinaryIO], _T]) -> tuple[Path, _T]:
        """``targets/name`` written by ``make(file)`` under a temporary name, then renamed."""
        path = self.path(name)
        tmp = path.with_name(f".{name}.tmp")
        self.written.append(tmp)
        with tmp.open("wb") as f:
            result = make(f)
        tmp.replace(path)
        return path, result


def _publish_component(
    writer: _Writer,
    app: str,
    component: Component,
    *,
    previous: ReleaseRecord | None,
    signed: dict[str, Any],
    tmp: Path,
) -> str:
    """A new component version's list, signature, full archive and, when the previous
    release has another version of it, the patch from that one; returns the report."""
    cid = component.id
    writer.add(f"{app}-c-{cid}.list", component.listed)
    writer.add(f"{app}-c-{cid}.list.sig", writer.sign(component.listed))
    archive, tar_size = writer.stream(
        f"{app}-c-{cid}.tar.gz",
        lambda f: write_archive(component.root, component.files, f),
    )
    writer.add(archive.name, custom={"tar_size": tar_size})
    base = previous.components.get(component.name) if previous is not None else None
    if base is None or base == cid:
        return f"new ({archive.stat().st_size:,} bytes)"
    base_list = read_list(writer.path(f"{app}-c-{base}.list"), base)
    base_archive = writer.path(f"{app}-c-{base}.tar.gz")
    if base_list is None or not base_archive.is_file():
        return f"new ({archive.stat().st_size:,} bytes; no base to patch from)"
    base_root = tmp / f"base-{component.name}"
    base_cap = _esecure(signed.get(base_archive.name) or {}).get("tar_size")
    if not isinstance(base_cap, int):
        return f"new ({archive.stat().st_size:,} bytes; the base archive has no signed size)"
    extract_archive(base_archive, base_cap, base_list.files, base_root)
    patch, stats = writer.stream(
        f"{app}-c-{cid}.from-{base}.patch",
        lambda f: write_patch(base_root, base_list.files, component.root, component.files, f),
    )
    shutil.rmtree(base_root, ignore_errors=True)
    writer.add(patch.name, custom={"size": component.size})
    changed = stats.patched + stats.new
    return f"patched ({stats.size:,} bytes, {changed} file{'s' if changed != 1 else ''})"


def _check_platforms(project: Project, bundle: Path, components: Mapping[str, object]) -> None:
    """ES953 naming each component of a platform the project ships (``[image] platforms``)
    that ``bundle`` lacks: a release without ``deps-windows`` or ``firefox-windows`` must
    never reach a Windows key. Before anything is signed or written."""
    platforms = project.image.platforms
    wanted = sorted({name for plat in platforms for name in component_names(plat)})
    missing = [name for name in wanted if name not in components]
    if not missing:
        return
    lacking = sorted({plat for plat in platforms for n in component_names(plat) if n in missing})
    raise UsageError(
        f"{bundle} has no {', '.join(f'{n} ({mount(n)}/)' for n in missing)}, and the "
        f"project ships {', '.join(sorted(platforms))} ([image] platforms): a release "
        f"without them would reach {', '.join(lacking)} keys incomplete. Pass a bundle laid "
        "out for every platform (without --bundle, `esecure publish` lays it out as "
        "`esecure build` does, with --launcher-dir PLATFORM=DIR for the platforms frozen "
        "elsewhere), or remove the platform from [image] platforms",
        code="ES953",
    )


def publish(
    project: Project,
    version: str,
    bundle: Path,
    *,
    required: bool = False,
    say: Say,
    secret: Secret | None = None,
) -> list[Path]:
    """Add a release: each new component version's list, archive and patch, the release
    record, each signed with the image-signing key; then TUF's targets, snapshot and
    timestamp. Says what each component costs (new, patched or unchanged)."""
    bundle = bundle.resolve()
    _check_bundle(bundle)
    new = _parse_version(version)
    existing = published_versions(project)
    if existing and existing[-1][0] >= new:
        raise UsageError(
            f"version {version} is not newer than the latest published {existing[-1][0]}: "
            "publish a higher version",
            code="ES952",
        )
    say(f"splitting {bundle} into components and hashing their files")
    components = split_components(bundle)
    _check_platforms(project, bundle, components)
    for name in left_out(bundle):
        say(f"left out (in no component): {name}")
    app = app_name(project)
    record = encode_release(project.product.id, str(new), {n: c.id for n, c in components.items()})
    previous = _previous_release(project, existing[-1][0] if existing else None)
    signed = _signed_targets(project)
    store = keystore(project)
    keymap = store.keymap()
    targets = repository_dir(project) / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    ask = _passphrase_for(project, say, secret)
    say("signing the release record and the component lists with the image-signing key")
    sign = image_signer(project, ask)
    reports: dict[str, str] = {}
    with (
        store.opened(ask) as work,
        _repository(project, work, keymap) as repo,
        tempfile.TemporaryDirectory(prefix="esecure-publish-") as tmp,
    ):
        writer = _Writer(targets, repo, sign, [])
        try:
            for name, component in components.items():
                if f"{app}-c-{component.id}.tar.gz" in signed:
                    same = previous is not None and previous.components.get(name) == component.id
                    reports[name] = "unchanged (0 bytes)" if same else "already published (0 bytes)"
                    continue
                say(f"{name}: archiving {component.size:,} bytes")
                reports[name] = _publish_component(
                    writer, app, component, previous=previous, signed=signed, tmp=Path(tmp)
                )
            writer.add(f"{app}-{new}{RELEASE_SUFFIX}", record, custom={"required": required})
            writer.add(f"{app}-{new}{RELEASE_SUFFIX}.sig", sign(record))
            say("signing targets, snapshot and timestamp")
            repo.publish_changes(private_key_dirs=[work])
        except Exception as exc:  # tufup raises a bare Exception when a key is missing
            for path in writer.written:
                path.unlink(missing_ok=True)
            if isinstance(exc, EsecureError):
                raise
            raise OperationError(f"publishing failed: {exc}", code="ES956") from exc
    for name in components:
        say(f"{name}: {reports[name]}")
    return sorted({p for p in writer.written if p.is_file()})


# --- status and refresh ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleStatus:
    """One role's signed version and expiry."""

    role: str
    version: int
    expires: dt.datetime


@dataclass(frozen=True)
class Status:
    """What a repository holds."""

    roles: tuple[RoleStatus, ...]
    releases: tuple[tuple[str, bool], ...]


def status(project: Project) -> Status:
    """Every role's version and expiry, and the published versions."""
    meta = repository_dir(project) / "metadata"
    if not (meta / "root.json").is_file():
        raise UsageError(
            f"no repository in {repository_dir(project)}: run `esecure keys init PROJECT`",
            code="ES951",
        )
    roles = []
    for role in ROLES:
        path = meta / f"{role}.json"
        if path.is_file():
            signed = json.loads(path.read_text())["signed"]
            expires = dt.datetime.fromisoformat(signed["expires"].replace("Z", "+00:00"))
            roles.append(RoleStatus(role, int(signed["version"]), expires))
    releases = tuple((str(v), r) for v, r in published_versions(project))
    return Status(tuple(roles), releases)


def due_roles(st: Status, project: Project, now: dt.datetime) -> list[str]:
    """Roles to re-sign now: those past half of their lifetime (timestamp: always)."""
    days = _expiry(project)
    return [
        r.role
        for r in st.roles
        if r.role == "timestamp" or r.expires - now < dt.timedelta(days=days[r.role] / 2)
    ]


def refresh(
    project: Project,
    *,
    roles: list[str] | None = None,
    now: dt.datetime | None = None,
    say: Say,
    secret: Secret | None = None,
) -> list[str]:
    """Re-sign the roles about to expire (what the scheduled job runs)."""
    when = now or dt.datetime.now(dt.UTC)
    chosen = roles if roles is not None else due_roles(status(project), project, when)
    store = keystore(project)
    keymap = store.keymap()
    ask = _passphrase_for(project, say, secret)
    with store.opened(ask) as work, _repository(project, work, keymap) as repo:
        for role in chosen:
            repo.refresh_expiration_date(role)
            # a new version even when the new expiry equals the old one (same second)
            getattr(repo.roles, role).signed.version += 1
        try:
            repo.publish_changes(private_key_dirs=[work])
        except Exception as exc:  # tufup raises a bare Exception when a key is missing
            raise OperationError(f"re-signing failed: {exc}", code="ES956") from exc
    for r in status(project).roles:
        say(f"{r.role}: v{r.version}, expires {r.expires:%Y-%m-%d %H:%M} UTC")
    return chosen
