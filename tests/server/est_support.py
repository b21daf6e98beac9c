"""Helpers for tests that need a real EST server on 127.0.0.1 (shared with launcher tests)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from esecure.config import Project, load_project
from esecure.server import admin as ops
from esecure.server.ca import Issuer
from esecure.server.http import Limits
from esecure.server.registry import Registry
from esecure.server.serve import Running, default_db_url, start

__all__ = [
    "PKCS10",
    "Answer",
    "Customer",
    "ServerThread",
    "add_customer",
    "basic",
    "enrol_body",
    "est_request",
    "make_csr",
]


@dataclass(frozen=True)
class Customer:
    """A registered customer with a bound key and a fresh activation code."""

    identifier: str
    serial: str
    code: str


def add_customer(
    db_url: str, identifier: str = "alice", serial: str = "KEY-0001", *, hours: int = 72
) -> Customer:
    """Register ``identifier``, import and bind ``serial``, issue an activation code."""
    registry = Registry.open(db_url)
    try:
        now = time.time()
        if registry.user(identifier) is None:
            ops.add_user(registry, identifier, now)
        registry.add_keys([(serial, "B1", "2026-11-27")])
        ops.assign(registry, serial, identifier)
        code = ops.issue_code(registry, identifier, now, hours).code
    finally:
        registry.close()
    return Customer(identifier, serial, code)


class ServerThread:
    """The reference server running in its own thread and event loop, on 127.0.0.1:0."""

    def __init__(
        self,
        project_dir: Path,
        *,
        app_factory: Callable[[Issuer, Registry], web.Application] | None = None,
        db_url: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.project: Project = load_project(project_dir)
        self.limits = limits
        self.db_url = db_url or default_db_url(self.project)
        self._opened: list[Registry] = []
        self._factory = app_factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._running: Running | None = None

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT/``."""
        assert self._running is not None
        return self._running.url

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rsplit(":", 1)[1].strip("/"))

    @property
    def est_url(self) -> str:
        """The EST base URL."""
        return f"{self.url}.well-known/est/"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start(
                self.project,
                host="127.0.0.1",
                port=0,
                db_url=self.db_url,
                app_factory=self._factory,
                limits=self.limits,
            ),
            self._loop,
        )
        self._running = future.result(timeout=30)
        return self

    def registry(self) -> Registry:
        """A connection of the test's own to the server's registry (closed on exit)."""
        self._opened.append(Registry.open(self.db_url))
        return self._opened[-1]

    def __exit__(self, *exc: object) -> None:
        for registry in self._opened:
            registry.close()
        if self._running is not None:
            asyncio.run_coroutine_threadsafe(self._running.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


def make_csr(
    identifier: str,
    serial: str | None,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | None = None,
) -> bytes:
    """A DER PKCS#10 request with CN=identifier and serialNumber=serial."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, identifier)]
    if serial is not None:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def certificates(self) -> list[x509.Certificate]:
        """The certificates of a certs-only PKCS#7 body."""
        return pkcs7.load_der_pkcs7_certificates(base64.b64decode(self.body))


def est_request(
    url: str,
    *,
    ca: Path,
    method: str = "POST",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> Answer:
    """One HTTPS request pinned to ``ca``, optionally with a client certificate."""
    context = ssl.create_default_context(cafile=str(ca))
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=30)
    try:
        conn.request(method, parts.path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


def enrol_body(csr_der: bytes) -> bytes:
    """The RFC 7030 body: base64 of the DER request."""
    return base64.encodebytes(csr_der)


def basic(identifier: str, code: str) -> str:
    """An HTTP Basic Authorization value."""
    return "Basic " + base64.b64encode(f"{identifier}:{code}".encode()).decode()


PKCS10 = {"Content-Type": "application/pkcs10", "Content-Transfer-Encoding": "base64"}
