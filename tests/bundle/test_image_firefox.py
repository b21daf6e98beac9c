"""Firefox from the image, headless, with the profile template: policies really apply."""

from __future__ import annotations

import http.server
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ALLOWED_TIMEOUT = 60
BLOCKED_WAIT = 12  # an allowed page loads in ~3 s; a blocked one leaves Firefox waiting


class _Server:
    def __init__(
        self, cert: Path, key: Path, body: bytes = b"<html><body>bank</body></html>"
    ) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def bank(demo_image) -> Iterator[_Server]:
    """An HTTPS site with the project's server certificate (issued by the project's CA)."""
    server = _Server(
        demo_image.project / "server" / "tls.pem",
        demo_image.project / "keys" / "server-tls.key.pem",
    )
    yield server
    server.close()


def _firefox(extracted: Path, tmp_path: Path, url: str, timeout: float) -> Path:
    """Run the image's Firefox headless on a fresh copy of the profile template."""
    profile = tmp_path / "profile"
    profile.mkdir()
    shutil.copyfile(extracted / "profile" / "user.js", profile / "user.js")
    (tmp_path / "home").mkdir()
    shot = tmp_path / "shot.png"
    proc = subprocess.Popen(
        [
            str(extracted / "firefox/linux/firefox-esr"),
            "--headless",
            "--no-remote",
            "--profile",
            str(profile),
            "--screenshot",
            str(shot),
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")},
    )
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)
    return shot


def test_firefox_trusts_the_project_ca_through_the_policy(extracted, bank, tmp_path):
    """The site, served with a certificate from the project's CA, loads (Certificates policy)."""
    shot = _firefox(extracted, tmp_path, f"https://127.0.0.1:{bank.port}/portal", ALLOWED_TIMEOUT)
    assert "/portal" in bank.paths
    assert shot.is_file()


def test_firefox_blocks_hosts_outside_the_allow_list(extracted, bank, tmp_path):
    """Another host name for the same server is blocked by WebsiteFilter: no request."""
    _firefox(extracted, tmp_path, f"https://localhost:{bank.port}/elsewhere", BLOCKED_WAIT)
    assert bank.paths == []
