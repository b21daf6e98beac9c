"""Real Firefox ESR (headless) on the profile the launcher prepared completes a TLS
client-authenticated request; the server checks the certificate carries the key's serial.

One Firefox at a time, always under a deadline; assertions are on the server's side
(FINDINGS: a headless screenshot of an error page hangs).
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from esecure.launcher import enrol as est
from esecure.launcher import nss
from tests.launcher import est_fixtures
from tests.launcher.est_fixtures import RawServer

customer = est_fixtures.customer
data_area = est_fixtures.data_area
est_server = est_fixtures.est_server
settings = est_fixtures.settings

FIREFOX_DIR = Path("/usr/lib/firefox-esr")
FIREFOX = shutil.which("firefox-esr")
DEADLINE = 45.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(FIREFOX is None, reason="firefox-esr is installed by install-system-deps"),
]

USER_JS = """\
user_pref("security.default_personal_cert", "Select Automatically");
user_pref("browser.shell.checkDefaultBrowser", false);
user_pref("browser.startup.homepage_override.mstone", "ignore");
user_pref("datareporting.policy.dataSubmissionEnabled", false);
user_pref("datareporting.healthreport.uploadEnabled", false);
user_pref("toolkit.telemetry.enabled", false);
user_pref("app.normandy.enabled", false);
user_pref("app.update.auto", false);
user_pref("extensions.update.enabled", false);
user_pref("browser.safebrowsing.malware.enabled", false);
user_pref("browser.safebrowsing.phishing.enabled", false);
user_pref("browser.safebrowsing.downloads.remote.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("network.proxy.type", 0);
user_pref("browser.region.update.enabled", false);
user_pref("security.OCSP.enabled", 0);
user_pref("security.remote_settings.crlite_filters.enabled", false);
"""


class ClientCertSite:
    """An HTTPS site on 127.0.0.1 that requires a client certificate from the project CA
    and records, for each connection, the key serial it saw or why the handshake failed."""

    def __init__(self, project: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(
            project / "server/tls.pem", project / "keys/server-tls.key.pem"
        )
        self.context.load_verify_locations(project / "trust/ca.pem")
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.events: list[str] = []
        self.seen = threading.Event()

    def handle(self, conn) -> None:
        conn.settimeout(10)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.events.append(f"handshake failed: {exc}")
            self.seen.set()
            return
        cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        serial = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
        try:
            tls.recv(65536)
            body = b"<html><body>welcome</body></html>"
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
        finally:
            self.events.append(f"serial {serial}")
            self.seen.set()
            tls.close()


def _profile(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "user.js").write_text(USER_JS)
    return directory


def _visit(profile: Path, url: str, site: ClientCertSite, home: Path) -> list[str]:
    """Start Firefox on ``profile`` at ``url``; return the site's events (bounded)."""
    site.events.clear()
    site.seen.clear()
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "MOZ_HEADLESS": "1",
        "MOZ_CRASHREPORTER_DISABLE": "1",
        "TMPDIR": str(home),
    }
    command = [
        FIREFOX,
        "--headless",
        "--no-remote",
        "--profile",
        str(profile),
        "--screenshot",
        str(home / "shot.png"),
        url,
    ]
    with subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as proc:
        try:
            site.seen.wait(DEADLINE)
            time.sleep(0.5)  # let a retry after a failure show up too
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return list(site.events)


@pytest.mark.parametrize("method", ["ctypes", "tools"])
def test_firefox_uses_the_delivered_certificate(method, tmp_path, data_area, customer, settings):
    """Before delivery the site refuses Firefox; after it, the site sees the key's serial."""
    project = Path(settings.ca_file).parent.parent
    site = ClientCertSite(project)
    profile = _profile(data_area / "profile")
    with RawServer(site.handle) as server:
        url = f"https://127.0.0.1:{server.port}/"
        before = _visit(profile, url, site, tmp_path / "home")
        assert before, "Firefox never reached the site"
        assert not any(e.startswith("serial") for e in before), before

        credential = est.enrol(data_area, customer.identifier, customer.code, settings)
        ca = x509.load_pem_x509_certificate(Path(settings.ca_file).read_bytes())
        nss.deliver(profile, credential, ca, firefox_dir=FIREFOX_DIR, method=method)

        after = _visit(profile, url, site, tmp_path / "home")
    assert "serial KEY-0001" in after, after


def test_firefox_trusting_the_ca_without_the_certificate_is_refused(tmp_path, demo_project):
    """With the CA trusted but no client certificate the site sees a failed handshake: the
    delivered certificate is what lets Firefox in."""
    site = ClientCertSite(demo_project)
    profile = _profile(tmp_path / "profile")
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{profile}", "--empty-password"], check=True, timeout=30
    )
    subprocess.run(
        [
            "certutil",
            "-A",
            "-d",
            f"sql:{profile}",
            "-n",
            "ca",
            "-t",
            "C,,",
            "-i",
            str(demo_project / "trust/ca.pem"),
        ],
        check=True,
        timeout=30,
    )
    with RawServer(site.handle) as server:
        events = _visit(profile, f"https://127.0.0.1:{server.port}/", site, tmp_path / "home")
    assert events, "Firefox never reached the site"
    assert all(e.startswith("handshake failed") for e in events), events
