"""The windows' entry point: ``run(flow, context)`` (the flow's
:class:`~esecure.launcher.flow.presenter.GuiEntry`).

pywebview owns the main thread (``webview.start``); the flow runs in the thread
``webview.start`` starts, once the first window is shown (bounded wait), so that the
window appears before the flow imports what it needs (cryptography, the updater). One
window and one page serve every step: Python calls the page's functions, the page answers
through :class:`~esecure.launcher.ui.presenter.Api`. The window's close button never
ends the process while the flow runs: it hides the window and answers the question on
screen (see :meth:`~esecure.launcher.ui.presenter.WindowPresenter.closing`). When the flow
returns, its last message stays (bounded), then the window is destroyed and ``run``
returns the flow's exit code.

On Windows without the WebView2 runtime the flow runs with native message boxes
(:mod:`esecure.launcher.ui.native`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esecure.errors import EsecureError
from esecure.launcher.flow.presenter import Presenter, PresenterContext, TrayActions
from esecure.launcher.ui.page import Branding, branding_from, build_page
from esecure.launcher.ui.presenter import Api, ReportSaver, WindowPresenter
from esecure.launcher.ui.texts import say

if TYPE_CHECKING:  # the tray, the eject and the report load when first needed
    from esecure.launcher.host.eject import Ejector
    from esecure.launcher.tray import Tray
    from esecure.launcher.tray.removal import Removal

__all__ = ["HEIGHT", "SHOWN_WAIT", "WIDTH", "Gui", "run"]

log = logging.getLogger(__name__)

SHOWN_WAIT = 15.0
"""Seconds the flow waits for the first window before it starts anyway."""
WIDTH, HEIGHT = 660, 640
_BACKENDS: dict[str, Any] = {"linux": "gtk", "win32": "edgechromium", "darwin": "cocoa"}
_PLATFORMS = {"linux": "linux", "win32": "windows", "darwin": "macos"}


@dataclass
class Gui:
    """The running windows (for tests and benchmarks: ``observe`` receives it)."""

    window: Any  # webview.Window
    presenter: WindowPresenter
    brand: Branding
    tray: Tray | None = None


class _Surface:
    """:class:`~esecure.launcher.ui.presenter.Surface` over a pywebview window."""

    def __init__(self) -> None:
        self.window: Any = None

    def run(self, script: str) -> None:
        self.window.evaluate_js(script)

    def show(self) -> None:
        self.window.show()

    def hide(self) -> None:
        self.window.hide()


def _on_gui_thread(function: Callable[[], None]) -> None:
    """Run ``function`` on GTK's main loop (where the windows live)."""
    from gi.repository import GLib  # noqa: PLC0415

    def once() -> bool:
        function()
        return False

    GLib.idle_add(once)


def _tray_starter(gui: Gui, context: PresenterContext) -> Callable[[TrayActions], Tray | None]:
    brand, lang = gui.brand, context.lang

    def start(_actions: TrayActions) -> Tray | None:
        from esecure.launcher.tray import Labels, start_tray  # noqa: PLC0415 - once the site opens

        labels = Labels(
            title=brand.title,
            open=say("session.open", lang, portal=brand.portal),
            diagnostics=say("session.diagnostics", lang),
            remove=say("session.remove", lang),
        )
        icon = context.branding / "icon.png" if context.branding is not None else None
        gui.tray = start_tray(
            labels,
            gui.presenter.session_action,
            icon_png=icon,
            colour=brand.primary,
            on_gui_thread=_on_gui_thread if sys.platform == "linux" else None,
        )
        return gui.tray

    return start


def _removal(ejector: Ejector | None) -> Callable[[TrayActions], Removal | None]:
    """Prepares "remove the key" for the flow's session (this OS's ejector by default)."""

    def prepare(actions: TrayActions) -> Removal | None:
        from esecure.launcher.host.eject import ejector_for  # noqa: PLC0415 - at the session
        from esecure.launcher.tray.removal import removal_for  # noqa: PLC0415
        from esecure_onkey.boot import cd_root  # noqa: PLC0415

        chosen = ejector or ejector_for(_PLATFORMS.get(sys.platform, "linux"))
        return removal_for(actions, chosen, cd_root())

    return prepare


