"""`esecure serve` as a real process for the HTTP-layer tests, and raw TLS clients.

The process's stderr goes to a file (its log: what an operator reads), never a pipe a
busy server could fill. Its stdout gives the announced URLs.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

ESECURE = [sys.executable, "-m", "esecure"]


class ServeProcess:
    """``esecure serve PROJECT --port 0 ARGS`` until the ``with`` block ends."""

    def __init__(self, project: Path, *args: str, log: Path) -> None:
        self.project = project
        self.args = args
        self.log_path = log
        self.proc: subprocess.Popen[str] | None = None
        self.announce: list[str] = []
        self.exit_code: int | None = None

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT/``."""
        return self.announce[0].split()[-1]

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.url.rsplit(":", 1)[1].strip("/"))

    @property
    def ca(self) -> Path:
        """The CA file clients must trust."""
        return self.project / "trust" / "ca.pem"

    def log(self) -> str:
        """What the server logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServeProcess:
        env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
        with self.log_path.open("w") as err:
            self.proc = subprocess.Popen(
                [*ESECURE, "serve", str(self.project), "--port", "0", *self.args],
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        assert self.proc.stdout is not None
        for _ in range(8):  # "Listening on …" and the lines under it
            line = self.proc.stdout.readline()
            if not line:
                break
            self.announce.append(line.rstrip("\n"))
            if line.startswith("  at most"):
                break
        assert self.announce and self.announce[0].startswith("Listening on https://"), (
            self.announce,
            self.log(),
        )
        return self

    def stop(self) -> int:
        """SIGTERM, then its exit code (killed after 30 s)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.exit_code = self.proc.returncode
        return self.exit_code

    def __exit__(self, *exc: object) -> None:
        self.stop()


def client_context(ca: Path) -> ssl.SSLContext:
    """A client context pinned to ``ca``."""
    return ssl.create_default_context(cafile=str(ca))


def tls_socket(port: int, ca: Path, *, timeout: float = 10) -> ssl.SSLSocket:
    """A TLS connection to 127.0.0.1:``port``, handshake done."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return client_context(ca).wrap_socket(raw, server_hostname="127.0.0.1")


def read_all(sock: socket.socket, *, limit: int = 1 << 20, timeout: float = 10) -> bytes:
    """Everything until the server closes (bounded in bytes and time)."""
    sock.settimeout(timeout)
    chunks: list[bytes] = []
    total = 0
    deadline = time.monotonic() + timeout
    while total < limit and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except (ssl.SSLError, ConnectionError, TimeoutError):
            break
        if not data:
            break
        chunks.append(data)
        total += len(data)
    return b"".join(chunks)


def raw_exchange(port: int, ca: Path, data: bytes, *, timeout: float = 10) -> bytes:
    """Send ``data`` over TLS, then read the answer until the server closes."""
    with tls_socket(port, ca, timeout=timeout) as sock:
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            sock.sendall(data)  # the server may answer and close before reading it all
        return read_all(sock, timeout=timeout)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer (0 when there is none)."""
    head = answer.split(b"\r\n", 1)[0].split()
    return int(head[1]) if len(head) > 1 and head[1].isdigit() else 0


def request(
    url: str,
    ca: Path,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One well-formed HTTPS request: (status, headers lower-cased, body)."""
    host, _, rest = url.removeprefix("https://").partition("/")
    name, _, port = host.rpartition(":")
    conn = http.client.HTTPSConnection(name, int(port), context=client_context(ca), timeout=30)
    try:
        conn.request(method, "/" + rest, body=body, headers=headers or {})
        response = conn.getresponse()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
        )
    finally:
        conn.close()
