"""The start-up flow as one explicit state machine: ``step(state, event) -> (state, effects)``.

Pure: no I/O, no clock, no randomness; states, events and effects are frozen dataclasses.
The runner (:mod:`esecure.launcher.flow.runner`) executes the effects in order through
adapters; a *command* effect yields exactly one event, which is fed back here; an
*output* effect (progress, a message, a notice, an error, the exit) yields none. Every
transition emits at most one command, so the order of events is the machine's alone.

The phases, in flow order (seed guide steps 2-6)::

    start ─ self-check ─ lock ─┬─ (held: the other session brought forward) ─ done, exit 0
                               └─ data-area ─ update-check ─┬─ none / offline / refused ─┐
              ┌─────────────────────────────────────────────┴─ update-offer             │
              │  update-offer ─┬─ later (not required) ─────────────────────────────────┤
              │                └─ now ─ update-apply ─┬─ applied ─ restart (exec)        │
              │                                       └─ not applied (notice) ──────────┤
              └─ (offered again after a restart: not offered twice) ────────────────────┤
    certificate ─┬─ valid ───────────────────────────────────────────────────┐          ◄┘
                 ├─ renew ─ (renewed | postponed: notice) ───────────────────┤
                 └─ missing ─ enrol-ask ─ enrol ─┬─ enrolled ────────────────┤
                        ▲          │cancel       └─ refused ─ (again, bounded)
                        └──────────┼─────────────────────┘
                                   └─ done, exit 1
    profile ─ deliver ─ browser ─ running (tray) ─ done, exit 0

Any :class:`Failed` event in a phase that is not ``done`` ends the flow: the error is
shown and the process exits with the error's exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from esecure.errors import EsecureError
from esecure.launcher.flow.presenter import Enrolment, Step, UpdateChoice, UpdateOffer

__all__ = [
    "COMMANDS",
    "PHASES",
    "TABLE",
    "ApplyUpdate",
    "AskEnrolment",
    "AskUpdate",
    "BrowserStarted",
    "CertificateDelivered",
    "CertificateStatus",
    "CheckCertificate",
    "CheckUpdates",
    "ConfirmStarted",
    "DataAreaReady",
    "DeliverCertificate",
    "Effect",
    "Enrol",
    "Enrolled",
    "EnrolmentCancelled",
    "EnrolmentGiven",
    "EnrolmentRefused",
    "Event",
    "Exit",
    "Failed",
    "Limits",
    "LockHeld",
    "LockTaken",
    "Message",
    "NoUpdate",
    "Notice",
    "Phase",
    "PrepareDataArea",
    "PrepareProfile",
    "ProfileReady",
    "Progress",
    "Renew",
    "RenewalPostponed",
    "Renewed",
    "Restart",
    "RunSelfCheck",
    "SelfChecked",
    "SessionEnded",
    "ShowError",
    "ShowTray",
    "Start",
    "StartBrowser",
    "State",
    "TakeLock",
    "UnexpectedEventError",
    "UpdateAnswered",
    "UpdateApplied",
    "UpdateNotApplied",
    "UpdateOffered",
    "UpdateOffline",
    "UpdateRefused",
    "VerifyInBackground",
    "step",
]

Phase = Literal[
    "start",
    "self-check",
    "lock",
    "data-area",
    "update-check",
    "update-offer",
    "update-apply",
    "restart",
    "certificate",
    "renew",
    "enrol-ask",
    "enrol",
    "profile",
    "deliver",
    "browser",
    "running",
    "done",
]
PHASES: tuple[Phase, ...] = (
    "start",
    "self-check",
    "lock",
    "data-area",
    "update-check",
    "update-offer",
    "update-apply",
    "restart",
    "certificate",
    "renew",
    "enrol-ask",
    "enrol",
    "profile",
    "deliver",
    "browser",
    "running",
    "done",
)


@dataclass(frozen=True)
class Limits:
    """Bounds of the flow: restarts into a new release per session (a release the
    bootstrap does not pick must not make the key restart for ever) and enrolment
    attempts per start (the service also locks an identifier out after 5 wrong codes)."""

    max_restarts: int = 1
    max_enrol_attempts: int = 3


@dataclass(frozen=True)
class State:
    """Where the flow is, and what it has learnt on the way."""

    phase: Phase = "start"
    limits: Limits = Limits()
    restarts: int = 0  # restarts into a new release already made in this session
    first_use: bool = False
    offer: UpdateOffer | None = None
    serial: str = ""
    attempts: int = 0  # enrolment attempts made at this start
    refusal: EsecureError | None = None
    exit_code: int | None = None  # set in phase "done"


# --- events (what an adapter observed) ----------------------------------------------------------
@dataclass(frozen=True)
class Start:
    """The flow begins."""


@dataclass(frozen=True)
class SelfChecked:
    """The key passed its start check (signature and sizes of the CD-ROM)."""


@dataclass(frozen=True)
class LockTaken:
    """This process is the key's session. ``enforced`` False: this OS has no tested lock
    yet (said in the log); ``took_over``: why an old lock was stale ("" when none)."""

    enforced: bool = True
    took_over: str = ""


@dataclass(frozen=True)
class LockHeld:
    """Another live session holds the key and answered our signal (``starting``: it has
    not opened the site yet)."""

    starting: bool = False


@dataclass(frozen=True)
class DataAreaReady:
    """The data area is usable; ``first_use``: it was initialised just now."""

    first_use: bool = False


@dataclass(frozen=True)
class NoUpdate:
    """The update check found nothing newer."""


@dataclass(frozen=True)
class UpdateOffline:
    """The update check could not reach the server (or could not write): go on."""

    notice: EsecureError


@dataclass(frozen=True)
class UpdateRefused:
    """The update channel failed a security check: go on with the verified version."""

    alert: EsecureError


@dataclass(frozen=True)
class UpdateOffered:
    """A newer release is available."""

    offer: UpdateOffer


@dataclass(frozen=True)
class UpdateAnswered:
    """The user's answer to the offer."""

    choice: UpdateChoice