def _saver(context: PresenterContext) -> ReportSaver:
    """The error window's default "save the report" (a copy on the desktop)."""

    def save(error: EsecureError, report: Path | None) -> Path:
        from esecure.launcher.ui.report import report_saver  # noqa: PLC0415 - on the click

        return report_saver(context.lang, context.support_phone)(error, report)

    return save


def _open(
    webview: Any,  # noqa: ANN401 - the pywebview module
    context: PresenterContext,
    save_report: ReportSaver | None,
    ejector: Ejector | None,
) -> tuple[Gui, Api]:
    """The window (shown by ``webview.start``), its presenter and the page's Api."""
    brand = branding_from(context.product, context.support_phone, context.branding)
    surface = _Surface()
    presenter = WindowPresenter(
        surface,
        lang=context.lang,
        support_phone=context.support_phone,
        save_report=save_report or _saver(context),
    )
    api = Api(presenter)
    surface.window = webview.create_window(
        brand.title,
        html=build_page(brand, context.lang, say("starting", context.lang)),
        js_api=api,
        width=WIDTH,
        height=HEIGHT,
        min_size=(480, 420),
        background_color=brand.secondary,
    )
    gui = Gui(surface.window, presenter, brand)
    presenter.set_tray_starter(_tray_starter(gui, context))
    presenter.set_removal(_removal(ejector))
    return gui, api


def run(
    flow: Callable[[Presenter], int],
    context: PresenterContext,
    *,
    save_report: ReportSaver | None = None,
    ejector: Ejector | None = None,
    observe: Callable[[Gui], None] | None = None,
) -> int:
    """Show the first window at once, run ``flow`` with the windows' presenter, return its
    exit code. ``save_report`` saves an error's report (default: a copy on the desktop);
    ``ejector`` ejects the key when the user removes it (default: this OS's);
    ``observe`` sees the running windows before the flow starts (tests, benchmarks)."""
    if sys.platform == "win32":
        from esecure.launcher.ui import native  # noqa: PLC0415

        if native.webview2_version(native.registry_reader()) is None:
            return native.run(flow, context)
    if sys.platform == "linux":
        os.environ.setdefault("NO_AT_BRIDGE", "1")  # no accessibility-bus noise
    import webview  # noqa: PLC0415 - the first heavy import, right before the window

    gui, api = _open(webview, context, save_report, ejector)
    window, presenter = gui.window, gui.presenter
    finishing = threading.Event()
    failed = threading.Event()  # webview.start raised: the windows never came
    started = threading.Event()  # the flow has begun in the windows
    result: list[int] = []

    def closing() -> bool:
        if finishing.is_set():
            return True
        presenter.closing()
        return False  # cancels the close: the window hides instead

    window.events.closing += closing
    window.events.closed += presenter.stop

    def body() -> None:
        try:
            if not window.events.shown.wait(SHOWN_WAIT):
                log.warning("the first window was not shown within %s s", SHOWN_WAIT)
            if failed.is_set():
                return  # the flow runs in the terminal instead
            started.set()
            if observe is not None:
                observe(gui)
            result.append(flow(presenter))
            if presenter.removal is not None:  # the lock is released: eject, say if safe
                presenter.removal.eject(presenter.message, context.lang)
            presenter.finish()
        except Exception:  # a bug of the windows: logged, exit 1, never a hung process
            log.exception("the windows failed")
        finally:
            api.settle()  # the page's last calls hand their answers back first
            finishing.set()
            window.destroy()

    try:
        webview.start(body, gui=_BACKENDS.get(sys.platform), private_mode=True)
    except Exception as exc:  # GTK or WebKit would not start: the terminal, said once
        failed.set()
        presenter.stop()
        if started.is_set():
            log.exception("the windows stopped")
            return result[0] if result else 1
        log.exception("the windows could not start")
        return _in_terminal(flow, context, f"{type(exc).__name__}: {exc}")
    presenter.stop()
    return result[0] if result else 1


def _in_terminal(flow: Callable[[Presenter], int], context: PresenterContext, why: str) -> int:
    """The flow in the terminal, as when the windows are not importable (said on stderr)."""
    from esecure.launcher.flow.console import ConsolePresenter  # noqa: PLC0415
    from esecure.launcher.flow.texts import text  # noqa: PLC0415

    print(text("no-windows", context.lang, reason=why), file=sys.stderr)  # noqa: T201
    return flow(ConsolePresenter(lang=context.lang, support_phone=context.support_phone))
