"""The bank portal in a real Firefox ESR (headless, driven over WebDriver BiDi): steps 7
to 12 of the guide, then the everyday journey, and the two refused logins.

Each customer's profile holds the certificate our EST service issued to their key, put
there by the launcher's own certificate step (:mod:`tests.firefox_profiles`). The pages
are driven with real clicks and key presses; every page is photographed into the test's
``screenshots/`` directory (its path is printed). One Firefox per scenario, one server
for the session.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from esecure.demo.bidi import Browser
from esecure.demo.journey import Tour, first_connection
from esecure.server import admin as ops
from esecure.server.portal.codes import CodeHasher
from esecure.server.portal.pepper import load_pepper
from esecure.server.portal.store import PortalStore
from tests import firefox_profiles
from tests.firefox_profiles import FIREFOX_TEST, EnrolledProfile, enrolled_profile, live_copy
from tests.server.est_support import ServerThread

firefox_project = firefox_profiles.firefox_project
firefox_server = firefox_profiles.firefox_server
alice_profile = firefox_profiles.alice_profile
no_cert_profile = firefox_profiles.no_cert_profile

pytestmark = FIREFOX_TEST

PERSONAL_CODE = "480951"


@pytest.fixture
def tour(request: pytest.FixtureRequest, firefox_server: ServerThread, tmp_path: Path):
    """Start Firefox on a profile: ``tour(profile_template)`` (one start per test)."""
    started: list[Browser] = []
    shots = tmp_path / "screenshots"
    print(f"screenshots: {shots}")

    def start(template: Path) -> Tour:
        profile = live_copy(template, tmp_path / f"profile-{len(started)}")
        started.append(Browser.start(profile, home=tmp_path / "home"))
        return Tour(started[-1], firefox_server.url, shots)

    yield start
    for browser in started:
        browser.close()


def mail_code(server: ServerThread, identifier: str) -> str:
    """The bank posts ``identifier`` a new mail code (the admin command's own function)."""
    registry = server.registry()
    hasher = CodeHasher(load_pepper(server.project))
    return ops.new_mail_code(registry, hasher, identifier, time.time()).code


@pytest.fixture(scope="session")
def bob_profile(
    firefox_server: ServerThread, tmp_path_factory: pytest.TempPathFactory
) -> EnrolledProfile:
    """bob's key KEY-0002 enrolled on the session's server."""
    return enrolled_profile(tmp_path_factory.mktemp("bob"), firefox_server, "bob", "KEY-0002")


@pytest.fixture
def julie(firefox_server: ServerThread, tmp_path: Path) -> tuple[EnrolledProfile, str]:
    """A new customer, julie, her key enrolled and her mail code posted."""
    profile = enrolled_profile(tmp_path / "julie", firefox_server, "julie", "KEY-0009")
    return profile, mail_code(firefox_server, "julie")


def _first_connection(t: Tour, identifier: str, mail: str) -> None:
    """Steps 7 to 9: from the site's address to "your certificate is registered"."""
    browser = t.browser
    browser.navigate(t.base)
    assert t.page() == "login" and browser.url == t.base + "login"
    t.shot("login")
    t.follow("#lang-fr", "login")
    assert browser.evaluate("document.documentElement.lang") == "fr"
    t.follow("#lang-en", "login")
    assert browser.evaluate("document.documentElement.lang") == "en"

    # Steps 7 to 9: identifier + certificate, the mail code on the keypad, again, a
    # personal code twice, contact details, "your certificate is registered".
    first_connection(
        t,
        identifier,
        mail,
        PERSONAL_CODE,
        email=f"{identifier}@example.com",
        phone="01 23 45 67 89",
    )


def _services(t: Tour, identifier: str) -> None:
    """Steps 10 and 11: client area, a service group expanded and collapsed, a statement
    PDF shown by Firefox's built-in viewer (seed rows E11, E12), the guide, logout."""
    browser = t.browser
    t.follow("#to-area", "area")
    t.follow("#your-accounts", "services")
    assert t.group("statements") == (False, "+")
    assert not browser.visible("#service-statements")
    browser.click("#group-statements-toggle")
    assert t.group("statements") == (True, "-")
    assert browser.visible("#service-statements")
    t.shot("services-expanded")
    browser.click("#group-statements-toggle")
    assert t.group("statements") == (False, "+")
    assert not browser.visible("#service-statements")
    t.shot("services-collapsed")

    browser.click("#group-statements-toggle")
    t.follow("#service-statements", "statements")
    link = browser.find_all("a.statement")[1]  # last month's: a whole month of lines
    href = str(browser.call("a => a.href", link))
    with browser.expect_load():
        browser.click(link)
    assert browser.url == href
    assert browser.evaluate("document.contentType") == "application/pdf"
    pages, text = browser.pdf_viewer()
    t.shot("statement-pdf")
    account = href.rsplit("/", 2)[1]
    assert pages >= 1
    assert account in text and identifier in text and "EUR" in text, text

    # The guide, from a logged-in page: it keeps the logout button, which ends the session.
    browser.back()
    assert t.page() == "statements"
    t.follow("#guide-link", "guide")
    assert browser.exists("#guide-login")
    assert browser.exists("#logout")
    t.follow("#logout", "logged-out")


def test_first_connection_then_everyday_use(tour, julie, firefox_server: ServerThread) -> None:
    """Steps 7 to 12 (login with identifier + certificate, mail code on the keypad, the
    mail code again, a personal code twice, contact details, "registered", client area,
    a service group expanded and collapsed, a statement PDF in Firefox's viewer, the
    guide, logout), then the everyday journey with the personal code."""
    profile, mail = julie
    t = tour(profile.path)
    _first_connection(t, "julie", mail)
    _services(t, "julie")

    # Everyday use: identifier + certificate, the personal code, the client area.
    t.follow("#login-again", "login")
    t.login("julie")
    assert t.page() == "code"
    t.keypad(PERSONAL_CODE, "area")
    t.follow("#your-accounts", "services")
    t.browser.click("#group-accounts-toggle")
    t.follow("#service-balances", "accounts")
    assert t.browser.exists("table#accounts")
    t.follow("#logout", "logged-out")

    user = PortalStore(firefox_server.registry()).user("julie")
    assert user is not None and user.registered is not None
    assert user.email == "julie@example.com"
    assert user.cert_serial == format(profile.certificate.serial_number, "x")


def test_login_without_a_certificate_is_refused(
    tour, no_cert_profile: Path, alice_profile: EnrolledProfile
) -> None:
    """A browser holding no certificate (not the key's) is told so: ES410, no keypad."""
    t = tour(no_cert_profile)
    t.browser.navigate(t.base + "login")
    t.shot("login")
    t.login(alice_profile.identifier)
    t.shot("refused")
    assert t.page() == "no-certificate"
    assert t.browser.text("#error-code") == "ES410"
    assert not t.browser.exists("#keypad")


def test_certificate_of_another_identifier_is_refused(
    tour, alice_profile: EnrolledProfile, bob_profile: EnrolledProfile
) -> None:
    """bob's key used to log in as alice: refused with the page a wrong code gets (ES412:
    nothing learnt about either account), no keypad."""
    t = tour(bob_profile.path)
    t.browser.navigate(t.base + "login")
    t.login(alice_profile.identifier)
    t.shot("refused")
    assert t.page() == "refused"
    assert t.browser.text("#error-code") == "ES412"
    assert not t.browser.exists("#keypad")
