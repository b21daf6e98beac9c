"""The launcher's windows (pywebview): progress, update offer, enrolment form, errors, the
session; the flow's GUI entry point is ``esecure.launcher.ui.run(flow, context)``.

Importing this package imports nothing heavy (``e-secure --version`` stays fast). Looking
up :func:`run` checks, cheaply, that windows can open here — a display on Linux, pywebview
and its GTK/WebKit2 bindings installed — and raises :class:`GuiUnavailableError` (an
ImportError) naming what is missing otherwise, so that the flow's ``run_gui`` falls back
to the terminal exactly as when this module is absent. pywebview itself is imported by
:func:`run`, right before the first window.

Modules: :mod:`.gui` (run), :mod:`.presenter` (the Presenter over the page, the page's
answers), :mod:`.page` (the page, branded), :mod:`.texts` (words, sizes, times),
:mod:`.report` ("save the report"), :mod:`.native` (Windows without WebView2).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["GuiUnavailableError", "run", "unavailable"]


class GuiUnavailableError(ImportError):
    """Windows cannot open here (no display, no pywebview or no WebKit2): use the terminal."""


def unavailable(
    platform: str,
    environ: Mapping[str, str],
    installed: Callable[[str], bool],
) -> str | None:
    """Why windows cannot open on ``platform`` with ``environ`` (pure; ``installed`` says
    whether a module can be imported); None when they can."""
    if platform == "darwin":
        return "the windows are not supported yet on macOS"
    if not installed("webview"):
        return "pywebview is not installed"
    if platform == "linux":
        if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
            return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
        if not installed("gi"):
            return "PyGObject (gi) is not installed"
    return None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _require_webkit() -> None:
    """GTK 3 and WebKit2GTK's typelibs (what pywebview's GTK backend loads)."""
    import gi  # noqa: PLC0415

    try:
        gi.require_version("Gtk", "3.0")
        try:
            gi.require_version("WebKit2", "4.1")
        except ValueError:
            gi.require_version("WebKit2", "4.0")
    except ValueError as exc:
        raise GuiUnavailableError(
            f"the windows cannot open: {exc} (install gir1.2-webkit2-4.1)"
        ) from None


def __getattr__(name: str) -> Any:  # noqa: ANN401 - the GuiEntry, checked on the way
    if name != "run":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    why = unavailable(sys.platform, os.environ, _installed)
    if why is not None:
        raise GuiUnavailableError(f"the windows cannot open: {why}")
    if sys.platform == "linux":
        _require_webkit()
    from esecure.launcher.ui.gui import run  # noqa: PLC0415

    return run
