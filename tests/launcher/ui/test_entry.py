"""The GUI entry point: importable only where windows can open, light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from esecure.launcher import ui
from esecure.launcher.ui import GuiUnavailableError, unavailable


def _installed(*names):
    return lambda module: module in names


@pytest.mark.parametrize(
    ("platform", "environ", "installed", "why"),
    [
        ("linux", {"DISPLAY": ":0"}, ("webview", "gi"), None),
        ("linux", {"WAYLAND_DISPLAY": "wayland-0"}, ("webview", "gi"), None),
        ("linux", {}, ("webview", "gi"), "no display"),
        ("linux", {"DISPLAY": ":0"}, ("webview",), "PyGObject (gi) is not installed"),
        ("linux", {"DISPLAY": ":0"}, (), "pywebview is not installed"),
        ("win32", {}, ("webview",), None),
        ("darwin", {}, ("webview",), "not supported yet on macOS"),
    ],
)
def test_where_windows_can_open(platform, environ, installed, why):
    """A display on Linux, pywebview (and gi on Linux); macOS not yet."""
    found = unavailable(platform, environ, _installed(*installed))
    assert found == why if why is None else why in found


def test_without_a_display_run_is_an_import_error(monkeypatch):
    """The flow's fallback catches ImportError: looking `run` up says why."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ImportError, match="the windows cannot open: no display"):
        from esecure.launcher.ui import run  # noqa: F401, PLC0415
    with pytest.raises(GuiUnavailableError):
        _ = ui.run
    with pytest.raises(AttributeError):
        _ = ui.nothing_here


def test_with_a_display_run_is_the_gui_entry(monkeypatch):
    """With a display (not opened by a lookup), `run` is the windows' entry point."""
    monkeypatch.setenv("DISPLAY", ":99")
    from esecure.launcher.ui.gui import run  # noqa: PLC0415

    assert ui.run is run


def test_importing_the_ui_imports_nothing_heavy():
    """The package and its presenter load no pywebview, GTK, pystray or Pillow."""
    probe = (
        "import sys\n"
        "import esecure.launcher.ui, esecure.launcher.ui.presenter, esecure.launcher.tray\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('webview', 'gi', 'pystray', 'PIL', 'cryptography')]\n"
        "print('heavy:', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "heavy: []" in done.stdout, done.stdout


class _Event:
    def __init__(self):
        self.handlers = []

    def __iadd__(self, handler):
        self.handlers.append(handler)
        return self

    def wait(self, _timeout=None):
        return False


class _Window:
    def __init__(self):
        self.events = type("Events", (), {})()
        for name in ("closing", "closed", "shown"):
            setattr(self.events, name, _Event())


class _BrokenWebview:
    """A pywebview whose GUI cannot start (WebKit missing at run time, say)."""

    @staticmethod
    def create_window(*_args, **_kwargs):
        return _Window()

    @staticmethod
    def start(*_args, **_kwargs):
        raise RuntimeError("WebKit2 could not be loaded")


def test_windows_that_cannot_start_leave_the_flow_in_the_terminal(monkeypatch, capsys):
    """webview.start raises before any window: said on stderr, then the same flow with
    the terminal's presenter; its exit code is returned."""
    from esecure.launcher.flow.console import ConsolePresenter  # noqa: PLC0415
    from esecure.launcher.flow.presenter import PresenterContext  # noqa: PLC0415
    from esecure.launcher.ui import gui  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "webview", _BrokenWebview)
    seen = []

    def flow(presenter):
        seen.append(type(presenter))
        return 7

    assert gui.run(flow, PresenterContext({}, "en", None)) == 7
    assert seen == [ConsolePresenter]
    err = capsys.readouterr().err
    assert err.startswith("e-secure: the windows are not available here (RuntimeError: WebKit2")