@dataclass(frozen=True)
class UpdateApplied:
    """The new release is installed and in force."""


@dataclass(frozen=True)
class UpdateNotApplied:
    """Download or install failed (or was refused for security): the current version goes on."""

    notice: EsecureError


@dataclass(frozen=True)
class CertificateStatus:
    """The stored credential: ``valid`` (nothing to do), ``renew`` (ends soon: renew
    silently), ``missing`` (none, or expired: enrol)."""

    status: Literal["valid", "renew", "missing"]
    serial: str


@dataclass(frozen=True)
class Renewed:
    """The certificate was renewed."""


@dataclass(frozen=True)
class RenewalPostponed:
    """Renewal failed for a reason that does not stop the key (offline) while the current
    certificate is still valid: it goes on, renewal is tried at the next start."""

    notice: EsecureError


@dataclass(frozen=True)
class EnrolmentGiven:
    """The user typed an identifier and an activation code."""

    enrolment: Enrolment


@dataclass(frozen=True)
class EnrolmentCancelled:
    """The user cancelled the enrolment form."""


@dataclass(frozen=True)
class Enrolled:
    """The service issued the key's certificate (stored in the data area)."""


@dataclass(frozen=True)
class EnrolmentRefused:
    """The service refused the identifier, the code or the key (ES202-ES207): the user
    may try again, a bounded number of times."""

    error: EsecureError


@dataclass(frozen=True)
class ProfileReady:
    """The live profile exists and carries the template's current settings."""

    created: bool = False


@dataclass(frozen=True)
class CertificateDelivered:
    """The profile's NSS database holds the key's certificate and the CA."""


@dataclass(frozen=True)
class BrowserStarted:
    """The key's Firefox runs on the site."""

    pid: int


@dataclass(frozen=True)
class SessionEnded:
    """The tray (or the terminal) ended the session."""


@dataclass(frozen=True)
class Failed:
    """A step failed with a catalogue error: the flow stops."""

    error: EsecureError


Event = (
    Start
    | SelfChecked
    | LockTaken
    | LockHeld
    | DataAreaReady
    | NoUpdate
    | UpdateOffline
    | UpdateRefused
    | UpdateOffered
    | UpdateAnswered
    | UpdateApplied
    | UpdateNotApplied
    | CertificateStatus
    | Renewed
    | RenewalPostponed
    | EnrolmentGiven
    | EnrolmentCancelled
    | Enrolled
    | EnrolmentRefused
    | ProfileReady
    | CertificateDelivered
    | BrowserStarted
    | SessionEnded
    | Failed
)


