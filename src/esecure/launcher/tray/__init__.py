"""The tray icon once the site is open: "open the site", "diagnostics", "remove the key".

The icon (pystray) shares the windows' process and their GUI loop. Each menu entry calls a
dispatcher with its action's name ("open", "diagnostics", "remove"); the windows'
presenter runs the :class:`~esecure.launcher.flow.presenter.TrayActions` behind it off
the GUI's thread (removing the key waits for Firefox to close).

Per platform (:func:`start_tray`):

* Linux: pystray's GTK backend (AppIndicator when its typelib is installed), made on the
  GTK main loop the windows already run (``run_detached``); it needs a D-Bus session bus.
  Stopping it may raise a GDBus error about the notification service: caught and logged.
* Windows: pystray's win32 backend in a thread of its own (its own message loop). Not run
  here: no Windows machine tests it.
* macOS: no tray yet (pystray needs the main thread's NSApplication, which WebKit's loop
  owns): the session window's buttons do the same.

Importing this package imports nothing heavy; pystray (and Pillow) load in
:func:`start_tray`.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esecure.launcher.flow.presenter import TrayActions

__all__ = [
    "ACTIONS",
    "MAX_ICON",
    "Labels",
    "Tray",
    "backend_for",
    "run_action",
    "start_tray",
]

log = logging.getLogger(__name__)

ACTIONS = ("open", "diagnostics", "remove")
"""The menu's entries, in order (``icon.menu.items[i]`` runs ``ACTIONS[i]``)."""
MAX_ICON = 1024 * 1024
_READY_WAIT = 10.0  # seconds the GUI loop gets to make the icon


@dataclass(frozen=True)
class Labels:
    """The menu's words, in the user's language."""

    title: str
    open: str
    diagnostics: str
    remove: str


def backend_for(platform: str, has_appindicator: Callable[[], bool]) -> str | None:
    """pystray's backend on ``platform`` (None: no tray there yet). pystray's own choice
    on Linux raises (not ImportError) when AppIndicator's typelib is missing, so we pick."""
    if platform == "linux":
        return "appindicator" if has_appindicator() else "gtk"
    if platform == "windows":
        return "win32"
    return None


def _has_appindicator() -> bool:
    import gi  # noqa: PLC0415

    for name in ("AyatanaAppIndicator3", "AppIndicator3"):
        try:
            gi.require_version(name, "0.1")
        except ValueError:
            continue
        return True
    return False


def _image(icon_png: Path | None, colour: str) -> Any:  # noqa: ANN401 - a PIL image
    """The branding's icon, else a square in the product's colour."""
    from PIL import Image, ImageDraw  # noqa: PLC0415

    if icon_png is not None:
        try:
            if icon_png.stat().st_size <= MAX_ICON:
                with Image.open(icon_png) as opened:
                    return opened.convert("RGBA").resize((64, 64))
        except (OSError, ValueError) as exc:
            log.info("tray icon %s not used: %s", icon_png, exc)
    image = Image.new("RGBA", (64, 64), colour)
    ImageDraw.Draw(image).rectangle((20, 20, 43, 43), fill="white")
    return image


def run_action(actions: TrayActions, name: str) -> None:
    """Run the session's action ``name`` (one of :data:`ACTIONS`) in a thread of its own:
    the caller may be the GUI's thread, and removing the key waits for Firefox to close.
    Its failure is logged; an unknown name does nothing."""
    target = {
        "open": actions.open_site,
        "diagnostics": actions.diagnostics,
        "remove": actions.remove_key,
    }.get(name)
    if target is None:
        return

    def logged() -> None:
        try:
            target()
        except Exception:  # the session goes on; the log says what failed
            log.exception("tray action %s failed", name)

    threading.Thread(target=logged, name=f"e-secure-{name}", daemon=True).start()


class Tray:
    """A shown tray icon (``icon``: pystray's, for tests: ``icon.menu.items[i](icon)``)."""

    def __init__(self, icon: Any) -> None:  # noqa: ANN401 - pystray.Icon
        self.icon = icon
        self._stopped = False

    def stop(self) -> None:
        """Remove the icon (a GDBus error from the notification service is logged)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.icon.visible = False
            self.icon.stop()
        except Exception as exc:  # noqa: BLE001 - GLib.Error from D-Bus, whatever the backend
            log.info("tray icon stopped with: %s", exc)


def _make_icon(
    backend: str,
    labels: Labels,
    dispatch: Callable[[str], None],
    image: Any,  # noqa: ANN401
) -> Any:  # noqa: ANN401 - pystray.Icon
    os.environ["PYSTRAY_BACKEND"] = backend
    import pystray  # noqa: PLC0415

    def entry(text: str, name: str, *, default: bool = False) -> Any:  # noqa: ANN401
        return pystray.MenuItem(text, lambda: dispatch(name), default=default)

    menu = pystray.Menu(
        entry(labels.open, "open", default=True),
        entry(labels.diagnostics, "diagnostics"),
        entry(labels.remove, "remove"),
    )
    return pystray.Icon("e-secure", image, labels.title, menu)


def start_tray(
    labels: Labels,
    dispatch: Callable[[str], None],
    *,
    icon_png: Path | None,
    colour: str,
    on_gui_thread: Callable[[Callable[[], None]], None] | None = None,
    platform: str | None = None,
) -> Tray | None:
    """Show the tray icon; None when this platform has none or it failed (logged).

    ``on_gui_thread`` runs a function on the GUI's main loop (Linux: GLib's idle); the
    icon is made there, and this waits for it (bounded)."""
    platform = platform or ("windows" if sys.platform == "win32" else sys.platform)
    try:
        backend = backend_for(platform, _has_appindicator if platform == "linux" else bool)
    except ImportError as exc:
        log.warning("no tray icon: %s", exc)
        return None
    if backend is None:
        log.info("no tray icon on %s yet: the session window's buttons do its work", platform)
        return None
    image = _image(icon_png, colour)
    if backend == "win32" or on_gui_thread is None:
        icon = _make_icon(backend, labels, dispatch, image)
        threading.Thread(target=icon.run, name="e-secure-tray", daemon=True).start()
        return Tray(icon)
    made: list[Any] = []
    ready = threading.Event()

    def make() -> None:
        try:
            icon = _make_icon(backend, labels, dispatch, image)
            icon.run_detached()
            icon.visible = True
            made.append(icon)
        except Exception:  # the window's buttons remain
            log.exception("the tray icon could not be made")
        finally:
            ready.set()

    on_gui_thread(make)
    if not ready.wait(_READY_WAIT) or not made:
        log.warning("no tray icon: the GUI loop did not make it")
        return None
    return Tray(made[0])
