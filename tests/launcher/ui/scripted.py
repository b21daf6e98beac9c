"""Scripted adapters and a recording session for the GUI drivers (the flow's real runner
drives them; the windows and the tray are real)."""

from __future__ import annotations

import threading

from esecure.errors import EnrolmentError
from esecure.launcher.flow import machine as m
from esecure.launcher.flow.presenter import PresenterContext, UpdateOffer
from tests.launcher.flow.fakes import FakeSteps
from tests.launcher.ui.guidriver import WAIT

PRODUCT = {
    "name": "e-secure",
    "bank_name": "Demo Bank",
    "portal_name": "Demo Net",
    "launcher_name": "e-secure Demo",
    "support_phone": "+33 1 23 45 67 89",
    "colours": {"primary": "#b3002d", "secondary": "#f4f0e8"},
}
OFFER = UpdateOffer("2.1.0", 12_345_678, (4.0, 95.0), required=False)
REQUIRED = UpdateOffer("3.0.0", 98_000_000, (20.0, 400.0), required=True)
WRONG, RIGHT = "WRONG-1234-CODE", "RIGHT-5678-CODE"


class Session:
    """Tray actions that record their calls (the tray test uses the real session)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.ended = threading.Event()

    def open_site(self) -> None:
        self.calls.append("open_site")

    def diagnostics(self) -> None:
        self.calls.append("diagnostics")

    def remove_key(self) -> None:
        self.calls.append("remove_key")
        self.ended.set()

    def firefox_running(self) -> bool:
        return not self.ended.is_set()

    def wait(self, timeout=None) -> bool:
        return self.ended.wait(timeout)


class Steps(FakeSteps):
    """The flow tests' scripted adapters, with: ``gate`` (the first step waits for the
    driver: a screenshot of the progress page), an enrolment accepted only with
    :data:`RIGHT`, a recording session, and no report file (the error's own text is
    saved)."""

    def __init__(self, **script) -> None:
        super().__init__(**script)
        self.gate = threading.Event()
        self.enrolments: list[str] = []
        self.session = Session()

    def self_check(self):
        self.gate.wait(WAIT)
        return super().self_check()

    def enrol(self, enrolment):
        self.enrolments.append(enrolment.identifier)
        self.calls.append("enrol")
        if enrolment.activation_code == RIGHT:
            return m.Enrolled()
        return m.EnrolmentRefused(EnrolmentError("identifier or code refused", code="ES203"))

    def tray_actions(self):
        return self.session

    def save_report(self, error):
        self.reports.append(error.code)


def context(lang: str) -> PresenterContext:
    """The windows' context for the demo product in ``lang``."""
    return PresenterContext(PRODUCT, lang, PRODUCT["support_phone"], None)
