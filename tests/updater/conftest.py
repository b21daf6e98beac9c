"""Fixtures: a key project with a published repository served over real HTTP on 127.0.0.1,
and the CD-ROM of a key built from it (format 1: components at their mounts, the signed
release record and component lists)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import random
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.interface import import_ed25519_privatekey_from_file
from securesystemslib.signer import Signer, SSlibSigner
from tuf.api.metadata import Metadata, TargetFile
from tuf.api.serialization.json import JSONSerializer

from esecure.bundle.manifest import sign_manifest
from esecure.config import Project, load_project
from esecure.scaffold import InitOptions, init_project
from esecure.trust import load_private_key
from esecure.updater.client import UpdateClient
from esecure.updater.publish import init_keys, publish
from esecure_onkey.components import (
    component_names,
    digest,
    encode_component_list,
    encode_release,
    mount,
)
from esecure_onkey.layout import CD_RELEASE, CD_RELEASE_SIG, IMAGE_KEY, cd_component_file

APP = "demo-bank"
PLATFORM = "linux"


def _quiet(*_args: object) -> None:
    return None


_NATIVE = random.Random(42).randbytes(1_000_000)  # noqa: S311 - test data, same in every version


def make_bundle(
    root: Path,
    version: str,
    *,
    trust: dict[str, bytes] | None = None,
    deps: str = "1",
    firefox: str = "1",
    profile: str = "1",
    big: bytes | None = None,
    files: int = 60,
) -> Path:
    """An application root in the CD-ROM's layout (app/, lib/linux/, firefox/linux/,
    profile/, trust/): ``app`` changes with the version, every other component only when
    its own argument does."""
    app = root / "app" / "esecure"
    app.mkdir(parents=True, exist_ok=True)
    (app / "__init__.py").write_text(f'__version__ = "{version}"\n')
    for i in range(files):  # like compiled code: little that gzip finds across files
        body = random.Random(i).randbytes(3000).hex()  # noqa: S311 - test data
        (app / f"mod_{i:03}.py").write_text(f"# module {i}\nVALUE = {body!r}\n")
    product = {"data": {"label": "ESECDATA"}, "format": 1, "id": APP, "version": version}
    (root / "app" / "product.json").write_text(json.dumps(product) + "\n")
    lib = root / "lib" / PLATFORM
    (lib / "dep").mkdir(parents=True, exist_ok=True)
    (lib / "dep" / "__init__.py").write_text(f"DEPS = {deps!r}\n")
    (lib / "_native.so").write_bytes(big if big is not None else _NATIVE)
    fx = root / "firefox" / PLATFORM
    (fx / "distribution").mkdir(parents=True, exist_ok=True)
    (fx / "omni.ja").write_bytes(b"omni" * 50_000 + firefox.encode())
    (fx / "distribution" / "policies.json").write_text('{"policies": {}}\n')
    (root / "profile").mkdir(exist_ok=True)
    (root / "profile" / "user.js").write_text(f'user_pref("a", {profile!r});\n')
    (root / "trust").mkdir(exist_ok=True)
    (root / "trust" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    for name, data in (trust or {}).items():
        (root / "trust" / name).write_bytes(data)
    return root


def image_sign(project: Project, data: bytes) -> bytes:
    """The ``.sig`` of ``data`` by the project's image-signing key (a demo: not encrypted)."""
    key = load_private_key(project.trust.image_signing_key)
    return sign_manifest(data, key)  # type: ignore[arg-type]


