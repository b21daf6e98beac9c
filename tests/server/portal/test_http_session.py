"""Sessions over real HTTPS: cookie flags, id renewal, CSRF (missing, replayed, another
session's), security headers, one live session per user (E6), idle timeout, logout."""

from __future__ import annotations

import time

import pytest

from esecure.server.portal.sessions import SessionPolicy
from esecure.server.portal.settings import PortalSettings
from esecure.server.portal.store import PortalStore
from tests.server.portal.conftest import FakeClock, custom_server, login

SESSION = "__Host-esecure-session"


def _balances(server, identifier: str) -> list[int]:
    return [a.balance_cents for a in PortalStore(server.registry()).accounts(identifier)]


def test_cookies_are_secure_httponly_samesite_strict(make_user, browser_for):
    """Every cookie the portal sets: __Host- prefix, Secure, HttpOnly, SameSite=Strict,
    Path=/ and no Domain."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    login(browser, user)
    assert browser.set_cookie_headers
    for header in browser.set_cookie_headers:
        lowered = [part.strip().lower() for part in header.split(";")]
        assert lowered[0].startswith("__host-esecure-"), header
        assert "secure" in lowered and "httponly" in lowered, header
        assert "samesite=strict" in lowered and "path=/" in lowered, header
        assert not any(part.startswith("domain") for part in lowered), header


def test_the_session_id_is_renewed_at_login(make_user, browser_for):
    """A new id once identified by certificate and another once the code is accepted: an id
    planted before login (fixation) is worth nothing after."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    page = browser.get("/login")
    keypad = browser.post("/login", {"csrf": page.csrf, "identifier": user.identifier})
    before = browser.cookies[SESSION]
    assert browser.submit_code(keypad, "409217").name == "area"
    after = browser.cookies[SESSION]
    assert before != after
    planted = browser_for(user)
    planted.cookies[SESSION] = before
    assert planted.get("/area").name == "login"


def test_security_headers_on_every_page(make_user, browser_for):
    """CSP without inline script, HSTS, frame denial, referrer and sniffing policies, no
    caching — on pages, error pages and the PDF (which has no CSP, for the viewer)."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    pages = [browser.get("/login"), browser.get("/guide"), browser.get("/static/portal/x")]
    login(browser, user)
    pages += [browser.get("/area"), browser.get("/statements")]
    assert pages[2].status == 404  # the portal's own refusal page
    for page in pages:
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
    link = next(v for k, v in pages[-1].parsed.links.items() if k.startswith("statement-"))
    pdf = browser.get(link)
    assert "Content-Security-Policy" not in pdf.headers
    for page in [*pages, pdf]:
        assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"


def test_attack_post_without_csrf_token_changes_nothing(make_user, browser_for, portal_server):
    """A transfer without its token: 403, no money moved."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    login(browser, user)
    page = browser.get("/transfers")
    before = _balances(portal_server, user.identifier)
    accounts = page.text.split('option value="')[1:3]
    source, target = (a.split('"')[0] for a in accounts)
    form = {"from": source, "to": target, "amount": "10.00", "label": "rent"}
    answer = browser.post("/transfers", form)
    assert (answer.status, answer.name) == (403, "csrf")
    assert _balances(portal_server, user.identifier) == before
    made = browser.post("/transfers", {**form, "csrf": page.csrf})
    assert made.name == "transfers" and "transfer-done" in made.parsed.ids
    assert _balances(portal_server, user.identifier) != before


def test_attack_replayed_csrf_token_of_an_ended_session(make_user, browser_for, portal_server):
    """The token of a session that ended (logout, then login again) is refused."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    login(browser, user)
    old = browser.get("/transfers")
    browser.post("/logout", {"csrf": old.csrf})
    login(browser, user)
    before = _balances(portal_server, user.identifier)
    source = old.text.split('option value="')[1].split('"')[0]
    target = old.text.split('option value="')[2].split('"')[0]
    answer = browser.post(
        "/transfers",
        {"csrf": old.csrf, "from": source, "to": target, "amount": "1", "label": "x"},
    )
    assert (answer.status, answer.name) == (403, "csrf")
    assert _balances(portal_server, user.identifier) == before


def test_attack_another_sessions_csrf_token(make_user, browser_for, portal_server):
    """Mallory's own valid token, sent within Alice's session: refused."""
    alice, mallory = make_user(personalised=True), make_user(personalised=True)
    a, m = browser_for(alice), browser_for(mallory)
    login(a, alice)
    login(m, mallory)
    token = m.get("/transfers").csrf
    page = a.get("/transfers")
    before = _balances(portal_server, alice.identifier)
    source = page.text.split('option value="')[1].split('"')[0]
    target = page.text.split('option value="')[2].split('"')[0]
    answer = a.post(
        "/transfers", {"csrf": token, "from": source, "to": target, "amount": "1", "label": "x"}
    )
    assert (answer.status, answer.name) == (403, "csrf")
    assert _balances(portal_server, alice.identifier) == before


def test_attack_login_form_without_its_pre_session_cookie(make_user, browser_for):
    """The login form posted from elsewhere (no pre-session cookie, or a token of another
    one): 403, no session."""
    user = make_user(personalised=True)
    genuine = browser_for(user)
    token = genuine.get("/login").csrf
    forger = browser_for(user)
    answer = forger.post("/login", {"csrf": token, "identifier": user.identifier})
    assert (answer.status, answer.name) == (403, "csrf")
    forger.get("/login")
    answer = forger.post("/login", {"csrf": token, "identifier": user.identifier})
    assert answer.status == 403
    assert SESSION not in forger.cookies


def test_attack_logout_without_token_keeps_the_session(make_user, browser_for):
    """A forged logout (no token) does not end the session."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    login(browser, user)
    assert browser.post("/logout", {}).status == 403
    assert browser.get("/area").name == "area"