# --- effects (what the runner does) -------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    """Output: report progress (``text``: a key of :mod:`esecure.launcher.flow.texts`)."""

    step: Step
    fraction: float
    text: str


@dataclass(frozen=True)
class Message:
    """Output: tell the user something (a key of the texts)."""

    text: str


@dataclass(frozen=True)
class Notice:
    """Output: a problem that does not stop the key."""

    error: EsecureError


@dataclass(frozen=True)
class ShowError:
    """Output: the error that stops the flow (with a saved support report)."""

    error: EsecureError


@dataclass(frozen=True)
class Exit:
    """Output: end the process with ``code`` (the lock is released first)."""

    code: int


@dataclass(frozen=True)
class ConfirmStarted:
    """Output: the running release works (stops its rollback count)."""


@dataclass(frozen=True)
class VerifyInBackground:
    """Output: hash the CD-ROM in full, off the critical path, once the site is open."""


@dataclass(frozen=True)
class RunSelfCheck:
    """Command: the start check. Yields SelfChecked | Failed."""


@dataclass(frozen=True)
class TakeLock:
    """Command: the single-instance lock. Yields LockTaken | LockHeld | Failed."""


@dataclass(frozen=True)
class PrepareDataArea:
    """Command: initialise the data area on first use. Yields DataAreaReady | Failed."""


@dataclass(frozen=True)
class CheckUpdates:
    """Command: the signed update check. Yields NoUpdate | UpdateOffline | UpdateRefused
    | UpdateOffered | Failed (offline for too long)."""


@dataclass(frozen=True)
class AskUpdate:
    """Command: ask "update now / later". Yields UpdateAnswered."""

    offer: UpdateOffer


@dataclass(frozen=True)
class ApplyUpdate:
    """Command: download, verify, install, switch. Yields UpdateApplied | UpdateNotApplied."""

    offer: UpdateOffer


@dataclass(frozen=True)
class Restart:
    """Command: start the key again into the new release (no re-insert); returns only on
    failure. Yields Failed."""


@dataclass(frozen=True)
class CheckCertificate:
    """Command: look at the stored credential. Yields CertificateStatus | Failed."""


@dataclass(frozen=True)
class Renew:
    """Command: renew silently. Yields Renewed | RenewalPostponed | Failed."""


@dataclass(frozen=True)
class AskEnrolment:
    """Command: the enrolment form. Yields EnrolmentGiven | EnrolmentCancelled."""

    serial: str
    refusal: EsecureError | None = None


@dataclass(frozen=True)
class Enrol:
    """Command: first enrolment. Yields Enrolled | EnrolmentRefused | Failed."""

    enrolment: Enrolment = field(repr=False)


@dataclass(frozen=True)
class PrepareProfile:
    """Command: the live profile from the template. Yields ProfileReady | Failed."""


@dataclass(frozen=True)
class DeliverCertificate:
    """Command: the certificate into the profile (NSS). Yields CertificateDelivered | Failed."""


@dataclass(frozen=True)
class StartBrowser:
    """Command: start the key's Firefox on the site. Yields BrowserStarted | Failed."""


@dataclass(frozen=True)
class ShowTray:
    """Command: the tray until the session ends. Yields SessionEnded."""


Effect = (
    Progress
    | Message
    | Notice
    | ShowError
    | Exit
    | ConfirmStarted
    | VerifyInBackground
    | RunSelfCheck
    | TakeLock
    | PrepareDataArea
    | CheckUpdates
    | AskUpdate
    | ApplyUpdate
    | Restart
    | CheckCertificate
    | Renew
    | AskEnrolment
    | Enrol
    | PrepareProfile
    | DeliverCertificate
    | StartBrowser
    | ShowTray
)
COMMANDS: tuple[type, ...] = (
    RunSelfCheck,
    TakeLock,
    PrepareDataArea,
    CheckUpdates,
    AskUpdate,
    ApplyUpdate,
    Restart,
    CheckCertificate,
    Renew,
    AskEnrolment,
    Enrol,
    PrepareProfile,
    DeliverCertificate,
    StartBrowser,
    ShowTray,
)
"""Effects that yield one event; every other effect is an output."""


class UnexpectedEventError(Exception):
    """An event the machine does not take in this phase: a bug of an adapter or the runner."""


