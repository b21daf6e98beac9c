"""The BiDi driver and the enrolled profiles, proved on a site that requires a client
certificate: real Firefox ESR (headless) with the certificate our EST service issued is
let in and the site sees its subject; without one, Firefox ends on its error page.

The site is the project's TLS context (:func:`esecure.server.serve.server_context`) with
client certificates required instead of optional, so a missing one fails the handshake.
"""

from __future__ import annotations

import asyncio
import html
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509

from esecure.config import load_project
from esecure.demo.bidi import Browser
from esecure.server.serve import server_context
from tests import firefox_profiles
from tests.firefox_profiles import FIREFOX_TEST, EnrolledProfile, live_copy

firefox_project = firefox_profiles.firefox_project
firefox_server = firefox_profiles.firefox_server
alice_profile = firefox_profiles.alice_profile
no_cert_profile = firefox_profiles.no_cert_profile

pytestmark = FIREFOX_TEST

PAGE = """<!doctype html><html lang="en"><head><title>{title}</title></head><body>
<h1 id="subject">{subject}</h1>
<form method="post" action="/echo"><label>Word <input id="word" name="word"></label>
<button id="send" type="submit">Send</button></form></body></html>"""


class MtlsSite:
    """An aiohttp site on 127.0.0.1 that requires a client certificate from the project's
    CA and records the subject of each one it is shown (own thread and event loop)."""

    def __init__(self, project_dir: Path) -> None:
        self.context = server_context(load_project(project_dir), None)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.subjects: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _subject(self, request: web.Request) -> str:
        tls = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = tls.getpeercert(binary_form=True) if tls else None
        subject = x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else ""
        self.subjects.append(subject)
        return subject

    async def _page(self, request: web.Request) -> web.Response:
        subject = html.escape(self._subject(request))
        return web.Response(
            text=PAGE.format(title="Welcome", subject=subject), content_type="text/html"
        )

    async def _echo(self, request: web.Request) -> web.Response:
        self._subject(request)
        word = html.escape(str((await request.post()).get("word", "")))
        return web.Response(
            text=f"<!doctype html><title>Echo</title><p id='said'>{word}</p>",
            content_type="text/html",
        )

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_post("/echo", self._echo)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.context)
        await site.start()
        self.url = f"https://127.0.0.1:{self._runner.addresses[0][1]}/"

    def __enter__(self) -> MtlsSite:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@pytest.fixture
def mtls_site(firefox_project: Path) -> Iterator[MtlsSite]:
    """The client-certificate site, for one test."""
    with MtlsSite(firefox_project) as site:
        yield site


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a test's screenshots go (printed, so a failing run shows where to look)."""
    directory = tmp_path / "screenshots"
    print(f"screenshots: {directory}")
    return directory


def test_enrolled_certificate_opens_the_site(
    alice_profile: EnrolledProfile, mtls_site: MtlsSite, tmp_path: Path, shots: Path
) -> None:
    """Firefox on the profile the key's certificate step made shows the site, which saw
    the certificate the EST service issued (CN=alice, serialNumber=KEY-0001); typing and a
    real click submit a form on the same client-authenticated connection."""
    expected = alice_profile.certificate.subject.rfc4514_string()
    profile = live_copy(alice_profile.path, tmp_path / "profile")
    with Browser.start(profile, home=tmp_path / "home") as browser:
        browser.navigate(mtls_site.url)
        browser.screenshot(shots / "01-welcome.png")
        assert browser.title == "Welcome"
        assert browser.text("#subject") == expected
        browser.type("#word", "bonjour")
        with browser.expect_load():
            browser.click("#send")
        browser.screenshot(shots / "02-echo.png")
        assert browser.url == mtls_site.url + "echo"
        assert browser.text("#said") == "bonjour"
    assert mtls_site.subjects == [expected, expected]
    assert "CN=alice" in expected and "KEY-0001" in expected
    assert (shots / "01-welcome.png").read_bytes().startswith(b"\x89PNG")


def test_without_certificate_firefox_shows_its_error_page(
    no_cert_profile: Path, mtls_site: MtlsSite, tmp_path: Path, shots: Path
) -> None:
    """A profile that trusts the CA but holds no certificate fails the handshake: Firefox
    ends on about:neterror?e=nssFailure2 and the site never saw a request."""
    profile = live_copy(no_cert_profile, tmp_path / "profile")
    with Browser.start(profile, home=tmp_path / "home") as browser:
        reached = browser.navigate(mtls_site.url)
        browser.screenshot(shots / "01-refused.png")
        assert reached == mtls_site.url
        assert browser.document_uri().startswith("about:neterror?e=nssFailure2"), (
            browser.document_uri()
        )
    assert mtls_site.subjects == []
