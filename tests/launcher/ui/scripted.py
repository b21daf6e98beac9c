"""Scripted adapters and a recording session for the GUI drivers (the flow's real runner
drives them; the windows and the tray are real)."""

from __future__ import annotations

import threading

from esecure.errors import EnrolmentError
from esecure.launcher.flow import machine as m
from esecure.launcher.flow.presenter import PresenterContext, UpdateOffer
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


class Steps:
    """Scripted adapters: each answer an event, a list (one per call) or an exception;
    ``gate``: the first step waits for the driver (a screenshot of the progress page)."""

    def __init__(self, **script) -> None:
        self.script = {
            "self_check": m.SelfChecked(),
            "take_lock": m.LockTaken(),
            "prepare_data_area": m.DataAreaReady(),
            "check_updates": m.NoUpdate(),
            "apply_update": m.UpdateApplied(),
            "restart": None,
            "check_certificate": m.CertificateStatus("valid", "SERIAL-1"),
            "renew": m.Renewed(),
            "enrol": m.Enrolled(),
            "prepare_profile": m.ProfileReady(),
            "deliver_certificate": m.CertificateDelivered(),
            "start_browser": m.BrowserStarted(4242),
            **script,
        }
        self.calls: list[str] = []
        self.enrolments: list[str] = []
        self.offers: list[str] = []
        self.reports: list[str] = []
        self.gate = threading.Event()
        self.session = Session()

    def _answer(self, name):
        self.calls.append(name)
        value = self.script[name]
        if isinstance(value, list):
            value = value.pop(0)
        if isinstance(value, BaseException):
            raise value
        return value

    def self_check(self):
        self.gate.wait(WAIT)
        return self._answer("self_check")

    def take_lock(self):
        return self._answer("take_lock")

    def prepare_data_area(self):
        return self._answer("prepare_data_area")

    def check_updates(self):
        return self._answer("check_updates")

    def apply_update(self, offer):
        self.offers.append(offer.version)
        return self._answer("apply_update")

    def restart(self):
        return self._answer("restart")

    def check_certificate(self):
        return self._answer("check_certificate")

    def renew(self):
        return self._answer("renew")

    def enrol(self, enrolment):
        self.enrolments.append(enrolment.identifier)
        ok = enrolment.activation_code == RIGHT
        self.calls.append("enrol")
        if ok:
            return m.Enrolled()
        return m.EnrolmentRefused(EnrolmentError("identifier or code refused", code="ES203"))

    def prepare_profile(self):
        return self._answer("prepare_profile")

    def deliver_certificate(self):
        return self._answer("deliver_certificate")

    def start_browser(self):
        return self._answer("start_browser")

    def tray_actions(self):
        return self.session

    def confirm_started(self):
        pass

    def verify_in_background(self, problem):
        pass

    def save_report(self, error):
        self.reports.append(error.code)

    def close(self):
        self.calls.append("close")


def context(lang: str) -> PresenterContext:
    """The windows' context for the demo product in ``lang``."""
    return PresenterContext(PRODUCT, lang, PRODUCT["support_phone"], None)