Transition = tuple[State, tuple[Effect, ...]]
Handler = Callable[[State, Event], Transition]


# --- transitions --------------------------------------------------------------------------------
def _to(state: State, phase: Phase, *effects: Effect, **changes: object) -> Transition:
    return replace(state, phase=phase, **changes), effects  # type: ignore[arg-type]


def _certificate(state: State, *before: Effect) -> Transition:
    """Leave the update step: the release works this far; look at the certificate."""
    return _to(
        state,
        "certificate",
        *before,
        ConfirmStarted(),
        Progress("certificate", 0.45, "certificate"),
        CheckCertificate(),
        offer=None,
    )


def _profile(state: State, *before: Effect) -> Transition:
    return _to(state, "profile", *before, Progress("profile", 0.7, "profile"), PrepareProfile())


def _ask(state: State, refusal: EsecureError | None) -> Transition:
    return _to(state, "enrol-ask", AskEnrolment(state.serial, refusal), refusal=refusal)


def _on_start(state: State, _event: Event) -> Transition:
    return _to(state, "self-check", Progress("self-check", 0.02, "self-check"), RunSelfCheck())


def _on_self_checked(state: State, _event: Event) -> Transition:
    return _to(state, "lock", Progress("lock", 0.08, "lock"), TakeLock())


def _on_lock_taken(state: State, _event: Event) -> Transition:
    return _to(state, "data-area", Progress("data-area", 0.1, "data-area"), PrepareDataArea())


def _on_lock_held(state: State, event: Event) -> Transition:
    assert isinstance(event, LockHeld)  # noqa: S101 - the table dispatches on the type
    said = "already-starting" if event.starting else "already-running"
    return _to(state, "done", Message(said), Exit(0), exit_code=0)


def _on_data_area(state: State, event: Event) -> Transition:
    assert isinstance(event, DataAreaReady)  # noqa: S101
    said: tuple[Effect, ...] = (Message("activated"),) if event.first_use else ()
    return _to(
        state,
        "update-check",
        *said,
        Progress("updates", 0.15, "updates"),
        CheckUpdates(),
        first_use=event.first_use,
    )


def _on_no_update(state: State, _event: Event) -> Transition:
    return _certificate(state)


def _on_update_offline(state: State, event: Event) -> Transition:
    assert isinstance(event, UpdateOffline)  # noqa: S101
    return _certificate(state, Notice(event.notice))


def _on_update_refused(state: State, event: Event) -> Transition:
    assert isinstance(event, UpdateRefused)  # noqa: S101
    return _certificate(state, Notice(event.alert))


def _on_update_offered(state: State, event: Event) -> Transition:
    assert isinstance(event, UpdateOffered)  # noqa: S101
    if state.restarts >= state.limits.max_restarts:
        # Restarted once already and offered again: the bootstrap did not start the new
        # release (it refused it: a notice said why). Never restart in a loop.
        return _certificate(state)
    return _to(state, "update-offer", AskUpdate(event.offer), offer=event.offer)


def _on_update_answered(state: State, event: Event) -> Transition:
    assert isinstance(event, UpdateAnswered)  # noqa: S101
    offer = state.offer
    assert offer is not None  # noqa: S101 - set on the way in
    if event.choice == "later" and not offer.required:
        return _certificate(state)
    return _to(state, "update-apply", Progress("updates", 0.2, "updates.apply"), ApplyUpdate(offer))


def _on_update_applied(state: State, _event: Event) -> Transition:
    return _to(
        state,
        "restart",
        Progress("updates", 0.4, "updates.restart"),
        Restart(),
        restarts=state.restarts + 1,
    )


def _on_update_not_applied(state: State, event: Event) -> Transition:
    assert isinstance(event, UpdateNotApplied)  # noqa: S101
    return _certificate(state, Notice(event.notice))


def _on_certificate(state: State, event: Event) -> Transition:
    assert isinstance(event, CertificateStatus)  # noqa: S101
    state = replace(state, serial=event.serial)
    if event.status == "valid":
        return _profile(state)
    if event.status == "renew":
        return _to(state, "renew", Progress("certificate", 0.5, "certificate.renew"), Renew())
    return _ask(state, None)


def _on_renewed(state: State, _event: Event) -> Transition:
    return _profile(state)


