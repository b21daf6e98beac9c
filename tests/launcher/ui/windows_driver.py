"""One GUI scenario in one process: ``python windows_driver.py SCENARIO OUTDIR``.

Runs the real windows (``esecure.launcher.ui.gui.run``) with the flow's real runner over
scripted adapters, and drives them like a user; writes OUTDIR/result.json and one
screenshot per window. Started by test_windows.py under xvfb-run + dbus-run-session.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.launcher.ui.guidriver import (
    Driver,
    add_root_to_path,
    drive,
    setup_logging,
    write_result,
)

add_root_to_path()

from esecure.errors import IntegrityError  # noqa: E402
from esecure.launcher.flow import machine as m  # noqa: E402
from esecure.launcher.flow.runner import run_flow  # noqa: E402
from esecure.launcher.ui.gui import run  # noqa: E402
from tests.launcher.ui.scripted import OFFER, REQUIRED, RIGHT, WRONG, Steps, context  # noqa: E402


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
        submit = "document.getElementById('enrol-submit').disabled"
        d.wait_for("the buttons again", lambda: not d.js(submit))
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


def app(out: Path, result: dict) -> int:
    """The real `e-secure` (no argument) on a small signed key without a certificate: the
    flow's own adapters reach the enrolment form in these windows, with the key's serial."""
    from esecure.launcher import app as launcher  # noqa: PLC0415
    from esecure.launcher.ui import gui  # noqa: PLC0415
    from esecure.scaffold import InitOptions, init_project  # noqa: PLC0415
    from tests.launcher.flow.keyfix import make_key  # noqa: PLC0415

    project = out / "project"
    init_project(project, InitOptions(demo=True), passphrase=None)
    key = make_key(out / "key", ca_pem=(project / "trust" / "ca.pem").read_bytes())
    os.environ["ESECURE_CD_ROOT"] = str(key.cd)
    os.environ["ESECURE_DATA_DIR"] = str(key.data)

    def script(d: Driver) -> None:
        d.wait_page("enrol")
        d.notes["serial"] = d.text("enrol-serial")
        d.notes["title"] = d.js("document.title")
        d.screenshot("app-enrol")
        d.click("enrol-cancel")
        d.wait_page("final")
        d.click("final-close")

    gui.run = functools.partial(gui.run, observe=drive(script, out, result))
    result["exit"] = launcher.main([])
    return result["exit"]


SCENARIOS = {"journey": journey, "error": error, "cancel": cancel, "app": app}


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