def test_a_second_login_asks_which_session_to_keep(make_user, browser_for):
    """E6: a second login while one is live gets a choice; cancel keeps the first; ending
    the other moves the user here and the first is logged out."""
    user = make_user(personalised=True)
    first, second = browser_for(user), browser_for(user)
    assert login(first, user).name == "area"
    choice = login(second, user)
    assert (choice.status, choice.name) == (200, "session-choice")
    assert "ES401" in choice.text
    cancelled = second.post("/session-choice", {"csrf": choice.csrf, "action": "cancel"})
    assert cancelled.name == "login"
    assert first.get("/area").name == "area"
    choice = login(second, user)
    moved = second.post("/session-choice", {"csrf": choice.csrf, "action": "end-other"})
    assert moved.name == "area"
    assert first.get("/area").name == "login"


def test_the_choice_page_gives_no_access_before_choosing(make_user, browser_for):
    """At the choice, the client area is not reachable."""
    user = make_user(personalised=True)
    login(browser_for(user), user)
    second = browser_for(user)
    login(second, user)
    assert second.get("/accounts").name == "session-choice"


def test_logout_ends_the_session(make_user, browser_for):
    """After logout the old cookie opens nothing; the page says how to remove the key."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    area = login(browser, user)
    cookie = browser.cookies[SESSION]
    out = browser.post("/logout", {"csrf": area.csrf})
    assert out.name == "logged-out"
    assert "Remove the e-secure key" in out.text
    assert SESSION not in browser.cookies
    browser.cookies[SESSION] = cookie
    assert browser.get("/area").name == "login"


@pytest.fixture(scope="module")
def clock():
    """The fake clock of the idle-timeout server."""
    return FakeClock()


@pytest.fixture(scope="module")
def idle_server(portal_project, portal_server, clock):
    """A server whose portal runs on the fake clock (10-minute idle timeout)."""
    with custom_server(portal_project, clock=clock) as server:
        yield server


def test_session_ends_after_ten_minutes_idle(make_user, browser_for, idle_server, clock):
    """Fake clock: 9 min 59 s idle is fine (and restarts the count); 10 min is the end,
    with the login page saying why; the row is gone."""
    user = make_user(personalised=True)
    browser = browser_for(user, server=idle_server)
    assert login(browser, user).name == "area"
    clock.advance(599)
    assert browser.get("/accounts").name == "accounts"
    clock.advance(599)
    assert browser.get("/accounts").name == "accounts"
    clock.advance(600)
    page = browser.get("/accounts")
    assert page.name == "login"
    assert "10 minutes" in page.text
    assert PortalStore(idle_server.registry()).sessions_of(user.identifier) == []


def test_an_expired_session_does_not_block_a_new_login(make_user, browser_for, idle_server, clock):
    """E6 counts live sessions only: one left idle does not ask for a choice."""
    user = make_user(personalised=True)
    assert login(browser_for(user, server=idle_server), user).name == "area"
    clock.advance(601)
    assert login(browser_for(user, server=idle_server), user).name == "area"


def test_idle_timeout_with_a_short_real_value(make_user, browser_for, portal_project):
    """The real clock, a 2-second timeout: after 2.5 s without a request, the session ends."""
    settings = PortalSettings(sessions=SessionPolicy(idle_seconds=2.0))
    user = make_user(personalised=True)
    with custom_server(portal_project, settings=settings) as server:
        browser = browser_for(user, server=server)
        login(browser, user)
        time.sleep(2.5)
        page = browser.get("/area")
        assert page.name == "login"
        assert "expired" in page.url
