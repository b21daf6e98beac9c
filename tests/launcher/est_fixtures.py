"""Fixtures and small servers for the enrolment tests (imported by test_enrol*, test_nss*)."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esecure.launcher.enrol import EstSettings
from esecure.trust import make_ca, make_server_certificate, write_certificate, write_private_key
from tests.server.est_support import Customer, ServerThread, add_customer

__all__ = ["RawServer", "customer", "data_area", "est_server", "make_data_area", "settings"]


@pytest.fixture
def est_server(demo_project: Path) -> Iterator[ServerThread]:
    """The reference server of a fresh demo project, on 127.0.0.1 (any port)."""
    with ServerThread(demo_project) as server:
        yield server


@pytest.fixture
def customer(est_server: ServerThread) -> Customer:
    """alice, holding key KEY-0001 and a fresh activation code."""
    return add_customer(est_server.db_url)


def make_data_area(directory: Path, serial: str) -> Path:
    """A data area whose identity.json names ``serial``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "identity.json").write_text(json.dumps({"serial": serial}))
    return directory


@pytest.fixture
def data_area(tmp_path: Path, customer: Customer) -> Path:
    """The key's data area (identity.json with the customer's key serial)."""
    return make_data_area(tmp_path / "data", customer.serial)


@pytest.fixture
def settings(est_server: ServerThread) -> EstSettings:
    """Client settings for the test server, trusting only the project's CA."""
    return EstSettings(
        base_url=est_server.est_url,
        ca_file=est_server.project.trust.ca_certificate,
        connect_timeout=5,
        read_timeout=5,
    )


def foreign_tls_pair(directory: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 from another CA (what an intercepting proxy shows)."""
    ca_key, ca_cert = make_ca("Intercepting Proxy CA", "Antivirus Inc.")
    key, cert = make_server_certificate(ca_key, ca_cert)
    write_certificate(directory / "foreign.pem", cert)
    write_private_key(directory / "foreign.key", key, None)
    return directory / "foreign.pem", directory / "foreign.key"


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection goes to ``handle`` (own thread)."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self._handle = handle
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.connections: list[socket.socket] = []

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)
            with contextlib.suppress(OSError, ssl.SSLError):
                self._handle(conn)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sock.close()
        for conn in self.connections:
            conn.close()


def reset(conn: socket.socket) -> None:
    """Close with a TCP RST (what an intercepting middlebox does)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def tls_handler(
    context: ssl.SSLContext, after: Callable[[ssl.SSLSocket], None]
) -> Callable[[socket.socket], None]:
    """Handshake with ``context``, then ``after`` on the TLS socket."""

    def handle(conn: socket.socket) -> None:
        conn.settimeout(5)
        tls = context.wrap_socket(conn, server_side=True)
        after(tls)

    return handle


def connect_proxy(seen: list[str], *, refuse: bool = False) -> Callable[[socket.socket], None]:
    """An HTTP CONNECT proxy (records each target; ``refuse`` answers 407)."""

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def handle(conn: socket.socket) -> None:
        conn.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            chunk = conn.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        seen.append(f"{method} {target}")
        if refuse or method != "CONNECT":
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)), timeout=10)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        forward = threading.Thread(target=pipe, args=(conn, upstream), daemon=True)
        forward.start()
        pipe(upstream, conn)
        forward.join(timeout=10)
        upstream.close()
        conn.close()

    return handle
