"""The flow driven end to end through the runner, with fake adapters: every branch the
issue names (update now / later / required / none / offline / security error; enrol /
renew / valid / refused; Firefox fails to start; lock held; stale lock)."""

from __future__ import annotations

import pytest

from esecure.errors import (
    EnrolmentError,
    NetworkError,
    OperationError,
    SessionError,
    UpdateError,
    UpdateSecurityError,
)
from esecure.launcher.flow import machine as m
from esecure.launcher.flow.presenter import Enrolment, UpdateOffer
from esecure.launcher.flow.runner import run_flow
from tests.launcher.flow.fakes import FakeSteps, RecordingPresenter

OFFER = UpdateOffer("2.0.0", 2_000_000, (1.0, 17.0), required=False)
REQUIRED = UpdateOffer("2.0.0", 2_000_000, (1.0, 17.0), required=True)
ALICE = Enrolment("alice", "ACTIVATION-1")


def flow(steps, presenter=None, **kw):
    presenter = presenter or RecordingPresenter()
    code = run_flow(steps, presenter, values={"portal": "Sogecash Net"}, **kw)
    assert steps.closed  # the lock is always released
    return code, presenter


def test_valid_certificate_and_no_update_opens_the_site():
    """Nothing to do: progress through every step, the site opens, the tray ends it: 0."""
    steps = FakeSteps()
    code, shown = flow(steps)
    assert code == 0
    assert steps.calls == [
        "self_check",
        "take_lock",
        "prepare_data_area",
        "check_updates",
        "check_certificate",
        "prepare_profile",
        "deliver_certificate",
        "start_browser",
    ]
    assert steps.confirmed and steps.background
    assert shown.kinds() == ["tray"]
    texts = [entry[3] for entry in shown.log if entry[0] == "progress"]
    assert texts[0] == "Checking the key…"
    assert "Connecting to Sogecash Net, please wait…" in texts


def test_update_now_applies_and_restarts():
    """Update now: applied, then the key restarts into it (the process is replaced: 0)."""
    steps = FakeSteps(check_updates=m.UpdateOffered(OFFER))
    code, shown = flow(steps, RecordingPresenter(update="now"))
    assert code == 0
    assert steps.calls[-3:] == ["check_updates", "apply_update", "restart"]
    assert ("offer", "2.0.0", False) in shown.log
    assert "start_browser" not in steps.calls


def test_update_later_goes_on_with_the_current_version():
    """Update later: nothing downloaded, the site opens."""
    steps = FakeSteps(check_updates=m.UpdateOffered(OFFER))
    code, shown = flow(steps, RecordingPresenter(update="later"))
    assert code == 0 and ("offer", "2.0.0", False) in shown.log
    assert "apply_update" not in steps.calls and "start_browser" in steps.calls


def test_required_update_is_not_offered_later():
    """A required release is applied without asking "later" (the presenter is not asked)."""
    steps = FakeSteps(check_updates=m.UpdateOffered(REQUIRED))
    code, shown = flow(steps, RecordingPresenter(update="later"))
    assert code == 0 and "apply_update" in steps.calls and "restart" in steps.calls
    assert "offer" not in shown.kinds()


def test_no_update_asks_nothing():
    """No update: no offer shown."""
    _, shown = flow(FakeSteps(check_updates=m.NoUpdate()))
    assert "offer" not in shown.kinds()


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (m.UpdateOffline(UpdateError("no route to host", code="ES520")), "ES520"),
        (m.UpdateRefused(UpdateSecurityError("bad signature", code="ES501")), "ES501"),
    ],
    ids=["offline", "security-error"],
)
def test_offline_or_security_error_is_a_notice_and_the_site_opens(event, code):
    """The update channel offline or failing a security check: a notice, then the site."""
    steps = FakeSteps(check_updates=event)
    exit_code, shown = flow(steps)
    assert exit_code == 0
    assert ("notice", code) in shown.log and "start_browser" in steps.calls


def test_offline_too_long_stops_with_its_error():
    """ES521 raised by the update step ends the flow with the error shown and a report."""
    steps = FakeSteps(check_updates=UpdateError("no check since 40 days", code="ES521"))
    code, shown = flow(steps)
    assert code == 1
    assert shown.log[-1] == ("error", "ES521", "/reports/ES521.json")
    assert steps.reports == ["ES521"]


def test_restart_refused_by_the_os_is_es526():
    """The exec into the new release fails: ES526, exit 1."""
    steps = FakeSteps(
        check_updates=m.UpdateOffered(OFFER),
        restart=m.Failed(OperationError("cannot start", code="ES526")),
    )
    code, shown = flow(steps)
    assert code == 1 and ("error", "ES526", "/reports/ES526.json") in shown.log


def test_first_enrolment_asks_once_and_enrols():
    """No certificate: the form (with the serial), enrolment, then the site."""
    steps = FakeSteps(check_certificate=m.CertificateStatus("missing", "SERIAL-1"))
    code, shown = flow(steps, RecordingPresenter(enrolments=[ALICE]))
    assert code == 0
    assert ("ask", "SERIAL-1", None) in shown.log
    assert "enrol:alice" in steps.calls and "start_browser" in steps.calls


def test_renewal_is_silent():
    """A certificate due for renewal is renewed without asking."""
    steps = FakeSteps(check_certificate=m.CertificateStatus("renew", "SERIAL-1"))
    code, shown = flow(steps)
    assert code == 0 and "renew" in steps.calls and "ask" not in shown.kinds()