def tree_files(root: Path) -> dict[str, tuple[int, str]]:
    """path -> (size, SHA-256) of every file under ``root`` (an independent hasher)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            out[path.relative_to(root).as_posix()] = (len(data), hashlib.sha256(data).hexdigest())
    return out


def component_ids(root: Path, platform: str = PLATFORM) -> dict[str, str]:
    """The id of each component of the application root ``root`` (lists made here, not
    by the code under test)."""
    return {
        name: digest(encode_component_list(name, tree_files(root / mount(name))))
        for name in component_names(platform)
        if (root / mount(name)).is_dir()
    }


def write_cd_release(cd: Path, project: Project, version: str) -> str:
    """Make ``cd`` (an application root) a CD-ROM of format 1: each component's list and
    signature under components/, and release.json(.sig), signed with the project's image
    key. Returns the CD-ROM release's id."""
    ids = {}
    for name in component_names(PLATFORM):
        listed = encode_component_list(name, tree_files(cd / mount(name)))
        cid = digest(listed)
        ids[name] = cid
        for suffix, data in ((".list", listed), (".sig", image_sign(project, listed))):
            path = cd_component_file(cd, cid, suffix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    record = encode_release(project.product.id, version, ids)
    (cd / CD_RELEASE).write_bytes(record)
    (cd / CD_RELEASE_SIG).write_bytes(image_sign(project, record))
    return digest(record)


@dataclass
class Repo:
    """A key project with a published repository, a web server serving a copy of it, and
    the CD-ROM of a key made from the project (version 0.9.0)."""

    project: Project
    served: Path
    url: str
    cd: Path
    trust: dict[str, bytes]
    bundles: dict[str, Path] = field(default_factory=dict)
    prepare: Callable[[Path, str], None] | None = None  # changes each bundle (and the CD)

    @property
    def initial_root(self) -> Path:
        """The CD-ROM's trust/root.json: the key's first trusted TUF root."""
        return self.cd / "trust" / "root.json"

    @property
    def image_key(self) -> Path:
        """The CD-ROM's image-signing public key (the install and the bootstrap check with)."""
        return self.cd / IMAGE_KEY

    def sync(self) -> None:
        """Serve what the project's repository holds now."""
        shutil.rmtree(self.served)
        shutil.copytree(self.project.root / "repository", self.served)

    def bundle(self, version: str, tmp: Path, **kw: Any) -> Path:
        """A bundle of ``version`` (same trust as the CD-ROM)."""
        path = make_bundle(tmp / f"bundle-{version}", version, trust=self.trust, **kw)
        if self.prepare is not None:
            self.prepare(path, version)
        self.bundles[version] = path
        return path

    def publish(self, version: str, tmp: Path, *, required: bool = False, **kw: Any) -> None:
        """Publish ``version`` (app changed; other components as ``kw`` say) and serve it."""
        publish(
            self.project, version, self.bundle(version, tmp, **kw), required=required, say=_quiet
        )
        self.sync()

    def client(self, data: Path, **kw: Any) -> UpdateClient:
        """An update client of this key over the data area ``data``."""
        kw.setdefault("timeout", 10)
        return UpdateClient(data, self.url, APP, cd=self.cd, platform=PLATFORM, **kw)


class _Handler(http.server.SimpleHTTPRequestHandler):
    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):  # the client stopped reading: fine
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002, ARG002 - base signature
        return None


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A threaded HTTP server on 127.0.0.1 serving a directory the test controls."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def make_repo(
    tmp_path: Path,
    served: Path,
    url: str,
    prepare: Callable[[Path, str], None] | None = None,
    **kw: Any,
) -> Repo:
    """Demo project, keys made, a CD-ROM of version 0.9.0 (``make_bundle(**kw)``, then
    ``prepare``); nothing published yet."""
    directory = tmp_path / "project"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    project = load_project(directory)
    init_keys(project, say=_quiet)
    trust = {
        "root.json": (directory / "repository" / "metadata" / "root.json").read_bytes(),
        "image-signing.pub.pem": project.trust.image_signing_public_key.read_bytes(),
    }
    cd = make_bundle(tmp_path / "cd", "0.9.0", trust=trust, **kw)
    if prepare is not None:
        prepare(cd, "0.9.0")
    write_cd_release(cd, project, "0.9.0")
    return Repo(project, served, url, cd, trust, prepare=prepare)


