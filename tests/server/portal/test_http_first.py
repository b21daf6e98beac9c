"""The first connection over real HTTPS: mail code again, trivial codes refused, the two
entries must match, contact details validated, then the certificate is registered."""

from __future__ import annotations

import pytest

from esecure.server.portal.store import PortalStore
from tests.server.portal.conftest import login


def _at_new_code(browser, user):
    first = login(browser, user, user.mail_code)
    assert first.name == "first-login"
    new = browser.submit_code(first, user.mail_code)
    assert 'data-step="new"' in new.text
    return new


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("000000", "one repeated digit"),
        ("123456", "run of consecutive digits"),
        ("654321", "run of consecutive digits"),
        ("121212", "repeated pattern"),
        ("250190", "shaped like a date"),
    ],
)
def test_trivial_codes_are_refused(make_user, browser_for, portal_server, code, reason):
    """A trivial personal code: 400, the rule named, nothing stored, still at step 2."""
    user = make_user()
    browser = browser_for(user)
    refused = browser.submit_code(_at_new_code(browser, user), code)
    assert refused.status == 400
    assert reason in refused.text
    assert 'data-step="new"' in refused.text
    assert PortalStore(portal_server.registry()).user(user.identifier).code_hash is None


def test_the_mail_code_cannot_become_the_personal_code(make_user, browser_for):
    """Keeping the code that came by mail is refused."""
    user = make_user()
    browser = browser_for(user)
    refused = browser.submit_code(_at_new_code(browser, user), user.mail_code)
    assert refused.status == 400
    assert "must differ from the code received by mail" in refused.text


def test_the_confirmation_must_match(make_user, browser_for, portal_server):
    """A confirmation that differs: back to step 2, nothing stored."""
    user = make_user()
    browser = browser_for(user)
    confirm = browser.submit_code(_at_new_code(browser, user), "409217")
    again = browser.submit_code(confirm, "409218")
    assert again.status == 400
    assert 'data-step="new"' in again.text
    assert "The two codes differ" in again.text
    assert PortalStore(portal_server.registry()).user(user.identifier).code_hash is None


def test_a_wrong_mail_code_at_step_one_counts(make_user, browser_for, portal_server):
    """Step 1 with a wrong code: said so and counted; the third locks."""
    user = make_user()
    browser = browser_for(user)
    first = login(browser, user, user.mail_code)
    wrong = browser.submit_code(first, "583920")
    assert wrong.status == 400 and 'data-step="mail"' in wrong.text
    assert PortalStore(portal_server.registry()).user(user.identifier).failures == 1
    wrong = browser.submit_code(wrong, "583920")
    locked = browser.submit_code(wrong, "583920")
    assert locked.name == "locked"


@pytest.mark.parametrize(
    "case",
    [
        ("", "", {"email-error", "phone-error"}),
        ("ana@", "0102030405", {"email-error"}),
        ("ana@corp", "0102030405", {"email-error"}),
        ("ana@corp.example", "12", {"phone-error"}),
        ("ana@corp.example", "01 02 03 04 05 <b>", {"phone-error"}),
    ],
)
def test_contact_details_are_validated(make_user, browser_for, portal_server, case):
    """Invalid contact details: 400, each wrong field named, not registered."""
    email, phone, problems = case
    user = make_user()
    browser = browser_for(user)
    confirm = browser.submit_code(_at_new_code(browser, user), "409217")
    contact = browser.submit_code(confirm, "409217")
    answer = browser.post("/contact", {"csrf": contact.csrf, "email": email, "phone": phone})
    assert (answer.status, answer.name) == (400, "contact")
    assert {i for i in answer.parsed.ids if i.endswith("-error")} == problems
    assert PortalStore(portal_server.registry()).user(user.identifier).registered is None


def test_the_mail_code_works_once(make_user, browser_for):
    """Once the personal code is chosen, the mail code no longer opens the portal."""
    user = make_user()
    browser = browser_for(user)
    confirm = browser.submit_code(_at_new_code(browser, user), "409217")
    browser.submit_code(confirm, "409217")
    assert login(browser_for(user), user, user.mail_code).name == "refused"
    assert login(browser_for(user), user, "409217").name == "session-choice"  # first is live


def test_an_expired_mail_code_is_refused_with_what_to_do(make_user, browser_for, portal_server):
    """A mail code past its date: even typed right, the page says to ask for a new one."""
    user = make_user()
    registry = portal_server.registry()
    registry.database.execute(
        "UPDATE portal_users SET mail_expires=1 WHERE identifier=?", (user.identifier,)
    )
    page = login(browser_for(user), user, user.mail_code)
    assert (page.status, page.name) == (403, "mail-expired")
    assert "new code by mail" in page.text
