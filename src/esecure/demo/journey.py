"""The portal's first-connection journey in a real Firefox, driven over WebDriver BiDi
with real clicks and key presses, every page photographed: the demo's and the portal's
Firefox tests' one copy.

Steps 7 to 10 of the guide: identifier and certificate, the mail code on the keypad (whose
keys move), the mail code again, a personal code twice, contact details, "your
certificate is registered", the client area.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from esecure.demo import check
from esecure.demo.bidi import Browser

__all__ = ["Tour", "first_connection"]


@dataclass
class Tour:
    """One Firefox on the portal, photographing each page it reaches into ``shots``."""

    browser: Browser
    base: str
    shots: Path
    taken: int = 0

    def page(self) -> str:
        """The portal's name of the current page (``<body data-page>``)."""
        return str(self.browser.evaluate("document.body.dataset.page"))

    def shot(self, name: str) -> Path:
        """A screenshot of the current page, numbered in the order taken."""
        self.taken += 1
        return self.browser.screenshot(self.shots / f"{self.taken:02d}-{name}.png")

    def follow(self, css: str, page: str) -> None:
        """Click ``css``, wait for the next page, check it is ``page``, photograph it."""
        with self.browser.expect_load():
            self.browser.click(css)
        check(
            self.page() == page,
            f"expected the portal's {page!r} page after {css}, found {self.page()!r} at "
            f"{self.browser.url}: {self.browser.text('main')[:500]}",
        )
        self.shot(page)

    def login(self, identifier: str) -> None:
        """From the login page: the identifier, then "Access with certificate"."""
        check(self.page() == "login", f"not on the login page: {self.browser.url}")
        self.browser.type("#identifier", identifier)
        with self.browser.expect_load():
            self.browser.click("#login-submit")

    def keypad(self, code: str, page: str) -> None:
        """Type ``code`` by clicking the keypad's keys where this display put each digit,
        then "Validate"; the page reached must be ``page``."""
        browser = self.browser
        for count, digit in enumerate(code, start=1):
            key = browser.evaluate(
                "[...document.querySelectorAll('#keypad button.key')]"
                f".find(b => b.textContent.trim() === {digit!r}).id"
            )
            browser.click(f"#{key}")
            lit = browser.evaluate("document.querySelectorAll('#code-dots .dot.on').length")
            check(lit == count, f"the keypad shows {lit} digits typed, not {count}")
        positions = str(browser.evaluate("document.querySelector('#positions').value"))
        check(len(positions.split(",")) == len(code), f"the keypad sent {positions!r}")
        self.shot(f"{self.page()}-typed")
        self.follow("#code-submit", page)

    def group(self, name: str) -> tuple[bool, str]:
        """(whether service group ``name`` is open, the sign its toggle shows)."""
        state = self.browser.evaluate(
            f"[document.querySelector('#group-{name}').open,"
            f" getComputedStyle(document.querySelector('#group-{name}-toggle .sign'),"
            " '::before').content]"
        )
        return bool(state[0]), str(state[1]).strip('"')

    def step(self) -> str | None:
        """Which code the first-connection form asks for (mail, new, confirm)."""
        return self.browser.attribute("#code-form", "data-step")


def first_connection(
    tour: Tour, identifier: str, mail_code: str, personal_code: str, *, email: str, phone: str
) -> None:
    """From the login page to "your certificate is registered" (steps 7 to 9)."""
    browser = tour.browser
    tour.login(identifier)
    check(tour.page() == "code", f"no keypad after the login: {tour.page()!r}")
    tour.shot("code")
    tour.keypad(mail_code, "first-login")
    check(tour.step() == "mail", f"the first connection asks for {tour.step()!r}, not mail")
    tour.keypad(mail_code, "first-login")
    check(tour.step() == "new", f"the first connection asks for {tour.step()!r}, not new")
    tour.keypad(personal_code, "first-login")
    check(tour.step() == "confirm", f"the first connection asks for {tour.step()!r}")
    tour.keypad(personal_code, "contact")
    browser.type("#email", email)
    browser.type("#phone", phone)
    tour.shot("contact-filled")
    tour.follow("#contact-submit", "registered")
    check(browser.exists("#to-area"), "the registered page has no link to the client area")