@pytest.fixture
def repo(tmp_path: Path, http_dir: tuple[Path, str]) -> Repo:
    """Demo project, keys made, a key's CD-ROM of 0.9.0, version 1.0.0 (app changed)
    published and served."""
    served, url = http_dir
    r = make_repo(tmp_path, served, url)
    r.publish("1.0.0", tmp_path)
    return r


def update(repo: Repo, data: Path, current: str, running: str = "cd", **kw: Any) -> str | None:
    """check, download, install: the release id now in force (None: nothing to do)."""
    client = repo.client(data, **kw)
    offer = client.check(current, running=running)
    if offer is None:
        return None
    return client.install(offer, client.download(offer))


def tuf_signer(repo: Repo, name: str) -> SSlibSigner:
    """A signer with the project's TUF key ``name`` (``timestamp-1``...: clear in a demo)."""
    path = repo.project.root / "keys" / "tuf" / name
    return SSlibSigner(import_ed25519_privatekey_from_file(str(path)))


def resign(
    repo: Repo,
    filename: str,
    mutate: Callable[[Any], None],
    signers: list[Signer],
    *,
    bump: bool = True,
) -> bytes:
    """Change the served ``metadata/filename`` with ``mutate``, bump its version, sign it
    with ``signers`` only; returns the bytes now served."""
    path = repo.served / "metadata" / filename
    md = Metadata.from_file(str(path))
    mutate(md.signed)
    if bump:
        md.signed.version += 1
    md.signatures.clear()
    for signer in signers:
        md.sign(signer, append=True)
    md.to_file(str(path), JSONSerializer(compact=False))
    return path.read_bytes()


def serve_new_root(repo: Repo, mutate: Callable[[Any], None], signers: list[Signer]) -> bytes:
    """Serve the next root version, changed by ``mutate`` and signed by ``signers``, as
    ``root.json`` and ``<version>.root.json`` (what the client walks); returns its bytes."""
    data = resign(repo, "root.json", mutate, signers)
    version = Metadata.from_bytes(data).signed.version
    (repo.served / "metadata" / f"{version}.root.json").write_bytes(data)
    return data


def serve_targets(repo: Repo, mutate: Callable[[Any], None]) -> None:
    """Serve a new targets version changed by ``mutate``, and a snapshot and a timestamp
    that name it, each signed by its role's key (what the repository, or whoever holds
    its TUF keys, can do: the image-signing key is then the defence left)."""
    resign(repo, "targets.json", mutate, [tuf_signer(repo, "targets-1")])
    version = Metadata.from_file(str(repo.served / "metadata" / "targets.json")).signed.version

    def name_targets(snapshot: Any) -> None:
        snapshot.meta["targets.json"].version = version

    resign(repo, "snapshot.json", name_targets, [tuf_signer(repo, "snapshot-1")])
    snap = Metadata.from_file(str(repo.served / "metadata" / "snapshot.json")).signed.version

    def name_snapshot(timestamp: Any) -> None:
        timestamp.snapshot_meta.version = snap

    resign(repo, "timestamp.json", name_snapshot, [tuf_signer(repo, "timestamp-1")])


def serve_target(repo: Repo, name: str, data: bytes) -> None:
    """Serve ``data`` as target ``name`` (its custom metadata kept when it replaces one),
    with TUF metadata re-signed to match."""
    (repo.served / "targets" / name).write_bytes(data)

    def put(targets: Any) -> None:
        old = targets.targets.get(name)
        new = TargetFile.from_data(name, data, ["sha256"])
        if old is not None:
            new.unrecognized_fields.update(old.unrecognized_fields)
        targets.targets[name] = new

    serve_targets(repo, put)


def snapshot_tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (for 'nothing changed' assertions)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".metadata-work" not in p.parts
    }


@pytest.fixture(autouse=True)
def _no_crash_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESECURE_TEST_CRASH_AT", raising=False)
    monkeypatch.delenv("ESECURE_DATA_DIR", raising=False)
