"""One GUI scenario in one process: ``python windows_driver.py SCENARIO OUTDIR``.

Runs the real windows (``esecure.launcher.ui.gui.run``) with the flow's real runner over
scripted adapters, and drives them like a user; writes OUTDIR/result.json and one
screenshot per window. Started by test_windows.py under xvfb-run + dbus-run-session.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.launcher.ui.guidriver import (  # noqa: E402
    WAIT,
    Driver,
    add_root_to_path,
    drive,
    setup_logging,
    write_result,
)

add_root_to_path()

from esecure.errors import EnrolmentError, IntegrityError  # noqa: E402
from esecure.launcher.flow import machine as m  # noqa: E402
from esecure.launcher.flow.presenter import PresenterContext, UpdateOffer  # noqa: E402
from esecure.launcher.flow.runner import run_flow  # noqa: E402
from esecure.launcher.ui.gui import run  # noqa: E402

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
        return None

    def close(self):
        self.calls.append("close")


# --- scenarios ----------------------------------------------------------------------------------
def journey(out: Path, result: dict) -> int:
    """Progress, the offer (later, a real click), the form refused then accepted (real
    typing and clicks), the session page and the tray's entries."""
    steps = Steps(
        check_updates=m.UpdateOffered(OFFER),
        check_certificate=m.CertificateStatus("missing", "KEY-0042"),
    )

    def script(d: Driver) -> None:
        d.wait_page("progress")
        d.wait_for("the first text", lambda: d.text("progress-text") != "")
        d.notes["first_text"] = d.text("progress-text")
        d.screenshot("progress")
        steps.gate.set()
        d.wait_page("offer")
        d.notes["offer"] = [d.text(e) for e in ("offer-version", "offer-size", "offer-time")]
        d.notes["later_hidden"] = d.hidden("offer-later")
        d.screenshot("offer")
        d.real_click("offer-later")
        d.wait_page("enrol")
        d.notes["serial"] = d.text("enrol-serial")
        d.notes["refusal_hidden_first"] = d.hidden("enrol-refusal")
        d.screenshot("enrol")
        d.set_value("identifier", "alice")
        d.set_value("code", WRONG)
        d.click("enrol-submit")
        d.wait_for("the refusal", lambda: not d.hidden("enrol-refusal"))
        d.wait_for("buttons again", lambda: not d.js("document.getElementById('enrol-submit').disabled"))
        d.notes["refusal"] = d.text("refusal-title")
        d.notes["wrong_code_in_dom"] = WRONG in d.dom()
        d.screenshot("enrol-refused")
        d.real_click("code")
        d.real_type(RIGHT)
        d.notes["typed_length"] = d.js("document.getElementById('code').value.length")
        d.real_click("enrol-submit")
        d.wait_page("session")
        d.notes["right_code_in_dom"] = RIGHT in d.dom()
        d.notes["session_text"] = d.text("session-text")
        d.screenshot("session")
        d.wait_for("the tray icon", lambda: d.gui.tray is not None)
        icon = d.gui.tray.icon
        d.notes["tray_items"] = [str(item.text) for item in icon.menu.items]
        icon.menu.items[0](icon)
        icon.menu.items[1](icon)
        d.wait_for("two tray actions", lambda: len(steps.session.calls) >= 2)
        d.click("session-remove")

    result["exit"] = run(flow_of(steps), context("en"), observe=drive(script, out, result))
    result["calls"] = steps.calls
    result["enrolments"] = steps.enrolments
    result["session"] = steps.session.calls
    return result["exit"]


def error(out: Path, result: dict) -> int:
    """In French: a required offer (no "later"), then an error (ES101) with its report
    saved on the desktop, closed by a real click."""
    steps = Steps(self_check=IntegrityError("app/x.pyc: size 12, expected 14", code="ES101"))
    steps.gate.set()
    answers: list[str] = []

    def flow(presenter) -> int:
        answers.append(presenter.offer_update(REQUIRED))
        return run_flow(steps, presenter, lang="fr", values={"portal": "Demo Net"})

    def script(d: Driver) -> None:
        d.wait_page("offer")
        d.notes["later_hidden"] = d.hidden("offer-later")
        d.notes["offer_kind"] = d.text("offer-kind")
        d.screenshot("offer-required")
        d.click("offer-now")
        d.wait_page("error")
        d.notes["error"] = {
            e: d.text(e)
            for e in ("error-code", "error-title", "error-detail", "error-action", "error-support")
        }
        d.screenshot("error")
        d.click("error-save")
        d.wait_for("the saved path", lambda: d.text("error-saved") != "")
        d.notes["saved"] = d.text("error-saved")
        d.real_click("error-close")

    result["exit"] = run(flow, context("fr"), observe=drive(script, out, result))
    result["answers"] = answers
    result["calls"] = steps.calls
    return result["exit"]


def cancel(out: Path, result: dict) -> int:
    """The form cancelled: the flow's message stays on the last page until closed."""
    steps = Steps(check_certificate=m.CertificateStatus("missing", "KEY-0042"))
    steps.gate.set()

    def script(d: Driver) -> None:
        d.wait_page("enrol")
        d.click("enrol-cancel")
        d.wait_page("final")
        d.notes["final"] = d.text("final-text")
        d.screenshot("final")
        d.click("final-close")

    result["exit"] = run(flow_of(steps), context("en"), observe=drive(script, out, result))
    result["calls"] = steps.calls
    return result["exit"]


def flow_of(steps: Steps):
    def flow(presenter) -> int:
        return run_flow(steps, presenter, lang="en", values={"portal": "Demo Net"})

    return flow


def context(lang: str) -> PresenterContext:
    return PresenterContext(PRODUCT, lang, PRODUCT["support_phone"], None)


SCENARIOS = {"journey": journey, "error": error, "cancel": cancel}


def main() -> None:
    name, out = sys.argv[1], Path(sys.argv[2])
    setup_logging(out)
    result: dict = {"scenario": name}
    try:
        SCENARIOS[name](out, result)
    finally:
        write_result(out, result)


if __name__ == "__main__":
    main()
