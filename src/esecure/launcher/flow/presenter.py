"""What the start-up flow shows and asks: the Presenter interface, and its value types.

A presenter is the flow's only way to reach the user: the windows (pywebview, in
``esecure.launcher.ui``), or the terminal (:mod:`esecure.launcher.flow.console`,
``e-secure --no-gui``). The flow calls it from its own thread, which need not be the main
thread (a GUI toolkit keeps that one): the asking methods (:meth:`Presenter.offer_update`,
:meth:`Presenter.ask_enrolment`) block that thread until the user answers; the others
return at once. Every text handed over is already in the user's language; errors come as
:class:`esecure.errors.EsecureError`, which the presenter renders with
``error.render(lang, phone)`` or from its catalogue entry (title, message, cause,
action; ``error.detail`` says what happened here).

A GUI module plugs in by exposing ``run(flow, context) -> int`` (see
:class:`GuiEntry`): it owns the main thread, builds its presenter, and calls ``flow``
with it (from a thread of its choice); ``flow`` returns the process's exit code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from esecure.errors import EsecureError

__all__ = [
    "STEPS",
    "Enrolment",
    "GuiEntry",
    "Presenter",
    "PresenterContext",
    "Step",
    "TrayActions",
    "UpdateChoice",
    "UpdateOffer",
]

Step = Literal[
    "self-check", "lock", "data-area", "updates", "certificate", "profile", "browser", "running"
]
STEPS: tuple[Step, ...] = (
    "self-check",
    "lock",
    "data-area",
    "updates",
    "certificate",
    "profile",
    "browser",
    "running",
)
UpdateChoice = Literal["now", "later"]


@dataclass(frozen=True)
class UpdateOffer:
    """An update the user may take now or later (``required``: no "later")."""

    version: str
    download_size: int  # bytes to download
    seconds: tuple[float, float]  # (fastest, slowest) estimate of download + install
    required: bool


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment form returns: the identifier and the activation code (never
    logged, never shown back)."""

    identifier: str
    activation_code: str = field(repr=False)


class TrayActions(Protocol):
    """What the tray (or the terminal) can do once the site is open. Each may be called
    from any thread; each returns quickly (work runs in the session's own thread)."""

    def open_site(self) -> None:
        """Bring the key's Firefox forward, or start it again on the site if it is closed."""

    def diagnostics(self) -> None:
        """Run the key's diagnostics and show them."""

    def remove_key(self) -> None:
        """End the session: close Firefox (gracefully, then forcibly after a bound), wipe
        the session's traces, release the lock, eject; then :meth:`wait` returns."""

    def firefox_running(self) -> bool:
        """Whether the key's Firefox is still running."""

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session ends (the key removed, or Firefox closed and the
        presenter has no tray to stay in); True when it has ended."""


class Presenter(Protocol):
    """The flow's view of the user (windows or terminal)."""

    def progress(self, step: Step, fraction: float, text: str) -> None:
        """The flow is at ``step`` (0 <= ``fraction`` <= 1 of the whole start)."""

    def message(self, text: str) -> None:
        """Tell the user something that needs no answer (first use done, already running)."""

    def notice(self, error: EsecureError) -> None:
        """Show a problem that does not stop the key (updates offline, an update refused
        for security, a renewal postponed): its code and text; the flow goes on."""

    def offer_update(self, offer: UpdateOffer) -> UpdateChoice:
        """Ask "update now / later" (only "now" when ``offer.required``)."""

    def ask_enrolment(self, serial: str, refusal: EsecureError | None) -> Enrolment | None:
        """Ask for the identifier and the activation code, showing the key's ``serial`` and
        the previous attempt's ``refusal``; None when the user cancels."""

    def show_error(self, error: EsecureError, report: Path | None) -> None:
        """Show the error that stops the flow (code, what happened, why, what to do, the
        support phone; ``report``: the saved support report's path). Returns when the
        user has seen it (a window: closed)."""

    def show_tray(self, actions: TrayActions) -> None:
        """Show the tray; return when the session ends (``actions.wait()``)."""


@dataclass(frozen=True)
class PresenterContext:
    """What a presenter needs to know of the key: ``product.json`` of the running release
    (names, colours, support phone), the language, the key's serial when known."""

    product: Mapping[str, Any]
    lang: str
    support_phone: str | None
    branding: Path | None = None  # the running release's branding/ directory


class GuiEntry(Protocol):
    """The GUI module's entry point: ``esecure.launcher.ui.run(flow, context)``."""

    def __call__(self, flow: Callable[[Presenter], int], context: PresenterContext) -> int:
        """Run ``flow`` with the windows' presenter; the exit code ``flow`` returned."""