def test_valid_certificate_does_nothing():
    """A valid certificate: neither renewal nor enrolment."""
    steps = FakeSteps()
    flow(steps)
    assert "renew" not in steps.calls and not [c for c in steps.calls if c.startswith("enrol")]


def test_refused_enrolment_shows_the_refusal_and_asks_again():
    """Refused once (wrong code): asked again with the refusal; the second try enrols."""
    wrong = EnrolmentError("401", code="ES203")
    steps = FakeSteps(
        check_certificate=m.CertificateStatus("missing", "SERIAL-1"),
        enrol=[m.EnrolmentRefused(wrong), m.Enrolled()],
    )
    code, shown = flow(steps, RecordingPresenter(enrolments=[ALICE, ALICE]))
    assert code == 0
    asks = [entry for entry in shown.log if entry[0] == "ask"]
    assert asks == [("ask", "SERIAL-1", None), ("ask", "SERIAL-1", "ES203")]


def test_refusals_are_bounded():
    """Refused three times: the last refusal is the error (no fourth form)."""
    wrong = EnrolmentError("401", code="ES203")
    steps = FakeSteps(
        check_certificate=m.CertificateStatus("missing", "SERIAL-1"),
        enrol=m.EnrolmentRefused(wrong),
    )
    code, shown = flow(steps, RecordingPresenter(enrolments=[ALICE] * 5))
    assert code == 1
    assert len([e for e in shown.log if e[0] == "ask"]) == 3
    assert shown.log[-1][:2] == ("error", "ES203")


def test_cancelled_enrolment_ends_with_a_message():
    """Cancelling the form: exit 1 with the message, no error window."""
    steps = FakeSteps(check_certificate=m.CertificateStatus("missing", "SERIAL-1"))
    code, shown = flow(steps, RecordingPresenter(enrolments=[]))
    assert code == 1 and shown.kinds()[-1] == "message" and "error" not in shown.kinds()


def test_firefox_failing_to_start_is_es403():
    """Firefox cannot start: ES403 shown, exit 1, the lock released."""
    steps = FakeSteps(start_browser=OperationError("no Firefox for linux", code="ES403"))
    code, shown = flow(steps)
    assert code == 1 and shown.log[-1][:2] == ("error", "ES403")


def test_lock_held_says_so_and_exits_0():
    """Another session holds the key and answered: say so, exit 0, nothing else runs."""
    steps = FakeSteps(take_lock=m.LockHeld())
    code, shown = flow(steps)
    assert code == 0
    assert steps.calls == ["self_check", "take_lock"]
    assert shown.log[-1] == (
        "message",
        "e-secure is already running: its browser was brought to the front.",
    )


def test_lock_held_by_a_session_that_does_not_answer_is_es401():
    """A holder that does not answer the signal: E6 (ES401)."""
    error = SessionError("holds this key and does not answer", code="ES401")
    code, shown = flow(FakeSteps(take_lock=m.Failed(error)))
    assert code == 1 and shown.log[-1][:2] == ("error", "ES401")


def test_stale_lock_is_taken_over_and_the_flow_goes_on():
    """A stale lock (crash, yanked key): taken over, the site opens."""
    steps = FakeSteps(take_lock=m.LockTaken(took_over="process 99 is gone"))
    code, _ = flow(steps)
    assert code == 0 and "start_browser" in steps.calls


def test_a_bug_in_an_adapter_is_es107_not_a_traceback(caplog):
    """An unexpected exception becomes ES107 in the window; the traceback goes to the log."""
    steps = FakeSteps(prepare_profile=KeyError("oops"))
    code, shown = flow(steps)
    assert code == 1 and shown.log[-1][:2] == ("error", "ES107")
    assert "KeyError" in caplog.text


def test_a_renewal_postponed_is_a_notice():
    """Renewal failed while the certificate is valid: notice, the site opens."""
    notice = NetworkError("timed out", code="ES301")
    steps = FakeSteps(
        check_certificate=m.CertificateStatus("renew", "S"), renew=m.RenewalPostponed(notice)
    )
    code, shown = flow(steps)
    assert code == 0 and ("notice", "ES301") in shown.log


def test_french_texts():
    """The texts follow the language."""
    _, shown = flow(FakeSteps(), lang="fr")
    texts = [entry[3] for entry in shown.log if entry[0] == "progress"]
    assert "Connexion à Sogecash Net en cours…" in texts


class BrokenTray(RecordingPresenter):
    """A presenter whose tray fails (a GUI bug)."""

    def show_tray(self, actions):
        raise RuntimeError(f"tray backend missing for {actions}")


def test_a_presenter_failing_is_es107_too():
    """The presenter's own failure (here its tray) ends in the error window (ES107)."""
    code, shown = flow(FakeSteps(), BrokenTray())
    assert code == 1 and shown.log[-1][:2] == ("error", "ES107")


class BrokenProgress(RecordingPresenter):
    """A presenter whose progress display fails."""

    def progress(self, step, fraction, text):
        raise RuntimeError(f"cannot draw {step} at {fraction}: {text}")


def test_an_output_that_fails_does_not_stop_the_flow(caplog):
    """An output effect failing (progress, confirm) is logged; the flow goes on."""
    steps = FakeSteps()
    code, shown = flow(steps, BrokenProgress())
    assert code == 0 and "start_browser" in steps.calls and shown.kinds() == ["tray"]
    assert "cannot draw" in caplog.text
