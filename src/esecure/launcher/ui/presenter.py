"""The windows' presenter: the flow's :class:`~esecure.launcher.flow.presenter.Presenter`
over one page in one window, and the page's answers (:class:`Api`, pywebview's js_api).

Threads. The flow calls the presenter from its own thread; the page's buttons call
:class:`Api` from pywebview's threads; the tray calls from the GUI's main thread. Calls
into the page go through one lock (:meth:`WindowPresenter._page`). The asking methods
(:meth:`~WindowPresenter.offer_update`, :meth:`~WindowPresenter.ask_enrolment`,
:meth:`~WindowPresenter.show_error`) wait for the user's answer on a queue **without a
time bound**: the user must answer, however long they take (a bank client may fetch the
letter with the activation code). Closing the window answers too (later, cancel, seen),
so a wait always ends when the window goes. Every other wait is bounded: the session
(tray) at :data:`MAX_SESSION`, the last message after the flow at :data:`FINAL_HOLD`.

The activation code leaves the page at once (the script empties the field before sending
it); here it lives only in the :class:`~esecure.launcher.flow.presenter.Enrolment`
handed to the flow, never logged (its repr hides it), never sent back to the page.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from esecure.errors import EsecureError
from esecure.launcher.flow.presenter import Enrolment, Step, TrayActions, UpdateChoice, UpdateOffer
from esecure.launcher.ui.texts import format_seconds, format_size, say

if TYPE_CHECKING:
    from esecure.launcher.tray.removal import Removal

__all__ = [
    "FINAL_HOLD",
    "MAX_FIELD",
    "MAX_SESSION",
    "SETTLE",
    "Api",
    "ReportSaver",
    "Surface",
    "TrayHandle",
    "TrayStarter",
    "WindowPresenter",
]

log = logging.getLogger(__name__)

MAX_SESSION = 24 * 3600.0
"""Seconds a session (site open, tray shown) lasts at most; then the key is removed."""
SETTLE = 5.0
"""Seconds the page's last calls get to finish before the window is destroyed."""
FINAL_HOLD = 120.0
"""Seconds the last message (key removed, already running, cancelled) stays at most."""
MAX_FIELD = 128
"""Characters an identifier or activation code may have (longer: not taken)."""
_POLL = 0.5
_MAX_STALE = 1000  # answers of an earlier question dropped at most while waiting

ReportSaver = Callable[[EsecureError, Path | None], Path]
"""Saves the support report of an error where the user finds it (``report``: the one the
flow saved, or None); the path written. OSError or EsecureError when it cannot."""


class Surface(Protocol):
    """The window the page lives in (pywebview's, or a test's)."""

    def run(self, script: str) -> None:
        """Run ``script`` in the page; return when it has run."""

    def show(self) -> None:
        """Show the window (and bring it forward)."""

    def hide(self) -> None:
        """Hide the window."""


class TrayHandle(Protocol):
    """A running tray icon."""

    def stop(self) -> None:
        """Remove the icon."""


TrayStarter = Callable[[TrayActions], TrayHandle | None]
"""Shows the tray icon for a session; None when this host has no tray (the window's own
buttons do its work)."""


@dataclass
class _Ask:
    """The question on screen: the page, what closing the window answers."""

    kind: str
    on_close: object = None


