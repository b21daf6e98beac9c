"""Login over real HTTPS with real client certificates: the certificate rules, no
enumeration, the lockout, forged keypad positions, oversized and malformed forms."""

from __future__ import annotations

import re
import time

from esecure.server import admin as ops
from esecure.server.portal.store import PortalStore
from tests.server.portal.conftest import PERSONAL_CODE, login

WRONG = "583920"


def _store(server) -> PortalStore:
    return PortalStore(server.registry())


def _identify(browser, identifier: str):
    page = browser.get("/login")
    return browser.post("/login", {"csrf": page.csrf, "identifier": identifier})


def test_without_a_certificate_the_page_says_to_use_the_keys_browser(make_user, browser_for):
    """No TLS client certificate: 403 and the page naming the fix (the key's browser)."""
    user = make_user(personalised=True)
    browser = browser_for(None)
    page = _identify(browser, user.identifier)
    assert page.status == 403
    assert page.name == "no-certificate"
    assert "ES410" in page.text
    assert "e-secure key" in page.text
    assert "__Host-esecure-session" not in browser.cookies


def test_attack_another_identifiers_certificate_is_refused(make_user, browser_for, portal_server):
    """Mallory's certificate with Alice's identifier: refused, no session for Alice."""
    alice, mallory = make_user(personalised=True), make_user(personalised=True)
    browser = browser_for(mallory)
    page = _identify(browser, alice.identifier)
    assert page.status == 403
    assert page.name == "refused"
    assert "__Host-esecure-session" not in browser.cookies
    assert _store(portal_server).sessions_of(alice.identifier) == []


def test_no_enumeration_unknown_identifier_and_wrong_code_give_the_same_page(
    make_user, browser_for
):
    """Unknown identifier, another customer's identifier, and a wrong code: same status,
    same page, byte for byte."""
    alice, bob = make_user(personalised=True), make_user(personalised=True)
    unknown = _identify(browser_for(alice), "nobody.at.all")
    other = _identify(browser_for(alice), bob.identifier)
    wrong = login(browser_for(alice), alice, WRONG)
    assert unknown.status == other.status == wrong.status == 403
    assert unknown.body == other.body == wrong.body


def test_a_revoked_certificate_is_refused(make_user, browser_for, portal_server):
    """The key reported lost: its certificate is refused at once."""
    user = make_user(personalised=True)
    ops.report_lost(portal_server.registry(), user.serial, time.time())
    page = _identify(browser_for(user), user.identifier)
    assert page.status == 403
    assert page.name == "cert-revoked"


def test_a_disabled_customer_is_refused(make_user, browser_for, portal_server):
    """The bank disabled the customer: the certificate no longer opens the portal."""
    user = make_user(personalised=True)
    ops.set_user_state(portal_server.registry(), user.identifier, active=False)
    page = _identify(browser_for(user), user.identifier)
    assert (page.status, page.name) == (403, "cert-disabled")


def test_three_wrong_codes_lock_the_account_until_unlocked(make_user, browser_for, portal_server):
    """Two wrong codes: refused; the third: locked (the page says how to unlock); even the
    right code is then refused; `admin unlock` opens it again. Audited."""
    user = make_user(personalised=True)
    assert login(browser_for(user), user, WRONG).name == "refused"
    assert login(browser_for(user), user, WRONG).name == "refused"
    third = login(browser_for(user), user, WRONG)
    assert (third.status, third.name) == (403, "locked")
    assert "ES411" in third.text
    assert "support" in third.text
    browser = browser_for(user)
    start = browser.get("/login")
    refused = browser.post("/login", {"csrf": start.csrf, "identifier": user.identifier})
    assert refused.name == "locked"  # before any keypad: nothing more to guess
    assert _store(portal_server).user(user.identifier).state == "locked"
    ops.unlock(portal_server.registry(), user.identifier, time.time())
    assert login(browser_for(user), user).name == "area"
    outcomes = [
        (row[1], row[4])
        for row in portal_server.registry().audit_log()
        if row[2] == user.identifier
    ]
    assert ("portal/lockout", "locked after wrong codes") in outcomes
    assert ("admin/unlock", "unlocked") in outcomes
    assert ("portal/code", "wrong code") in outcomes


def test_the_right_code_resets_the_count(make_user, browser_for, portal_server):
    """Two wrong codes, then the right one: the count starts again (no lock at the next)."""
    user = make_user(personalised=True)
    login(browser_for(user), user, WRONG)
    login(browser_for(user), user, WRONG)
    assert login(browser_for(user), user).name == "area"
    assert _store(portal_server).user(user.identifier).failures == 0


def _keypad(browser, user):
    page = _identify(browser, user.identifier)
    assert page.name == "code"
    return page


