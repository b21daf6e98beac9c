"""Fixtures of the portal's HTTP tests: one demo project and one real server (HTTPS on
127.0.0.1, started by `esecure serve`'s own ``start``) for the session, and customers
enrolled through its EST service, each with a real client certificate."""

from __future__ import annotations

import base64
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from esecure.config import load_project
from esecure.scaffold import InitOptions, init_project
from esecure.server import admin as ops
from esecure.server.ca import Issuer
from esecure.server.est import make_app
from esecure.server.portal import PortalSettings, install
from esecure.server.portal.codes import CodeHasher
from esecure.server.portal.pepper import load_pepper
from esecure.server.portal.store import PortalStore
from esecure.server.registry import Registry
from tests.server.est_support import (
    PKCS10,
    ServerThread,
    add_customer,
    basic,
    enrol_body,
    est_request,
    make_csr,
)
from tests.server.portal.browser import Browser

PERSONAL_CODE = "409217"


@dataclass(frozen=True)
class User:
    """A customer with a key, an enrolled certificate and a mail code."""

    identifier: str
    serial: str
    mail_code: str
    cert: tuple[Path, Path]


@pytest.fixture(scope="session")
def portal_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo key project for the whole session."""
    directory = tmp_path_factory.mktemp("portal") / "project"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    return directory


@pytest.fixture(scope="session")
def portal_server(portal_project: Path) -> Iterator[ServerThread]:
    """The reference server (EST + portal) of that project."""
    with ServerThread(portal_project) as server:
        yield server


def enrol(
    server: ServerThread, identifier: str, serial: str, code: str, into: Path
) -> tuple[Path, Path]:
    """A client certificate for ``identifier`` through the EST service: (cert, key) files."""
    key = ec.generate_private_key(ec.SECP256R1())
    answer = est_request(
        server.est_url + "simpleenroll",
        ca=server.project.trust.ca_certificate,
        body=enrol_body(make_csr(identifier, serial, key)),
        headers={**PKCS10, "Authorization": basic(identifier, code)},
    )
    assert answer.status == 200, answer.body
    (cert,) = pkcs7.load_der_pkcs7_certificates(base64.b64decode(answer.body))
    into.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = into / f"{identifier}.pem", into / f"{identifier}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


_numbers = itertools.count(1)


def new_user(server: ServerThread, tmp: Path, *, personalised: bool = False) -> User:
    """A fresh customer (unique identifier and key), enrolled; with ``personalised`` their
    first connection is already done (personal code :data:`PERSONAL_CODE`)."""
    n = next(_numbers)
    identifier, serial = f"user{n}.{time.monotonic_ns() % 10**6}", f"KEY-P{n:04d}"
    customer = add_customer(server.db_url, identifier, serial)
    cert = enrol(server, identifier, serial, customer.code, tmp / "certs")
    registry = Registry.open(server.db_url)
    try:
        hasher = CodeHasher(load_pepper(server.project))
        mail = ops.new_mail_code(registry, hasher, identifier, time.time())
        if personalised:
            store = PortalStore(registry)
            store.set_code(identifier, hasher.hash(identifier, PERSONAL_CODE))
            store.register(
                identifier, email="a@b.example", phone="0102030405", cert_serial="", now=time.time()
            )
    finally:
        registry.close()
    return User(identifier, serial, mail.code, cert)


@pytest.fixture
def make_user(portal_server: ServerThread, tmp_path: Path) -> Callable[..., User]:
    """Makes customers on the session's server."""
    return lambda **kw: new_user(portal_server, tmp_path, **kw)


@pytest.fixture
def browser_for(portal_server: ServerThread) -> Callable[..., Browser]:
    """A browser on the session's server, with a user's certificate (or none)."""

    def make(user: User | None = None, *, server: ServerThread | None = None) -> Browser:
        target = server or portal_server
        return Browser(target.url, target.project.trust.ca_certificate, user.cert if user else None)

    return make


def login(browser: Browser, user: User, code: str = PERSONAL_CODE):
    """Identifier, certificate and secret code: the page reached."""
    page = browser.get("/login")
    keypad = browser.post("/login", {"csrf": page.csrf, "identifier": user.identifier})
    assert keypad.name == "code", keypad.text
    return browser.submit_code(keypad, code)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time on."""
        self.now += seconds


@contextlib.contextmanager
def custom_server(
    project: Path,
    *,
    settings: PortalSettings | None = None,
    clock: Callable[[], float] | None = None,
    trusted_proxy: str | None = None,
) -> Iterator[ServerThread]:
    """A second server on the session's project and registry, its portal tuned."""

    def factory(issuer: Issuer, registry: Registry) -> web.Application:
        app = make_app(issuer, registry, trusted_proxy=trusted_proxy)
        install(
            app, project=load_project(project), registry=registry, settings=settings, clock=clock
        )
        return app

    with ServerThread(project, app_factory=factory) as server:
        yield server
