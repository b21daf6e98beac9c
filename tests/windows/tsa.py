"""A local RFC 3161 timestamp authority for the tests: `openssl ts -reply` behind a small
HTTP server on 127.0.0.1 (what a bank's TSA answers to osslsigncode's ``-ts URL``)."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

MAX_QUERY = 64 * 1024
OPENSSL_TIMEOUT = 30

_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/tsa-ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


@dataclass(frozen=True)
class Tsa:
    """A running TSA: its URL and the CA certificate its timestamps chain to."""

    url: str
    ca_certificate: Path
    requests: list[int]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _material(directory: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("e-secure test TSA CA"))
        .issuer_name(_name("e-secure test TSA CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("e-secure test TSA"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (directory / "tsa-ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "tsa.pem").write_bytes(cert.public_bytes(pem))
    (directory / "tsa.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (directory / "serial").write_text("01\n")
    (directory / "tsa.cnf").write_text(_CONFIG.format(dir=directory))


@contextmanager
def running_tsa() -> Iterator[Tsa]:
    """A TSA on 127.0.0.1 (a free port) for the duration of the block."""
    with tempfile.TemporaryDirectory(prefix="esecure-tsa-") as tmp:
        directory = Path(tmp)
        _material(directory)
        requests: list[int] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                if not 0 < length <= MAX_QUERY:
                    self.send_error(400, "bad timestamp query")
                    return
                query = self.rfile.read(length)
                with lock:
                    requests.append(length)
                    (directory / "query.tsq").write_bytes(query)
                    proc = subprocess.run(
                        [
                            "openssl",
                            "ts",
                            "-reply",
                            "-config",
                            str(directory / "tsa.cnf"),
                            "-queryfile",
                            str(directory / "query.tsq"),
                            "-out",
                            str(directory / "reply.tsr"),
                        ],
                        capture_output=True,
                        timeout=OPENSSL_TIMEOUT,
                        check=False,
                    )
                    reply = (directory / "reply.tsr").read_bytes() if proc.returncode == 0 else b""
                if not reply:
                    self.send_error(500, "openssl ts failed")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            yield Tsa(f"http://127.0.0.1:{port}/", directory / "tsa-ca.pem", requests)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(10)