def test_attack_forged_positions_are_refused_and_not_counted(make_user, browser_for, portal_server):
    """Positions no page of ours can send (outside the grid, blank cells, not numbers, too
    many, a second field): 400, nothing checked, nothing counted."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    forged = ["16", "99", "-1", "a", "1.5", "3,3,3,3,3,3,3", "٣", "BLANK", "0x1", ""]
    for given in forged:
        page = _keypad(browser, user)
        positions = given
        if given == "BLANK":
            blank = next(p for p in range(16) if p not in page.parsed.keys.values())
            positions = ",".join([*page.positions("12345").split(","), str(blank)])
        answer = browser.post(
            "/code",
            {
                "csrf": page.csrf,
                "layout": page.parsed.inputs["layout"],
                "positions": positions,
                "action": "validate",
            },
        )
        if positions == "":
            assert answer.status == 400 and answer.name == "code"  # just incomplete
            continue
        assert (answer.status, answer.name) == (400, "forged"), positions
        assert "ES413" in answer.text
    page = _keypad(browser, user)
    doubled = browser.request(
        "POST",
        "/code",
        body=f"csrf={page.csrf}&layout={page.parsed.inputs['layout']}&positions=1&positions=2"
        "&action=validate".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert doubled.status == 400
    assert _store(portal_server).user(user.identifier).failures == 0


def test_attack_a_keypad_layout_is_single_use(make_user, browser_for, portal_server):
    """Replaying a submitted keypad form: 409 and a new keypad, nothing checked again."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    page = _keypad(browser, user)
    form = {
        "csrf": page.csrf,
        "layout": page.parsed.inputs["layout"],
        "positions": page.positions(WRONG),
        "action": "validate",
    }
    assert browser.post("/code", form).name == "refused"
    browser2 = browser_for(user)
    page2 = _keypad(browser2, user)
    replay = browser2.post("/code", {**form, "csrf": page2.csrf})
    assert replay.status == 409
    assert replay.parsed.inputs["layout"] != page.parsed.inputs["layout"]
    assert _store(portal_server).user(user.identifier).failures == 1


def test_keys_typed_one_by_one_without_javascript(make_user, browser_for):
    """Without a script each key submits the form; the server echoes the positions and the
    layout stays until the code is validated."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    page = _keypad(browser, user)
    layout = page.parsed.inputs["layout"]
    for digit in PERSONAL_CODE:
        page = browser.post(
            "/code",
            {
                "csrf": page.csrf,
                "layout": layout,
                "positions": page.parsed.inputs["positions"],
                "key": str(page.parsed.keys[digit]),
            },
        )
        assert page.parsed.inputs["layout"] == layout
    assert "6 of 6 digits typed" in page.text
    done = browser.post(
        "/code",
        {
            "csrf": page.csrf,
            "layout": layout,
            "positions": page.parsed.inputs["positions"],
            "action": "validate",
        },
    )
    assert done.name == "area"


def test_the_keypad_is_shuffled_at_each_display(make_user, browser_for):
    """Each display has its own layout and id (CSPRNG, server-side)."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    _keypad(browser, user)
    layouts = {tuple(sorted(browser.get("/code").parsed.keys.items())) for _ in range(8)}
    assert len(layouts) > 1


def test_the_page_sends_positions_never_digits(make_user, browser_for):
    """The keypad's form fields carry positions (0-15) and a layout id, no digit field."""
    user = make_user(personalised=True)
    page = _keypad(browser_for(user), user)
    assert set(page.parsed.inputs) == {"csrf", "layout", "positions"}
    values = re.findall(r'name="key" value="([^"]+)"', page.text)
    assert sorted(int(v) for v in values) == sorted(page.parsed.keys.values())
    assert len(values) == 10


def test_an_oversized_form_is_refused_with_413(make_user, browser_for):
    """A form larger than the cap: 413 with a page, before anything is read into a form."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    page = browser.get("/login")
    big = browser.post("/login", {"csrf": page.csrf, "identifier": "x" * 100_000})
    assert (big.status, big.name) == (413, "too-large")
    chunked = browser.request(
        "POST",
        "/login",
        body=iter([b"identifier=" + b"y" * 5000, b"z" * 5000]),  # no Content-Length
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert chunked.status == 413


def test_malformed_forms_are_400_or_415(make_user, browser_for):
    """Not urlencoded, not UTF-8, too many fields: a 4xx page, never a 5xx."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    page = browser.get("/login")
    cases = [
        (b'{"identifier": "x"}', "application/json", 415),
        (b"csrf=" + page.csrf.encode() + b"&identifier=%ff%fe", None, 400),
        (b"&".join(b"f%d=1" % i for i in range(40)), None, 400),
    ]
    for body, kind, status in cases:
        answer = browser.request(
            "POST",
            "/login",
            body=body,
            headers={"Content-Type": kind or "application/x-www-form-urlencoded"},
        )
        assert answer.status == status, body


def test_a_malformed_identifier_is_named_on_the_login_page(make_user, browser_for):
    """An identifier with characters no identifier has: 400, the login page says why."""
    user = make_user(personalised=True)
    page = _identify(browser_for(user), "a b<script>")
    assert (page.status, page.name) == (400, "login")
    assert "identifier-error" in page.parsed.ids
    assert 'value="a b&lt;script&gt;"' in page.text  # shown back, autoescaped
    assert "<script>" not in page.text


def test_audit_holds_no_secret(make_user, browser_for, portal_server):
    """The audit rows of a login name the steps, never a code, a token or a cookie."""
    user = make_user(personalised=True)
    browser = browser_for(user)
    login(browser, user)
    rows = [r for r in portal_server.registry().audit_log() if r[2] == user.identifier]
    text = repr(rows)
    assert "portal/login" in text and "logged in" in text
    for secret in [PERSONAL_CODE, *browser.cookies.values()]:
        assert secret not in text
