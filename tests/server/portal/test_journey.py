"""The whole journey over real HTTPS with a certificate enrolled by our EST service: first
connection (mail code, new code twice, contact details), client area, service menu,
statement PDF, guide, logout; then the everyday login."""

from __future__ import annotations

from tests.server.portal.conftest import login


def test_first_connection_then_everyday_login(make_user, browser_for):
    """A new customer goes through steps 7 to 12, then logs in again with the new code."""
    user = make_user()
    browser = browser_for(user)
    first = login(browser, user, user.mail_code)
    assert first.name == "first-login"
    assert 'data-step="mail"' in first.text
    new = browser.submit_code(first, user.mail_code)
    assert 'data-step="new"' in new.text
    confirm = browser.submit_code(new, "409217")
    assert 'data-step="confirm"' in confirm.text
    contact = browser.submit_code(confirm, "409217")
    assert contact.name == "contact"
    done = browser.post(
        "/contact",
        {"csrf": contact.csrf, "email": "ana@corp.example", "phone": "+33 1 23 45 67 89"},
    )
    assert done.name == "registered"
    area = browser.get(done.parsed.links["to-area"])
    assert area.name == "area"
    services = browser.get(area.parsed.links["your-accounts"])
    assert services.name == "services"
    assert {
        "group-accounts",
        "group-transfers",
        "group-statements",
        "group-help",
    } <= services.parsed.ids
    statements = browser.get("/statements")
    pdf_link = next(v for k, v in statements.parsed.links.items() if k.startswith("statement-"))
    pdf = browser.get(pdf_link)
    assert pdf.status == 200
    assert pdf.headers.get_content_type() == "application/pdf"
    assert pdf.body.startswith(b"%PDF-1.4")
    assert browser.get("/guide").name == "guide"
    out = browser.post("/logout", {"csrf": services.csrf})
    assert out.name == "logged-out"
    again = login(browser_for(user), user, "409217")
    assert again.name == "area"
