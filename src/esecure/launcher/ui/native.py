"""Windows without the WebView2 runtime: the flow still runs, with native message boxes.

pywebview draws with Microsoft Edge WebView2 on Windows. Where the runtime is missing
(an older or locked-down Windows), :func:`esecure.launcher.ui.gui.run` runs the flow with
:class:`NativePresenter` instead: ``MessageBoxW`` for the update offer (Yes: now, No:
later; a required release is only announced), the enrolment form's refusal, notices and
errors; the first box says how to get WebView2. A message box takes no text, so the
enrolment form itself needs WebView2 (or ``e-secure --no-gui`` in a terminal): without
it the box says so and the enrolment is cancelled. The tray works without WebView2.

Only the decisions are tested here (:func:`webview2_version`, :class:`NativePresenter`
with a fake box); ``MessageBoxW`` and the registry are Windows-only and not run here.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from esecure.errors import EsecureError
from esecure.launcher.flow.presenter import (
    Enrolment,
    Presenter,
    PresenterContext,
    Step,
    TrayActions,
    UpdateChoice,
    UpdateOffer,
)
from esecure.launcher.ui.texts import format_seconds, format_size, say

__all__ = [
    "IDYES",
    "MB_ICONERROR",
    "MB_ICONINFORMATION",
    "MB_ICONWARNING",
    "MB_OK",
    "MB_YESNO",
    "WEBVIEW2_CLIENT",
    "WEBVIEW2_KEYS",
    "MessageBox",
    "NativePresenter",
    "registry_reader",
    "run",
    "webview2_version",
]

log = logging.getLogger(__name__)

MB_OK = 0x0
MB_YESNO = 0x4
MB_ICONERROR = 0x10
MB_ICONWARNING = 0x30
MB_ICONINFORMATION = 0x40
_MB_FRONT = 0x10000 | 0x40000  # MB_SETFOREGROUND | MB_TOPMOST
IDYES = 6

WEBVIEW2_CLIENT = "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"
"""The Evergreen WebView2 runtime's client id in EdgeUpdate's registry keys."""
WEBVIEW2_KEYS: tuple[tuple[str, str], ...] = (
    ("HKLM", rf"SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\{WEBVIEW2_CLIENT}"),
    ("HKLM", rf"SOFTWARE\Microsoft\EdgeUpdate\Clients\{WEBVIEW2_CLIENT}"),
    ("HKCU", rf"Software\Microsoft\EdgeUpdate\Clients\{WEBVIEW2_CLIENT}"),
)
"""Where Microsoft documents the runtime's version (value ``pv``): per machine (64- and
32-bit views), then per user."""
_MAX_SESSION = 24 * 3600.0
_POLL = 0.5

MessageBox = Callable[[str, str, int], int]
"""``(text, title, flags) -> the button pressed`` (``MessageBoxW``'s contract)."""


def webview2_version(read: Callable[[str, str], str | None]) -> str | None:
    """The installed WebView2 runtime's version, None when there is none (pure:
    ``read(hive, key)`` returns the key's ``pv`` value or None). Microsoft: a missing
    value, an empty one or ``0.0.0.0`` all mean not installed."""
    for hive, key in WEBVIEW2_KEYS:
        value = read(hive, key)
        if value and value.strip() and value.strip() != "0.0.0.0":  # noqa: S104 - a version, not an address
            return value.strip()
    return None


def registry_reader() -> Callable[[str, str], str | None]:
    """``read(hive, key)`` over the Windows registry (Windows only)."""
    winreg: Any = importlib.import_module("winreg")  # pragma: no cover - Windows only

    hives = {"HKLM": winreg.HKEY_LOCAL_MACHINE, "HKCU": winreg.HKEY_CURRENT_USER}

    def read(hive: str, key: str) -> str | None:
        try:
            with winreg.OpenKey(hives[hive], key) as handle:
                value, _kind = winreg.QueryValueEx(handle, "pv")
        except OSError:
            return None
        return value if isinstance(value, str) else None

    return read


def _message_box() -> MessageBox:
    import ctypes  # noqa: PLC0415

    user32 = ctypes.windll.user32  # type: ignore[attr-defined,unused-ignore]

    def box(text: str, title: str, flags: int) -> int:
        answer: int = user32.MessageBoxW(None, text, title, flags | _MB_FRONT)
        return answer

    return box


class NativePresenter:
    """:class:`~esecure.launcher.flow.presenter.Presenter` with message boxes only."""

    def __init__(
        self,
        box: MessageBox,
        *,
        title: str,
        lang: str,
        support_phone: str | None,
        start_tray: Callable[[TrayActions], object] | None = None,
    ) -> None:
        self._box = box
        self._title = title
        self.lang = lang
        self.phone = support_phone
        self._start_tray = start_tray
        self._told = False

    def _tell_webview2(self) -> None:
        """Once, before the first box: why simple boxes, and how to get WebView2."""
        if not self._told:
            self._told = True
            self._box(say("webview2.missing", self.lang), self._title, MB_OK | MB_ICONINFORMATION)

    def progress(self, step: Step, fraction: float, text: str) -> None:
        """Logged only: a message box would stop the flow at every step."""
        log.info("progress %s %.0f%%: %s", step, fraction * 100, text)

    def message(self, text: str) -> None:
        """An information box."""
        self._tell_webview2()
        self._box(text, self._title, MB_OK | MB_ICONINFORMATION)

    def notice(self, error: EsecureError) -> None:
        """A warning box with the problem in full."""
        self._tell_webview2()
        self._box(error.render(self.lang, self.phone), self._title, MB_OK | MB_ICONWARNING)

    def offer_update(self, offer: UpdateOffer) -> UpdateChoice:
        """Yes: now; No: later. A required release is announced, then taken."""
        self._tell_webview2()
        values = {
            "version": offer.version,
            "size": format_size(offer.download_size, self.lang),
            "time": format_seconds(offer.seconds, self.lang),
        }
        if offer.required:
            self._box(say("native.required", self.lang, **values), self._title, MB_OK)
            return "now"
        pressed = self._box(say("native.offer", self.lang, **values), self._title, MB_YESNO)
        return "now" if pressed == IDYES else "later"

    def ask_enrolment(self, serial: str, refusal: EsecureError | None) -> Enrolment | None:
        """The refusal in a box; the form needs WebView2: said, and cancelled."""
        self._tell_webview2()
        if refusal is not None:
            self._box(refusal.render(self.lang, self.phone), self._title, MB_OK | MB_ICONERROR)
        self._box(say("native.enrol", self.lang, serial=serial), self._title, MB_ICONWARNING)
        return None

    def show_error(self, error: EsecureError, report: Path | None) -> None:
        """An error box: the error in full and where its report is."""
        self._tell_webview2()
        text = error.render(self.lang, self.phone)
        if report is not None:
            text += "\n\n" + say("error.report", self.lang, path=str(report))
        self._box(text, self._title, MB_OK | MB_ICONERROR)

    def show_tray(self, actions: TrayActions) -> None:
        """The tray icon until the key is removed (at most a day, then removed)."""
        tray = self._start_tray(actions) if self._start_tray is not None else None
        try:
            for _ in range(int(_MAX_SESSION / _POLL)):
                if actions.wait(_POLL):
                    return
            actions.remove_key()
        finally:
            stop = getattr(tray, "stop", None)
            if callable(stop):
                stop()


def run(flow: Callable[[Presenter], int], context: PresenterContext) -> int:
    """The flow with message boxes (Windows without WebView2)."""
    from esecure.launcher.tray import Labels, run_action, start_tray  # noqa: PLC0415
    from esecure.launcher.ui.page import branding_from  # noqa: PLC0415

    brand = branding_from(context.product, context.support_phone, None)

    def tray(actions: TrayActions) -> object:
        labels = Labels(
            title=brand.title,
            open=say("session.open", context.lang, portal=brand.portal),
            diagnostics=say("session.diagnostics", context.lang),
            remove=say("session.remove", context.lang),
        )
        icon = context.branding / "icon.png" if context.branding is not None else None
        return start_tray(
            labels, lambda name: run_action(actions, name), icon_png=icon, colour=brand.primary
        )

    presenter = NativePresenter(
        _message_box(),
        title=brand.title,
        lang=context.lang,
        support_phone=context.support_phone,
        start_tray=tray,
    )
    return flow(presenter)
