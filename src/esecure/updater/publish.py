"""The publishing side: TUF keys and roles, releases (full archive + zstd patch), expiry.

tufup's ``Repository`` does the TUF bookkeeping (roles, keys, thresholds, targets,
signing, key replacement, expiry). The archive and its patch are made here and registered
with tufup's own ``roles.add_or_update_target`` and the custom metadata its
``add_bundle`` writes: ``add_bundle`` compresses with gzip -9 (seconds per release) and
asks on ``input()`` when an archive exists. tufup keeps a config file in the current
directory and reads clear private keys from a directory: every operation therefore runs
inside a temporary, private working directory that :class:`KeyStore` fills and wipes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esecure._fs import atomic_write
from esecure.config import Project
from esecure.errors import OperationError, UsageError
from esecure.updater._keystore import ROLES, KeyStore
from esecure.updater._zstd import make_patch
from esecure_onkey.versions import Version, parse_version

__all__ = [
    "RoleStatus",
    "Status",
    "build_app_root",
    "init_keys",
    "publish",
    "refresh",
    "repository_dir",
    "rotate_key",
    "status",
]

log = logging.getLogger(__name__)
Say = Callable[[str], None]
GZIP_LEVEL = 6  # tufup's gzip -9 costs seconds per release for about 1 % of size
ARCHIVE_MTIME = 315532800  # 1980-01-01: reproducible archives, valid on FAT
Secret = Callable[[], bytes]


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

    from esecure.updater._zstd import ZstdDiff  # noqa: PLC0415

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
                binary_diff=ZstdDiff,
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
    """An application root: product.json and lib/ at least (see esecure_onkey/layout.py)."""
    missing = [n for n in ("product.json", "lib") if not (bundle / n).exists()]
    if not bundle.is_dir() or missing:
        raise UsageError(
            f"{bundle} is not an application root (missing: {', '.join(missing) or 'directory'});"
            " pass the directory that holds lib/<platform>/, firefox/, profile/, product.json "
            "and trust/",
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


def _tarinfo_filter(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """Reproducible members: fixed owner and time, permissions reduced to rwx for the user."""
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = ARCHIVE_MTIME
    info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
    return info


def signed_manifest(
    project: Project, version: str, bundle: Path, ask: Secret | None
) -> dict[str, bytes]:
    """MANIFEST.json and MANIFEST.json.sig of ``bundle``, signed with the image-signing key.

    The same format as the CD-ROM's manifest: the bootstrap checks it at every start
    against the public key on the CD-ROM before it imports anything from a slot.
    """
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    from esecure.bundle.manifest import (  # noqa: PLC0415
        MANIFEST_NAME,
        SIGNATURE_NAME,
        encode_manifest,
        sign_manifest,
    )
    from esecure.bundle.tree import entries, walk_files  # noqa: PLC0415
    from esecure.trust import Passphrase, load_private_key  # noqa: PLC0415

    try:
        paths = [p for p in walk_files(bundle) if p not in (MANIFEST_NAME, SIGNATURE_NAME)]
    except ValueError as exc:  # a symbolic link
        raise UsageError(
            f"{exc}: copy the target in (cp -rL) before publishing", code="ES953"
        ) from None
    data = encode_manifest(project.product.id, version, entries(bundle, paths))
    secret = (lambda: Passphrase(ask(), "project passphrase")) if ask is not None else None
    key = load_private_key(project.trust.image_signing_key, secret)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise UsageError(
            f"{project.trust.image_signing_key} is not an Ed25519 key: regenerate it",
            code="ES953",
        )
    return {MANIFEST_NAME: data, SIGNATURE_NAME: sign_manifest(data, key)}


def archive_bytes(bundle: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """The uncompressed, reproducible tar of an application root (sorted, fixed metadata).

    ``extra`` files (the signed manifest) are added at the root, replacing any of the same
    name in ``bundle``. Symbolic links are refused: a slot on FAT cannot hold them, and the
    client refuses them.
    """
    links = [p for p in bundle.rglob("*") if p.is_symlink()]
    if links:
        raise UsageError(
            f"{links[0]} is a symbolic link: copy the target in (cp -rL) before publishing",
            code="ES953",
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(bundle, arcname=".", recursive=False, filter=_tarinfo_filter)
        added = extra or {}
        for path in sorted(bundle.rglob("*"), key=lambda p: p.relative_to(bundle).as_posix()):
            if path.relative_to(bundle).as_posix() in added:
                continue
            tar.add(
                path,
                arcname=f"./{path.relative_to(bundle).as_posix()}",
                recursive=False,
                filter=_tarinfo_filter,
            )
        for name, data in sorted(added.items()):
            info = _tarinfo_filter(tarfile.TarInfo(f"./{name}"))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def published_versions(project: Project) -> list[tuple[Version, bool]]:
    """(version, required) of each archive in the signed targets, oldest first."""
    path = repository_dir(project) / "metadata" / "targets.json"
    if not path.is_file():
        return []
    targets = json.loads(path.read_text())["signed"]["targets"]
    prefix, suffix = f"{app_name(project)}-", ".tar.gz"
    out = []
    for name, info in targets.items():
        if name.startswith(prefix) and name.endswith(suffix):
            custom = (info.get("custom") or {}).get("tufup") or {}
            version = _parse_version(name[len(prefix) : -len(suffix)])
            out.append((version, bool(custom.get("required"))))
    return sorted(out)


def publish(
    project: Project,
    version: str,
    bundle: Path,
    *,
    required: bool = False,
    say: Say,
    secret: Secret | None = None,
) -> list[Path]:
    """Add a release: full archive + patch from the previous one; sign; write the repository."""
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
    store = keystore(project)
    keymap = store.keymap()
    targets = repository_dir(project) / "targets"
    before = set(targets.glob("*")) if targets.is_dir() else set()
    ask = _passphrase_for(project, say, secret)
    say(f"signing the file list of {bundle} with the image-signing key")
    tar = archive_bytes(bundle, signed_manifest(project, str(new), bundle, ask))
    say(f"archived {bundle} as version {version}")
    name = f"{app_name(project)}-{new}"
    targets.mkdir(parents=True, exist_ok=True)
    archive = targets / f"{name}.tar.gz"
    patch_path = targets / f"{name}.patch"
    previous = targets / f"{app_name(project)}-{existing[-1][0]}.tar.gz" if existing else None
    with store.opened(ask) as work, _repository(project, work, keymap) as repo:
        try:
            atomic_write(archive, gzip.compress(tar, compresslevel=GZIP_LEVEL, mtime=0))
            # the same custom metadata as tufup's add_bundle, so tufup clients read it too
            # tufup's add_bundle metadata, plus the uncompressed size: the client caps its
            # decompression there (a gzip bomb signed by mistake cannot fill the memory)
            repo.roles.add_or_update_target(
                local_path=archive,
                custom={"user": None, "tufup": {"required": required, "tar_size": len(tar)}},
            )
            if previous is not None and previous.is_file():
                say(f"making the patch from {previous.name}")
                atomic_write(patch_path, make_patch(gzip.decompress(previous.read_bytes()), tar))
                expected = {
                    "tar_size": len(tar),
                    "tar_hash": hashlib.sha256(tar).hexdigest(),
                    "tar_hash_algorithm": "sha256",
                }
                repo.roles.add_or_update_target(
                    local_path=patch_path, custom={"user": None, "tufup": expected}
                )
            say("signing targets, snapshot and timestamp")
            repo.publish_changes(private_key_dirs=[work])
        except Exception as exc:  # tufup raises a bare Exception when a key is missing
            for path in (archive, patch_path):
                path.unlink(missing_ok=True)
            raise OperationError(f"publishing failed: {exc}", code="ES956") from exc
    written = sorted(set(targets.glob("*")) - before)
    for path in written:
        say(f"wrote {path.relative_to(project.root)} ({path.stat().st_size:,} bytes)")
    return written


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
