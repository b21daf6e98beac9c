"""The update fetcher follows the key's [network] proxy: through a real loopback CONNECT
proxy when one is configured (whatever no_proxy says), direct when "none" (whatever
https_proxy says), the host's environment when "system"."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tuf.api import exceptions

from esecure.updater._fetch import Fetcher
from tests.launcher.est_fixtures import RawServer, connect_proxy

BODY = b"signed metadata stand-in"


@pytest.fixture(autouse=True)
def _no_proxy_from_the_host(monkeypatch):
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def repository(demo_project: Path) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 with the project's server certificate."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *_args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        demo_project / "server" / "tls.pem", demo_project / "keys" / "server-tls.key.pem"
    )
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}/1.root.json"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


def _get(url: str, ca: Path, proxy: str) -> bytes:
    fetcher = Fetcher(timeout=10, ca_file=ca, proxy=proxy)
    try:
        return b"".join(fetcher.fetch(url))
    finally:
        fetcher.close()


def test_configured_proxy_carries_the_update_connection(repository, demo_project, monkeypatch):
    """[network] proxy = an URL: one CONNECT to the repository through it, the bytes
    arrive; the environment's no_proxy does not bypass it."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    seen: list[str] = []
    with RawServer(connect_proxy(seen)) as proxy:
        data = _get(repository, demo_project / "trust/ca.pem", f"http://127.0.0.1:{proxy.port}")
    assert data == BODY
    assert seen == [f"CONNECT {repository.split('/')[2]}"]


def test_proxy_none_bypasses_the_environment_proxy(repository, demo_project, monkeypatch):
    """[network] proxy = "none": the environment's https_proxy (one refusing everything)
    is not asked; the fetch goes direct."""
    seen: list[str] = []
    with RawServer(connect_proxy(seen, refuse=True)) as proxy:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        data = _get(repository, demo_project / "trust/ca.pem", "none")
    assert data == BODY
    assert seen == []


def test_system_follows_the_environment_proxy(repository, demo_project, monkeypatch):
    """[network] proxy = "system": the environment's proxy is used (here it refuses the
    tunnel, so the fetch fails after one CONNECT)."""
    seen: list[str] = []
    with RawServer(connect_proxy(seen, refuse=True)) as proxy:
        monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        with pytest.raises(exceptions.DownloadError):
            _get(repository, demo_project / "trust/ca.pem", "system")
    assert seen == [f"CONNECT {repository.split('/')[2]}"]
