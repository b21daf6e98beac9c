"""Real servers on 127.0.0.1 for the diagnostics, started once per session: HTTPS with the
demo project's own CA chain, HTTPS with another CA (what an intercepting antivirus or
proxy presents), HTTPS whose clock is two hours ahead, plain HTTP (not TLS), a port that
refuses, a CONNECT proxy and one that refuses."""

from __future__ import annotations

import email.utils
import http.server
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from esecure.config import load_project
from esecure.launcher.diagnostics import Subject
from esecure.scaffold import InitOptions, init_project
from esecure.trust import make_ca, make_server_certificate, write_certificate, write_private_key
from tests.launcher.est_fixtures import RawServer, connect_proxy
from tests.launcher.test_selfcheck import medium  # noqa: F401 - the small signed CD-ROM

SKEW = 7200.0  # seconds the skewed server's clock is ahead


class _Handler(http.server.BaseHTTPRequestHandler):
    """Answers HEAD and GET with 200 and an HTTP Date offset by the server's ``skew``."""

    server: _Server

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate((timestamp or time.time()) + self.server.skew, usegmt=True)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD  # noqa: N815 - http.server names handlers so

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    skew = 0.0


class Site:
    """An HTTP(S) server on 127.0.0.1 (its own thread) and its URL."""

    def __init__(self, tls: tuple[Path, Path] | None, skew: float = 0.0) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.skew = skew
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class Servers:
    """Everything the network checks are tried against."""

    project: Path
    ca_file: Path
    foreign_ca: Path
    good: Site
    foreign: Site
    skewed: Site
    plain: Site
    closed_port: int


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The servers, their CA, and a port that refuses (bound, never listening)."""
    base = tmp_path_factory.mktemp("diagnostics-servers")
    project_dir = base / "project"
    init_project(project_dir, InitOptions(demo=True), passphrase=None)
    trust = load_project(project_dir).trust
    assert trust.server_certificate is not None and trust.server_key is not None
    own = (trust.server_certificate, trust.server_key)
    foreign_ca_key, foreign_ca = make_ca("Intercepting Proxy CA", "Antivirus Inc.")
    key, cert = make_server_certificate(foreign_ca_key, foreign_ca)
    write_certificate(base / "foreign-ca.pem", foreign_ca)
    write_certificate(base / "foreign.pem", cert)
    write_private_key(base / "foreign.key", key, None)
    foreign = (base / "foreign.pem", base / "foreign.key")
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    sites = [Site(own), Site(foreign), Site(own, skew=SKEW), Site(None)]
    try:
        yield Servers(
            project_dir,
            trust.ca_certificate,
            base / "foreign-ca.pem",
            *sites,
            closed_port=refusing.getsockname()[1],
        )
    finally:
        for site in sites:
            site.close()
        refusing.close()


@pytest.fixture
def proxy() -> Iterator[tuple[RawServer, list[str]]]:
    """An HTTP CONNECT proxy on 127.0.0.1 and the targets it was asked for."""
    seen: list[str] = []
    with RawServer(connect_proxy(seen)) as server:
        yield server, seen


@pytest.fixture
def refusing_proxy() -> Iterator[RawServer]:
    """A proxy that answers every CONNECT with 407."""
    with RawServer(connect_proxy([], refuse=True)) as server:
        yield server


def make_subject(
    root: Path,
    servers: Servers,
    url: str | None = None,
    *,
    data_dir: Path | None = None,
    **roles: str,
) -> Subject:
    """A key whose product.json sends every role to ``url`` (default: the server with the
    key's own chain) unless ``roles`` (portal=, enrolment=, updates=) says otherwise, and
    whose trust/ pins the project's CA (its CD-ROM is empty: the image check fails, which
    network tests ignore)."""
    trust = root / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    (trust / "ca.pem").write_bytes(servers.ca_file.read_bytes())
    default = url or servers.good.url
    product = {
        "id": "demo-bank",
        "urls": {
            "site": roles.get("portal", default),
            "enrolment": roles.get("enrolment", default),
            "updates": roles.get("updates", default),
        },
    }
    return Subject(
        cd=root / "cd",
        platform="linux",
        app=root / "app",
        trust=trust,
        firefox=None,
        data_dir=data_dir,
        product=product,
    )


def flip(path: Path, offset: int = 10) -> None:
    """Flip one bit of one byte of ``path`` (its size unchanged)."""
    data = path.read_bytes()
    path.write_bytes(data[:offset] + bytes([data[offset] ^ 1]) + data[offset + 1 :])
