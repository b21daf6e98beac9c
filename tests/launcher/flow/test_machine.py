"""The flow's state machine, alone: every (phase, event) pair, every branch, pure."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from esecure.errors import EnrolmentError, NetworkError, UpdateError, UpdateSecurityError
from esecure.launcher.flow import machine as m
from esecure.launcher.flow.presenter import STEPS, Enrolment, UpdateOffer
from esecure.launcher.flow.texts import TEXTS

OFFER = UpdateOffer("2.0.0", 1000, (1.0, 2.0), required=False)
REQUIRED = dataclasses.replace(OFFER, required=True)
REFUSED = EnrolmentError("wrong code", code="ES203")
OFFLINE = UpdateError("no route", code="ES520")
ALERT = UpdateSecurityError("bad signature", code="ES501")
ENROLMENT = Enrolment("alice", "CODE-1234")

# one instance of every event type
EVENTS: list[m.Event] = [
    m.Start(),
    m.SelfChecked(),
    m.LockTaken(),
    m.LockHeld(),
    m.DataAreaReady(),
    m.NoUpdate(),
    m.UpdateOffline(OFFLINE),
    m.UpdateRefused(ALERT),
    m.UpdateOffered(OFFER),
    m.UpdateAnswered("now"),
    m.UpdateApplied(),
    m.UpdateNotApplied(OFFLINE),
    m.CertificateStatus("valid", "S1"),
    m.Renewed(),
    m.RenewalPostponed(NetworkError("offline", code="ES301")),
    m.EnrolmentGiven(ENROLMENT),
    m.EnrolmentCancelled(),
    m.Enrolled(),
    m.EnrolmentRefused(REFUSED),
    m.ProfileReady(),
    m.CertificateDelivered(),
    m.BrowserStarted(42),
    m.SessionEnded(),
    m.Failed(NetworkError("down", code="ES301")),
]


def test_every_event_type_is_listed():
    """The test covers each member of the Event union."""
    assert {type(e) for e in EVENTS} == set(typing.get_args(m.Event))


def test_phases_match_the_literal():
    """PHASES lists the Phase literal, in flow order."""
    assert set(m.PHASES) == set(typing.get_args(m.Phase))


@pytest.mark.parametrize("phase", m.PHASES)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_pair_is_a_transition_or_refused(phase, event):
    """Each (phase, event) pair either is in the table and yields a valid transition, or is
    refused as a bug; the table holds no other pair."""
    state = m.State(phase=phase, offer=OFFER, serial="S1")
    if (phase, type(event)) not in m.TABLE:
        with pytest.raises(m.UnexpectedEventError):
            m.step(state, event)
        return
    new, effects = m.step(state, event)
    assert new.phase in m.PHASES
    commands = [e for e in effects if isinstance(e, m.COMMANDS)]
    assert len(commands) <= 1, effects  # one event at a time
    ends = [e for e in effects if isinstance(e, m.Exit)]
    if new.phase == "done":
        assert ends == [effects[-1]] and not commands
        assert new.exit_code == ends[0].code
    else:
        assert len(commands) == 1 and not ends  # the flow always waits for one event
    for effect in effects:
        if isinstance(effect, m.Progress):
            assert effect.step in STEPS and 0 <= effect.fraction <= 1
            assert effect.text in TEXTS
        if isinstance(effect, m.Message):
            assert effect.text in TEXTS


def test_nothing_leaves_done():
    """The end is the end: no event is taken in phase done."""
    assert not [pair for pair in m.TABLE if pair[0] == "done"]


def test_failure_is_taken_wherever_something_runs():
    """Every phase between the start and the end takes Failed (an adapter's, or the
    presenter's while it asks or shows the tray)."""
    failable = {phase for phase, kind in m.TABLE if kind is m.Failed}
    assert failable == set(m.PHASES) - {"start", "done"}


def run(events, state=None):
    """Feed ``events`` from the start; (final state, every effect in order)."""
    state, effects = m.step(state or m.State(), m.Start())
    seen = list(effects)
    for event in events:
        state, effects = m.step(state, event)
        seen.extend(effects)
    return state, seen


def kinds(effects):
    return [type(e).__name__ for e in effects if not isinstance(e, m.Progress)]


HEAD = [m.SelfChecked(), m.LockTaken(), m.DataAreaReady()]
TAIL = [m.ProfileReady(), m.CertificateDelivered(), m.BrowserStarted(7), m.SessionEnded()]
TAIL_KINDS = [
    "PrepareProfile",
    "DeliverCertificate",
    "StartBrowser",
    "VerifyInBackground",
    "ShowTray",
    "Exit",
]


def test_nothing_to_do_goes_straight_to_the_site():
    """No update, a valid certificate: profile, certificate, browser, tray, exit 0."""
    state, effects = run([*HEAD, m.NoUpdate(), m.CertificateStatus("valid", "S1"), *TAIL])
    assert state.phase == "done" and state.exit_code == 0
    assert kinds(effects) == [
        "RunSelfCheck",
        "TakeLock",
        "PrepareDataArea",
        "CheckUpdates",
        "ConfirmStarted",
        "CheckCertificate",
        *TAIL_KINDS,
    ]
    fractions = [e.fraction for e in effects if isinstance(e, m.Progress)]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_first_use_says_the_key_is_activated():
    """A data area initialised now ends with the activation message (guide step 2)."""
    _, effects = run([m.SelfChecked(), m.LockTaken(), m.DataAreaReady(first_use=True)])
    assert m.Message("activated") in effects


def test_update_now_applies_then_restarts():
    """Update now: apply, then restart into the new release (counted)."""
    state, effects = run(
        [*HEAD, m.UpdateOffered(OFFER), m.UpdateAnswered("now"), m.UpdateApplied()]
    )
    assert state.phase == "restart" and state.restarts == 1
    assert kinds(effects)[-3:] == ["AskUpdate", "ApplyUpdate", "Restart"]
    assert m.AskUpdate(OFFER) in effects and m.ApplyUpdate(OFFER) in effects


def test_update_later_goes_on_with_this_version():
    """Update later: no download; the certificate step follows."""
    state, effects = run([*HEAD, m.UpdateOffered(OFFER), m.UpdateAnswered("later")])
    assert state.phase == "certificate" and state.offer is None
    assert "ApplyUpdate" not in kinds(effects)


def test_a_required_update_ignores_later():
    """A required release is applied whatever the answer (the presenter offers no later)."""
    state, effects = run([*HEAD, m.UpdateOffered(REQUIRED), m.UpdateAnswered("later")])
    assert state.phase == "update-apply"
    assert m.ApplyUpdate(REQUIRED) in effects


@pytest.mark.parametrize(
    "event", [m.UpdateOffline(OFFLINE), m.UpdateRefused(ALERT)], ids=["offline", "security"]
)
def test_offline_and_security_errors_are_notices(event):
    """Offline, or a security failure of the channel: shown as a notice, the key goes on."""
    state, effects = run([*HEAD, event])
    assert state.phase == "certificate"
    notice = OFFLINE if isinstance(event, m.UpdateOffline) else ALERT
    assert m.Notice(notice) in effects and "ShowError" not in kinds(effects)


def test_a_failed_install_is_a_notice_too():
    """Download or install failed: notice, then the certificate step with this version."""
    state, effects = run(
        [*HEAD, m.UpdateOffered(OFFER), m.UpdateAnswered("now"), m.UpdateNotApplied(OFFLINE)]
    )
    assert state.phase == "certificate" and m.Notice(OFFLINE) in effects


def test_no_second_restart_in_one_session():
    """After one restart, an offer again (the bootstrap refused the new release) is not
    taken: no restart loop."""
    state, effects = run([*HEAD, m.UpdateOffered(OFFER)], m.State(restarts=1))
    assert state.phase == "certificate" and "AskUpdate" not in kinds(effects)


def test_offline_too_long_stops_the_key():
    """ES521 from the update step is an error that ends the flow."""
    error = UpdateError("offline since 40 days", code="ES521")
    state, effects = run([*HEAD, m.Failed(error)])
    assert state.exit_code == 1 and effects[-2:] == [m.ShowError(error), m.Exit(1)]


def test_renewal_is_silent():
    """A certificate due for renewal is renewed without asking anything."""
    state, effects = run([*HEAD, m.NoUpdate(), m.CertificateStatus("renew", "S1"), m.Renewed()])
    assert state.phase == "profile"
    assert "Renew" in kinds(effects) and "AskEnrolment" not in kinds(effects)


def test_a_postponed_renewal_is_a_notice():
    """Renewal failed while the certificate is still valid: notice, go on."""
    notice = NetworkError("down", code="ES301")
    state, effects = run(
        [*HEAD, m.NoUpdate(), m.CertificateStatus("renew", "S1"), m.RenewalPostponed(notice)]
    )
    assert state.phase == "profile" and m.Notice(notice) in effects


def test_enrolment_asks_with_the_serial_then_enrols():
    """No certificate: the form shows the key's serial; the answer is enrolled."""
    state, effects = run(
        [*HEAD, m.NoUpdate(), m.CertificateStatus("missing", "S1"), m.EnrolmentGiven(ENROLMENT)]
    )
    assert m.AskEnrolment("S1", None) in effects
    assert state.phase == "enrol" and state.attempts == 1
    assert m.Enrol(ENROLMENT) in effects
    assert "CODE-1234" not in repr(effects)  # the code is never in a repr (logs)


def test_a_refusal_asks_again_showing_it_then_stops():
    """A refused enrolment asks again with the refusal shown, at most max_enrol_attempts
    times; the last refusal is the error."""
    events = [*HEAD, m.NoUpdate(), m.CertificateStatus("missing", "S1")]
    for _ in range(2):
        events += [m.EnrolmentGiven(ENROLMENT), m.EnrolmentRefused(REFUSED)]
    state, effects = run(events)
    assert state.phase == "enrol-ask" and effects[-1] == m.AskEnrolment("S1", REFUSED)
    state, effects = m.step(state, m.EnrolmentGiven(ENROLMENT))
    state, effects = m.step(state, m.EnrolmentRefused(REFUSED))
    assert state.exit_code == 1 and effects == (m.ShowError(REFUSED), m.Exit(1))


def test_refused_then_enrolled_goes_on():
    """A second attempt that succeeds continues to the profile."""
    events = [*HEAD, m.NoUpdate(), m.CertificateStatus("missing", "S1")]
    events += [m.EnrolmentGiven(ENROLMENT), m.EnrolmentRefused(REFUSED)]
    events += [m.EnrolmentGiven(ENROLMENT), m.Enrolled()]
    state, _ = run(events)
    assert state.phase == "profile" and state.refusal is None


def test_cancel_ends_with_a_message():
    """Cancelling the form ends the flow with exit 1 and says why."""
    state, effects = run(
        [*HEAD, m.NoUpdate(), m.CertificateStatus("missing", "S1"), m.EnrolmentCancelled()]
    )
    assert state.exit_code == 1 and effects[-2:] == [m.Message("cancelled"), m.Exit(1)]


@pytest.mark.parametrize("starting", [False, True])
def test_lock_held_says_so_and_exits_0(starting):
    """A second start: the running session was signalled; say so, exit 0, nothing else."""
    state, effects = run([m.SelfChecked(), m.LockHeld(starting=starting)])
    said = "already-starting" if starting else "already-running"
    assert state.exit_code == 0 and effects[-2:] == [m.Message(said), m.Exit(0)]
    assert "PrepareDataArea" not in kinds(effects)


def test_firefox_failing_to_start_is_the_error():
    """The browser step's error ends the flow with that error."""
    error = NetworkError("x", code="ES301")
    events = [*HEAD, m.NoUpdate(), m.CertificateStatus("valid", "S1"), m.ProfileReady()]
    state, effects = run([*events, m.CertificateDelivered(), m.Failed(error)])
    assert state.phase == "done"
    assert effects[-2:] == [m.ShowError(error), m.Exit(1)]
