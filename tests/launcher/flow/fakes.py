"""Fakes for the flow's unit tests: scripted adapters and a recording presenter."""

from __future__ import annotations

import threading
from pathlib import Path

from esecure.errors import EsecureError
from esecure.launcher.flow import machine as m
from esecure.launcher.flow.presenter import Enrolment, UpdateOffer

DEFAULTS = {
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
}


class FakeTray:
    """Tray actions of a session that ends when asked."""

    def __init__(self):
        self.ended = threading.Event()

    def open_site(self):
        pass

    def diagnostics(self):
        pass

    def remove_key(self):
        self.ended.set()

    def firefox_running(self):
        return not self.ended.is_set()

    def wait(self, timeout=None):
        return self.ended.wait(timeout)


class FakeSteps:
    """Adapters answering from a script: each value an event, a list of events (one per
    call), or an exception to raise."""

    def __init__(self, **script):
        self.script = {**DEFAULTS, **script}
        self.calls: list[str] = []
        self.closed = False
        self.confirmed = False
        self.background = False
        self.reports: list[str] = []
        self.tray = FakeTray()

    def _answer(self, name, *args):
        self.calls.append(name)
        self.args = args
        value = self.script[name]
        if isinstance(value, list):
            value = value.pop(0)
        if isinstance(value, BaseException):
            raise value
        return value

    def self_check(self):
        return self._answer("self_check")

    def take_lock(self):
        return self._answer("take_lock")

    def prepare_data_area(self):
        return self._answer("prepare_data_area")

    def check_updates(self):
        return self._answer("check_updates")

    def apply_update(self, offer: UpdateOffer):
        return self._answer("apply_update", offer)

    def restart(self):
        return self._answer("restart")

    def check_certificate(self):
        return self._answer("check_certificate")

    def renew(self):
        return self._answer("renew")

    def enrol(self, enrolment: Enrolment):
        self.calls.append(f"enrol:{enrolment.identifier}")
        return self._answer("enrol", enrolment)

    def prepare_profile(self):
        return self._answer("prepare_profile")

    def deliver_certificate(self):
        return self._answer("deliver_certificate")

    def start_browser(self):
        return self._answer("start_browser")

    def tray_actions(self):
        return self.tray

    def confirm_started(self):
        self.confirmed = True

    def verify_in_background(self, problem):
        self.background = problem

    def save_report(self, error: EsecureError):
        self.reports.append(error.code)
        return Path("/reports") / f"{error.code}.json"

    def close(self):
        self.closed = True


class RecordingPresenter:
    """Records every call; answers offers and forms from scripts."""

    def __init__(self, update="now", enrolments=()):
        self.update = update
        self.enrolments = list(enrolments)
        self.log: list[tuple] = []

    def progress(self, step, fraction, text):
        self.log.append(("progress", step, fraction, text))

    def message(self, text):
        self.log.append(("message", text))

    def notice(self, error):
        self.log.append(("notice", error.code))

    def offer_update(self, offer):
        self.log.append(("offer", offer.version, offer.required))
        return self.update

    def ask_enrolment(self, serial, refusal):
        self.log.append(("ask", serial, refusal.code if refusal else None))
        return self.enrolments.pop(0) if self.enrolments else None

    def show_error(self, error, report):
        self.log.append(("error", error.code, str(report)))

    def show_tray(self, actions):
        self.log.append(("tray",))
        actions.remove_key()
        assert actions.wait(1)

    def kinds(self):
        return [entry[0] for entry in self.log if entry[0] != "progress"]
