"""The rest of the portal over real HTTPS: the slow-answer bound (E7), the trusted proxy's
certificate header, languages, the client area's services and their refusals."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest

from esecure.server.portal.settings import PortalSettings
from esecure.server.portal.store import PortalStore
from tests.server.portal.conftest import custom_server, login
from tests.server.portal.test_pdf import check_pdf


def test_e7_a_code_check_without_answer_in_time_says_so(
    make_user, browser_for, portal_project, portal_server
):
    """Seed row E7: when the check does not answer within its bound, the page says so
    (ES402, 503) instead of an endless hourglass — and the attempt still counts."""
    user = make_user(personalised=True)
    with custom_server(portal_project, settings=PortalSettings(answer_seconds=0.0)) as server:
        page = login(browser_for(user, server=server), user)
    assert (page.status, page.name) == (503, "slow")
    assert "ES402" in page.text and "call support" in page.text
    assert PortalStore(portal_server.registry()).user(user.identifier).failures == 1


def test_e7_the_keypad_page_bounds_the_wait(make_user, browser_for):
    """The keypad page carries the bounded wait: the script (external, allowed by the CSP),
    its delay, the hidden notice, and the same notice for browsers without script."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    page = browser.get("/login")
    keypad = browser.post("/login", {"csrf": page.csrf, "identifier": user.identifier})
    assert '<script src="/static/portal/keypad.js" defer></script>' in keypad.text
    assert 'data-slow-after-ms="15000"' in keypad.text
    assert '<p id="slow-notice" class="error" role="alert" hidden>' in keypad.text
    assert '<noscript><p id="slow-notice-nojs"' in keypad.text
    script = browser.get("/static/portal/keypad.js")
    assert script.status == 200
    assert "data-slow-after-ms" in script.text and "setTimeout" in script.text


def _pem_header(user) -> str:
    return urllib.parse.quote(Path(user.cert[0]).read_text())


@pytest.mark.parametrize(
    ("proxy", "expected"), [("127.0.0.1", "code"), ("127.0.0.2", "no-certificate")]
)
def test_behind_the_trusted_proxy_the_forwarded_certificate_counts(
    make_user, browser_for, portal_project, proxy, expected
):
    """nginx forwards the verified certificate in X-SSL-Client-Cert: honoured from the
    trusted proxy's address only (here 127.0.0.1), ignored from anyone else."""
    user = make_user(personalised=True)
    with custom_server(portal_project, trusted_proxy=proxy) as server:
        browser = browser_for(None, server=server)
        page = browser.get("/login")
        answer = browser.request(
            "POST",
            "/login",
            body=urllib.parse.urlencode(
                {"csrf": page.csrf, "identifier": user.identifier}
            ).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-SSL-Client-Cert": _pem_header(user),
            },
        )
    assert answer.name == expected


def test_the_browsers_language_picks_and_the_switch_overrides(browser_for):
    """Accept-Language fr: French; ?lang=en: English, remembered; a switch on the page."""
    browser = browser_for(None)
    browser.lang = "fr-FR,fr;q=0.9,en;q=0.5"
    page = browser.get("/login")
    assert '<html lang="fr">' in page.text and "Accès avec certificat" in page.text
    assert {"lang-en", "lang-fr", "guide-link"} <= page.parsed.ids
    english = browser.get(page.parsed.links["lang-en"])
    assert '<html lang="en">' in english.text and "Access with certificate" in english.text
    assert '<html lang="en">' in browser.get("/guide").text


def test_every_page_links_the_guide_and_the_switch(make_user, browser_for):
    """Login, keypad, client area pages, errors: the guide link and both languages."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    pages = [browser.get("/login"), browser.get("/guide"), browser_for(None).get("/nope")]
    login(browser, user)
    pages += [
        browser.get(p) for p in ("/area", "/services", "/accounts", "/transfers", "/statements")
    ]
    for page in pages:
        if page.status == 404:
            continue  # an unknown path is not the portal's
        assert {"guide-link", "lang-en", "lang-fr"} <= page.parsed.ids, page.url


def test_the_service_menu_works_without_javascript(make_user, browser_for):
    """Groups are <details>/<summary> (+ / - drawn in CSS): no script needed to expand."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    login(browser, user)
    page = browser.get("/services")
    assert page.text.count('<details id="group-') == 4
    assert "<script" not in page.text
    opened = browser.get("/services?open=statements")
    assert '<details id="group-statements" class="group" open>' in opened.text


def test_another_customers_account_and_statement_are_not_found(
    make_user, browser_for, portal_server
):
    """Alice cannot read Bob's account lines or his statement (404), whatever the URL."""
    alice, bob = make_user(personalised=True), make_user(personalised=True)
    login(browser_for(bob), bob)
    bobs = PortalStore(portal_server.registry()).accounts(bob.identifier)[0].number
    browser = browser_for(alice)
    login(browser, alice)
    assert browser.get(f"/accounts/{bobs}").status == 404
    assert browser.get(f"/statements/{bobs}/2026-01.pdf").status == 404
    assert browser.get("/statements/x/2026-13.pdf").status == 404


def test_the_statement_is_a_valid_pdf_shown_inline(make_user, browser_for):
    """application/pdf, inline (the browser's own viewer), a structurally valid PDF."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    login(browser, user)
    page = browser.get("/statements")
    link = next(v for k, v in page.parsed.links.items() if k.startswith("statement-"))
    pdf = browser.get(link)
    assert pdf.headers.get_content_type() == "application/pdf"
    assert pdf.headers["Content-Disposition"].startswith("inline;")
    check_pdf(pdf.body)


@pytest.mark.parametrize("amount", ["0", "-5", "abc", "1e9", "99999999999", "12.345"])
def test_an_invalid_transfer_is_refused(make_user, browser_for, portal_server, amount):
    """A bad amount: 400 with the reason, no money moved."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    login(browser, user)
    page = browser.get("/transfers")
    store = PortalStore(portal_server.registry())
    numbers = [a.number for a in store.accounts(user.identifier)]
    before = [a.balance_cents for a in store.accounts(user.identifier)]
    answer = browser.post(
        "/transfers",
        {"csrf": page.csrf, "from": numbers[0], "to": numbers[1], "amount": amount, "label": "x"},
    )
    assert answer.status == 400 and "transfer-error" in answer.parsed.ids
    assert [a.balance_cents for a in store.accounts(user.identifier)] == before


def test_root_leads_to_login_or_to_the_session_page(make_user, browser_for):
    """/ without a session: the login page; with one: where it stands."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    assert browser.get("/").name == "login"
    login(browser, user)
    assert browser.get("/").name == "area"
