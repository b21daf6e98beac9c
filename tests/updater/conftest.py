"""Fixtures: a real published repository, served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import random
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.interface import import_ed25519_privatekey_from_file
from securesystemslib.signer import Signer, SSlibSigner
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from esecure.config import Project, load_project
from esecure.scaffold import InitOptions, init_project
from esecure.updater.publish import init_keys, publish
from esecure_onkey.layout import IMAGE_KEY


def _quiet(*_args: object) -> None:
    return None


_NATIVE = random.Random(42).randbytes(1_000_000)  # noqa: S311 - test data, same in every version


def make_bundle(root: Path, version: str, *, big: bytes | None = None, files: int = 60) -> Path:
    """An application root like the bootstrap runs: lib/linux/esecure/..., product.json..."""
    lib = root / "lib" / "linux" / "esecure"
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "__init__.py").write_text(f'__version__ = "{version}"\n')
    for i in range(files):
        (lib / f"mod_{i:03}.py").write_text(f"# module {i}\nVALUE = {i}\n" + "x = 1\n" * 200)
    (lib / "_native.so").write_bytes(big if big is not None else _NATIVE)
    (root / "firefox" / "linux").mkdir(parents=True, exist_ok=True)
    (root / "firefox" / "linux" / "omni.ja").write_bytes(b"omni" * 50_000)
    (root / "profile").mkdir(exist_ok=True)
    (root / "profile" / "user.js").write_text('user_pref("a", 1);\n')
    (root / "trust").mkdir(exist_ok=True)
    (root / "trust" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (root / "product.json").write_text(f'{{"version": "{version}"}}\n')
    return root


@dataclass
class Repo:
    """A key project with a published repository and a web server serving a copy of it."""

    project: Project
    served: Path
    url: str
    initial_root: Path

    @property
    def cd(self) -> Path:
        """The CD-ROM root of the key: its initial TUF root, image-signing key, product.json."""
        return self.initial_root.parent

    @property
    def image_key(self) -> Path:
        """The CD-ROM's image-signing public key (the install and the bootstrap check with)."""
        return self.cd / "trust" / "image-signing.pub.pem"

    def sync(self) -> None:
        """Serve what the project's repository holds now."""
        shutil.rmtree(self.served)
        shutil.copytree(self.project.root / "repository", self.served)

    def publish(self, version: str, tmp: Path, *, required: bool = False) -> None:
        """Publish ``version`` (a bundle differing in one module) and serve it."""
        bundle = make_bundle(tmp / f"bundle-{version}", version)
        publish(self.project, version, bundle, required=required, say=_quiet)
        self.sync()


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


@pytest.fixture
def repo(tmp_path: Path, http_dir: tuple[Path, str]) -> Repo:
    """Demo project, keys made, version 1.0.0 published and served."""
    directory = tmp_path / "project"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    project = load_project(directory)
    init_keys(project, say=_quiet)
    initial_root = tmp_path / "cd-root.json"
    shutil.copyfile(directory / "repository" / "metadata" / "root.json", initial_root)
    (tmp_path / "trust").mkdir()
    shutil.copyfile(project.trust.image_signing_public_key, tmp_path / IMAGE_KEY)
    (tmp_path / "product.json").write_text('{"version": "0.9.0"}\n')
    served, url = http_dir
    r = Repo(project, served, url, initial_root)
    r.publish("1.0.0", tmp_path)
    return r


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
