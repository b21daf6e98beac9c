"""The thin runner: executes the machine's effects through adapters and a presenter.

The adapters (:class:`Steps`) do the I/O, one method per command effect, each returning
the event it observed; the presenter shows and asks. The runner adds nothing but order:
it feeds each command's event back to :func:`esecure.launcher.flow.machine.step`, turns an
error that escaped an adapter into a :class:`~esecure.launcher.flow.machine.Failed` event
(a bug becomes ES107, never a traceback on the user's screen), and bounds the number of
transitions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from esecure.errors import EsecureError, OperationError
from esecure.launcher.flow import machine as m
from esecure.launcher.flow.presenter import Enrolment, Presenter, TrayActions, UpdateOffer
from esecure.launcher.flow.texts import text

__all__ = ["MAX_TRANSITIONS", "Steps", "run_flow"]

log = logging.getLogger(__name__)

MAX_TRANSITIONS = 64
"""Far above the longest flow (about 20 transitions with three enrolment attempts)."""


class Steps(Protocol):
    """The flow's adapters: what each command effect does on this key and this host."""

    def self_check(self) -> m.SelfChecked | m.Failed:
        """The start check (signature and sizes of the CD-ROM)."""

    def take_lock(self) -> m.LockTaken | m.LockHeld | m.Failed:
        """Become the key's only session, or signal the one that is."""

    def prepare_data_area(self) -> m.DataAreaReady | m.Failed:
        """Initialise the data area on first use."""

    def check_updates(
        self,
    ) -> m.NoUpdate | m.UpdateOffline | m.UpdateRefused | m.UpdateOffered | m.Failed:
        """The signed update check (bounded)."""

    def apply_update(self, offer: UpdateOffer) -> m.UpdateApplied | m.UpdateNotApplied:
        """Download, verify and install ``offer``; switch to it."""

    def restart(self) -> m.Failed | None:
        """Start the key again into the new release; None when the new process took over
        (the real adapter never returns then)."""

    def check_certificate(self) -> m.CertificateStatus | m.Failed:
        """The stored credential's status."""

    def renew(self) -> m.Renewed | m.RenewalPostponed | m.Failed:
        """Silent renewal."""

    def enrol(self, enrolment: Enrolment) -> m.Enrolled | m.EnrolmentRefused | m.Failed:
        """First enrolment with the identifier and activation code."""

    def prepare_profile(self) -> m.ProfileReady | m.Failed:
        """The live profile from the template (made, or merged)."""

    def deliver_certificate(self) -> m.CertificateDelivered | m.Failed:
        """The certificate into the live profile's NSS database."""

    def start_browser(self) -> m.BrowserStarted | m.Failed:
        """The key's Firefox on the site."""

    def tray_actions(self) -> TrayActions:
        """What the tray may do with the running session."""

    def confirm_started(self) -> None:
        """Mark the running release good (errors are logged, never raised)."""

    def verify_in_background(self, problem: Callable[[EsecureError], None]) -> None:
        """Start the full check of the CD-ROM off the critical path; ``problem`` is called
        (from another thread) if it fails."""

    def save_report(self, error: EsecureError) -> Path | None:
        """Save a support report for ``error``; its path, or None."""

    def close(self) -> None:
        """Release what the session holds (the lock, the signal listener)."""


def _internal(exc: Exception) -> OperationError:
    return OperationError(f"{type(exc).__name__}: {exc}", code="ES107")


def _command(effect: m.Effect, steps: Steps, presenter: Presenter) -> m.Event | None:  # noqa: PLR0911, PLR0912 - one case per command
    """Run one command effect: the event it yields (None: the process is being replaced)."""
    match effect:
        case m.RunSelfCheck():
            return steps.self_check()
        case m.TakeLock():
            return steps.take_lock()
        case m.PrepareDataArea():
            return steps.prepare_data_area()
        case m.CheckUpdates():
            return steps.check_updates()
        case m.AskUpdate(offer):
            return m.UpdateAnswered("now" if offer.required else presenter.offer_update(offer))
        case m.ApplyUpdate(offer):
            return steps.apply_update(offer)
        case m.Restart():
            return steps.restart()
        case m.CheckCertificate():
            return steps.check_certificate()
        case m.Renew():
            return steps.renew()
        case m.AskEnrolment(serial, refusal):
            answer = presenter.ask_enrolment(serial, refusal)
            return m.EnrolmentCancelled() if answer is None else m.EnrolmentGiven(answer)
        case m.Enrol(enrolment):
            return steps.enrol(enrolment)
        case m.PrepareProfile():
            return steps.prepare_profile()
        case m.DeliverCertificate():
            return steps.deliver_certificate()
        case m.StartBrowser():
            return steps.start_browser()
        case m.ShowTray():
            presenter.show_tray(steps.tray_actions())
            return m.SessionEnded()
    raise AssertionError(f"not a command: {effect!r}")  # pragma: no cover


def _output(
    effect: m.Effect,
    steps: Steps,
    presenter: Presenter,
    say: Callable[[str], str],
) -> None:
    match effect:
        case m.Progress(step, fraction, key):
            presenter.progress(step, fraction, say(key))
        case m.Message(key):
            presenter.message(say(key))
        case m.Notice(error):
            presenter.notice(error)
        case m.ShowError(error):
            presenter.show_error(error, steps.save_report(error))
        case m.ConfirmStarted():
            steps.confirm_started()
        case m.VerifyInBackground():
            steps.verify_in_background(presenter.notice)
        case m.Exit():
            pass
        case _:  # pragma: no cover
            raise AssertionError(f"not an output: {effect!r}")


def run_flow(
    steps: Steps,
    presenter: Presenter,
    *,
    lang: str = "en",
    values: Mapping[str, str] | None = None,
    state: m.State | None = None,
) -> int:
    """Run the flow from ``state`` (default: the start) to its end; the exit code.

    ``values`` fill the texts' fields (``portal``: the portal's name)."""
    fields = dict(values or {})
    fields.setdefault("portal", "the bank's site")

    def say(key: str) -> str:
        return text(key, lang, **fields)

    state, effects = m.step(state or m.State(), m.Start())
    try:
        for _ in range(MAX_TRANSITIONS):
            event: m.Event | None = None
            for effect in effects:
                if not isinstance(effect, m.COMMANDS):
                    try:
                        _output(effect, steps, presenter, say)
                    except Exception:  # an output that fails must not stop the flow
                        log.exception("the flow's %s failed", type(effect).__name__)
                    continue
                try:
                    event = _command(effect, steps, presenter)
                except EsecureError as exc:
                    event = m.Failed(exc)
                except Exception as exc:  # a bug must still end in a window, not a traceback
                    log.exception("the flow's %s failed", type(effect).__name__)
                    event = m.Failed(_internal(exc))
                if event is None:  # restarted into the new release
                    return 0
            if state.phase == "done":
                return state.exit_code if state.exit_code is not None else 1
            if event is None:
                raise AssertionError(f"phase {state.phase!r} ran no command")
            log.debug("flow: %s in %s", type(event).__name__, state.phase)
            state, effects = m.step(state, event)
        raise AssertionError(f"the flow did not end within {MAX_TRANSITIONS} transitions")
    finally:
        steps.close()
