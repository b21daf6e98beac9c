"""The server's TLS as a scanner sees it: sslscan (Debian's) finds nothing below TLS 1.2
and no suite but AEAD ones. The same scan of a deliberately weak `openssl s_server`
reports its TLS 1.0 and its CBC suites: the scanner can see what it must not find."""

from __future__ import annotations

import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

from tests.server.est_support import ServerThread

pytestmark = pytest.mark.slow

AEAD = ("GCM", "CHACHA20", "CCM")  # TLS 1.3's suites are all of these


@dataclass(frozen=True)
class Scan:
    """What sslscan found: enabled protocol versions, accepted (version, suite)."""

    protocols: set[str]
    suites: set[tuple[str, str]]

    @property
    def non_aead(self) -> set[tuple[str, str]]:
        """Accepted suites that are not AEAD (CBC, RC4, 3DES, NULL …)."""
        return {(v, s) for v, s in self.suites if not any(mark in s for mark in AEAD)}


def _sslscan(port: int) -> Scan:
    proc = subprocess.run(
        ["sslscan", "--no-colour", "--xml=-", f"127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    xml = proc.stdout[proc.stdout.index("<?xml") :]
    root = ET.fromstring(xml)  # noqa: S314 - sslscan's own output
    test = root.find("ssltest")
    assert test is not None, xml[:500]
    protocols = {
        f"{p.get('type')}{p.get('version')}"
        for p in test.iter("protocol")
        if p.get("enabled") == "1"
    }
    suites = {
        (c.get("sslversion", ""), c.get("cipher", ""))
        for c in test.iter("cipher")
        if c.get("status") in ("accepted", "preferred")
    }
    return Scan(protocols, suites)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _weak_server(project, port: int) -> subprocess.Popen[bytes]:
    """openssl s_server with TLS 1.0 and every suite, CBC included (security level 0:
    Debian's OpenSSL refuses TLS 1.0 otherwise)."""
    proc = subprocess.Popen(
        [
            "openssl", "s_server", "-quiet", "-www",
            "-accept", f"127.0.0.1:{port}",
            "-cert", str(project / "server" / "tls.pem"),
            "-key", str(project / "keys" / "server-tls.key.pem"),
            "-min_protocol", "TLSv1",
            "-cipher", "ALL:@SECLEVEL=0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(100):  # bounded: 10 s
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("openssl s_server did not start")


def test_server_offers_tls12_plus_and_aead_only_and_the_scanner_can_tell(demo_project):
    """Our server: TLS 1.2 and 1.3 only, AEAD suites only. The weak s_server in the same
    test: the same parse reports its TLS 1.0 and CBC suites."""
    with ServerThread(demo_project) as server:
        ours = _sslscan(server.port)
    port = _free_port()
    weak = _weak_server(demo_project, port)
    try:
        theirs = _sslscan(port)
    finally:
        weak.terminate()
        weak.wait(timeout=10)
    print(f"\nours: {sorted(ours.protocols)}; {sorted(ours.suites)}")
    print(f"weak: {sorted(theirs.protocols)}; {len(theirs.non_aead)} non-AEAD suites")
    assert ours.protocols == {"tls1.2", "tls1.3"}
    assert ours.suites  # the scan did see suites
    assert ours.non_aead == set()
    assert all(s.startswith(("ECDHE-", "TLS_")) for _v, s in ours.suites)  # forward secrecy
    assert "tls1.0" in theirs.protocols
    assert any(v == "TLSv1.0" for v, _s in theirs.non_aead)
    assert any(
        "CBC" in s or s.endswith(("-SHA", "-SHA256", "-SHA384")) for _v, s in theirs.non_aead
    )