def _on_renewal_postponed(state: State, event: Event) -> Transition:
    assert isinstance(event, RenewalPostponed)  # noqa: S101
    return _profile(state, Notice(event.notice))


def _on_enrolment_given(state: State, event: Event) -> Transition:
    assert isinstance(event, EnrolmentGiven)  # noqa: S101
    return _to(
        state,
        "enrol",
        Progress("certificate", 0.5, "certificate.enrol"),
        Enrol(event.enrolment),
        attempts=state.attempts + 1,
    )


def _on_enrolment_cancelled(state: State, _event: Event) -> Transition:
    return _to(state, "done", Message("cancelled"), Exit(1), exit_code=1)


def _on_enrolled(state: State, _event: Event) -> Transition:
    return _profile(replace(state, refusal=None))


def _on_enrolment_refused(state: State, event: Event) -> Transition:
    assert isinstance(event, EnrolmentRefused)  # noqa: S101
    if state.attempts >= state.limits.max_enrol_attempts:
        return _fail(state, event.error)
    return _ask(state, event.error)


def _on_profile_ready(state: State, _event: Event) -> Transition:
    return _to(
        state,
        "deliver",
        Progress("profile", 0.8, "profile.certificate"),
        DeliverCertificate(),
    )


def _on_delivered(state: State, _event: Event) -> Transition:
    return _to(state, "browser", Progress("browser", 0.9, "browser"), StartBrowser())


def _on_browser_started(state: State, _event: Event) -> Transition:
    return _to(
        state,
        "running",
        Progress("running", 1.0, "running"),
        VerifyInBackground(),
        ShowTray(),
    )


def _on_session_ended(state: State, _event: Event) -> Transition:
    return _to(state, "done", Exit(0), exit_code=0)


def _fail(state: State, error: EsecureError) -> Transition:
    return _to(state, "done", ShowError(error), Exit(error.exit_code), exit_code=error.exit_code)


def _on_failed(state: State, event: Event) -> Transition:
    assert isinstance(event, Failed)  # noqa: S101
    return _fail(state, event.error)


_FAILABLE: tuple[Phase, ...] = tuple(p for p in PHASES if p not in ("start", "done"))
"""Where a Failed event is taken: every phase runs an adapter or the presenter, and
either may fail (a presenter's error too ends in the error window, never a traceback)."""

TABLE: Mapping[tuple[Phase, type], Handler] = MappingProxyType(
    {
        ("start", Start): _on_start,
        ("self-check", SelfChecked): _on_self_checked,
        ("lock", LockTaken): _on_lock_taken,
        ("lock", LockHeld): _on_lock_held,
        ("data-area", DataAreaReady): _on_data_area,
        ("update-check", NoUpdate): _on_no_update,
        ("update-check", UpdateOffline): _on_update_offline,
        ("update-check", UpdateRefused): _on_update_refused,
        ("update-check", UpdateOffered): _on_update_offered,
        ("update-offer", UpdateAnswered): _on_update_answered,
        ("update-apply", UpdateApplied): _on_update_applied,
        ("update-apply", UpdateNotApplied): _on_update_not_applied,
        ("certificate", CertificateStatus): _on_certificate,
        ("renew", Renewed): _on_renewed,
        ("renew", RenewalPostponed): _on_renewal_postponed,
        ("enrol-ask", EnrolmentGiven): _on_enrolment_given,
        ("enrol-ask", EnrolmentCancelled): _on_enrolment_cancelled,
        ("enrol", Enrolled): _on_enrolled,
        ("enrol", EnrolmentRefused): _on_enrolment_refused,
        ("profile", ProfileReady): _on_profile_ready,
        ("deliver", CertificateDelivered): _on_delivered,
        ("browser", BrowserStarted): _on_browser_started,
        ("running", SessionEnded): _on_session_ended,
        **{(phase, Failed): _on_failed for phase in _FAILABLE},
    }
)
"""Every transition: (phase, event type) -> handler. Any other pair is a bug."""


def step(state: State, event: Event) -> Transition:
    """The next state and the effects to run, in order."""
    handler = TABLE.get((state.phase, type(event)))
    if handler is None:
        raise UnexpectedEventError(f"{type(event).__name__} in phase {state.phase!r}")
    return handler(state, event)