class WindowPresenter:
    """:class:`~esecure.launcher.flow.presenter.Presenter` drawing on a :class:`Surface`."""

    def __init__(
        self,
        surface: Surface,
        *,
        lang: str,
        support_phone: str | None,
        save_report: ReportSaver,
        start_tray: TrayStarter | None = None,
    ) -> None:
        self.lang = lang
        self.phone = support_phone
        self._surface = surface
        self._save = save_report
        self._start_tray = start_tray
        self._answers: queue.Queue[tuple[str, object]] = queue.Queue()
        self._js = threading.Lock()
        self._state = threading.Lock()
        self._ask: _Ask | None = None
        self._error: tuple[EsecureError, Path | None] | None = None
        self._actions: TrayActions | None = None
        self._last_progress = ""
        self._pending: str | None = None  # a message said since the last page change
        self._hidden = False
        self._removal_for: Callable[[TrayActions], Removal | None] | None = None
        self.removal: Removal | None = None
        """The session's removal, once the session has started (its eject runs after
        the flow, when the lock is released)."""
        self.gone = threading.Event()
        """Set when the window is gone for good (its GUI stopped): every wait ends."""

    def set_tray_starter(self, start_tray: TrayStarter | None) -> None:
        """What shows the tray icon when the session starts (None: no tray)."""
        self._start_tray = start_tray

    def set_removal(self, removal_for: Callable[[TrayActions], Removal | None]) -> None:
        """What prepares "remove the key" for a session (see :attr:`removal`)."""
        self._removal_for = removal_for

    # --- the page ------------------------------------------------------------------------------
    def _page(self, function: str, data: object) -> None:
        """Call ``window.esecure.<function>(data)`` in the page (data as JSON, never code)."""
        if self.gone.is_set():
            return
        with self._js:
            self._surface.run(f"window.esecure.{function}({json.dumps(data)})")

    def _show(self, function: str, data: object) -> None:
        self._pending = None
        self._page(function, data)
        if self._hidden:
            self._hidden = False
            self._surface.show()

    def _wait(self, ask: _Ask) -> object:
        """The answer to ``ask``: no time bound (see the module's docstring)."""
        for _ in range(_MAX_STALE):
            kind, value = self._answers.get()
            if kind == "gone":
                self._answers.put((kind, value))  # every later wait ends at once, too
                return ask.on_close
            if kind == ask.kind:
                return value
        return ask.on_close  # pragma: no cover - a page sending answers in a loop

    def _drop_stale(self) -> None:
        """Drop answers to an earlier question (a double click), keeping "gone"."""
        for _ in range(_MAX_STALE):
            try:
                kind, _value = self._answers.get_nowait()
            except queue.Empty:
                return
            if kind == "gone":
                self._answers.put(("gone", None))
                return

    def _question(self, ask: _Ask, function: str, data: object) -> object:
        with self._state:
            self._drop_stale()
            self._ask = ask
        self._show(function, data)
        try:
            return self._wait(ask)
        finally:
            with self._state:
                self._ask = None

    def answer(self, kind: str, value: object) -> None:
        """An answer from the page (or the window's close button)."""
        self._answers.put((kind, value))

    # --- Presenter -----------------------------------------------------------------------------
    def progress(self, step: Step, fraction: float, text: str) -> None:
        """The progress page (shown again only by a question, if the user hid it)."""
        self._last_progress = text
        self._pending = None
        self._page("progress", {"step": step, "fraction": fraction, "text": text})

    def message(self, text: str) -> None:
        """On the page under the progress (or the session's buttons); kept for the end."""
        self._page("message", text)
        self._pending = text

    def notice(self, error: EsecureError) -> None:
        """A box under the progress or the session's buttons; the window comes forward."""
        e = error.entry
        self._page(
            "notice",
            {
                "code": e.code,
                "title": e.title.get(self.lang),
                "message": e.message.get(self.lang),
                "action": e.action.get(self.lang),
            },
        )
        if self._hidden:
            self._hidden = False
            self._surface.show()

    def offer_update(self, offer: UpdateOffer) -> UpdateChoice:
        """The offer page; closing the window is "later" (a required release: "now")."""
        fallback: UpdateChoice = "now" if offer.required else "later"
        answer = self._question(
            _Ask("offer", fallback),
            "offer",
            {
                "version": offer.version,
                "size": format_size(offer.download_size, self.lang),
                "time": format_seconds(offer.seconds, self.lang),
                "required": offer.required,
            },
        )
        if answer == "now" or offer.required:
            return "now"
        return "later"

    def ask_enrolment(self, serial: str, refusal: EsecureError | None) -> Enrolment | None:
        """The form, with the previous refusal inline; closing the window cancels."""
        shown = None
        if refusal is not None:
            e = refusal.entry
            shown = {
                "code": e.code,
                "title": e.title.get(self.lang),
                "message": e.message.get(self.lang),
                "action": e.action.get(self.lang),
            }
        answer = self._question(
            _Ask("enrol", None), "enrol", {"serial": serial, "identifier": "", "refusal": shown}
        )
        return answer if isinstance(answer, Enrolment) else None

    def show_error(self, error: EsecureError, report: Path | None) -> None:
        """The error page until the user closes it (or the window)."""
        e = error.entry
        self._error = (error, report)
        self._question(
            _Ask("error", None),
            "error",
            {
                "code": e.code,
                "title": e.title.get(self.lang),
                "message": e.message.get(self.lang),
                "detail": error.detail,
                "cause": e.cause.get(self.lang),
                "action": e.action.get(self.lang),
                "phone": self.phone if e.call_support else None,
                "report": str(report) if report is not None else None,
                "can_save": True,
                "blocking": True,
            },
        )

    def show_tray(self, actions: TrayActions) -> None:
        """The session page (and the tray icon) until the key is removed; at most
        :data:`MAX_SESSION`, then the key is removed."""
        self._actions = actions
        if self._removal_for is not None:
            self.removal = self._removal_for(actions)
        tray: TrayHandle | None = None
        if self._start_tray is not None:
            try:
                tray = self._start_tray(actions)
            except Exception:  # a broken tray must leave the window's own buttons
                log.exception("the tray icon could not be shown")
        self._show("session", {"text": self._last_progress, "tray": tray is not None})
        try:
            for _ in range(int(MAX_SESSION / _POLL)):
                if actions.wait(_POLL):
                    return
                if self.gone.is_set():
                    break
            actions.remove_key()
        finally:
            if tray is not None:
                tray.stop()

    # --- answers that are actions --------------------------------------------------------------
    def save_report(self) -> str:
        """Save the shown error's report; what to tell the user."""
        if self._error is None:
            return ""
        error, report = self._error
        try:
            path = self._save(error, report)
        except (OSError, EsecureError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            log.warning("the support report could not be saved: %s", reason)
            return say("error.not-saved", self.lang, reason=reason)
        log.info("support report saved to %s", path)
        return say("error.saved", self.lang, path=str(path))

    def session_action(self, name: str) -> None:
        """A session button or tray entry: run it off the caller's thread (the tray's is
        the GUI's; removing the key waits for Firefox to close)."""
        actions = self._actions
        if actions is None:
            return
        from esecure.launcher.tray import run_action  # noqa: PLC0415 - the session's

        if name == "remove":
            self._page("busy", say("session.removing", self.lang))
        run_action(actions, name)

    def hide(self) -> None:
        """Hide the window (the tray stays)."""
        self._hidden = True
        self._surface.hide()

    def closing(self) -> None:
        """The user closed the window: it hides; a question on screen gets its close answer."""
        with self._state:
            ask = self._ask
        if ask is not None:
            self.answer(ask.kind, ask.on_close)
        self.hide()

    def finish(self) -> None:
        """After the flow: a message said last (key removed, already running, cancelled)
        stays on screen until closed, at most :data:`FINAL_HOLD` seconds."""
        text = self._pending
        if text is None or self.gone.is_set():
            return
        with self._state:
            self._drop_stale()
            self._ask = _Ask("final", None)
        self._show("final", text)
        timer = threading.Timer(FINAL_HOLD, self.answer, ("final", None))
        timer.daemon = True
        timer.start()
        try:
            self._wait(_Ask("final", None))
        finally:
            timer.cancel()

    def stop(self) -> None:
        """The window is gone: every wait ends with its close answer."""
        self.gone.set()
        self.answer("gone", None)


class Api:
    """What the page may call (pywebview exposes the public methods of this object).

    pywebview runs each call in a thread of its own, which then hands the return value
    back to the page (``evaluate_js``). A window destroyed before that leaves the thread
    waiting for ever, and the process cannot exit (it is not a daemon thread): every
    call's thread is remembered, and :meth:`settle` waits for them before the window goes.
    """

    def __init__(self, presenter: WindowPresenter) -> None:
        self._presenter = presenter
        self._threads: set[threading.Thread] = set()
        self._guard = threading.Lock()

    def _called(self) -> None:
        with self._guard:
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(threading.current_thread())

    def settle(self, timeout: float = SETTLE) -> None:
        """Wait (at most ``timeout`` seconds in all) for the calls' threads to end."""
        deadline = time.monotonic() + timeout
        with self._guard:
            threads = [t for t in self._threads if t is not threading.current_thread()]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def answer_offer(self, choice: object) -> None:
        """ "now" or "later"."""
        self._called()
        if choice in ("now", "later"):
            self._presenter.answer("offer", choice)

    def submit_enrolment(self, identifier: object, code: object) -> None:
        """The form's two fields (anything else is not taken)."""
        self._called()
        if not (isinstance(identifier, str) and isinstance(code, str)):
            return
        identifier, code = identifier.strip(), code.strip()
        if 0 < len(identifier) <= MAX_FIELD and 0 < len(code) <= MAX_FIELD:
            self._presenter.answer("enrol", Enrolment(identifier, code))

    def cancel_enrolment(self) -> None:
        """The form's cancel button."""
        self._called()
        self._presenter.answer("enrol", None)

    def close_error(self) -> None:
        """The error page's close button."""
        self._called()
        self._presenter.answer("error", None)

    def save_report(self) -> str:
        """The error page's save button: what to say under it."""
        self._called()
        return self._presenter.save_report()

    def session_action(self, name: object) -> None:
        """One of "open", "diagnostics" or "remove"."""
        self._called()
        if isinstance(name, str):
            self._presenter.session_action(name)

    def hide(self) -> None:
        """Hide the window."""
        self._called()
        self._presenter.hide()

    def close_final(self) -> None:
        """The last message's close button."""
        self._called()
        self._presenter.answer("final", None)
