"""The tray's backend choice and its actions' dispatch (no display)."""

from __future__ import annotations

import threading

import pytest

from esecure.launcher.tray import ACTIONS, Tray, backend_for, run_action


@pytest.mark.parametrize(
    ("platform", "appindicator", "backend"),
    [
        ("linux", True, "appindicator"),
        ("linux", False, "gtk"),
        ("windows", False, "win32"),
        ("macos", False, None),
    ],
)
def test_the_backend_per_platform(platform, appindicator, backend):
    """AppIndicator when its typelib is there, else GTK; win32; none on macOS yet."""
    assert backend_for(platform, lambda: appindicator) == backend


class Actions:
    def __init__(self):
        self.calls = []
        self.done = threading.Event()

    def _note(self, name):
        self.calls.append((name, threading.current_thread().name))
        self.done.set()

    def open_site(self):
        self._note("open")

    def diagnostics(self):
        self._note("diagnostics")

    def remove_key(self):
        self._note("remove")


@pytest.mark.parametrize("name", ACTIONS)
def test_each_action_runs_off_the_callers_thread(name):
    """The tray's thread is the GUI's: each action runs in a thread of its own."""
    actions = Actions()
    run_action(actions, name)
    assert actions.done.wait(5)
    [(called, thread)] = actions.calls
    assert called == name and thread == f"e-secure-{name}"


def test_an_unknown_or_failing_action_is_harmless(caplog):
    """An unknown name does nothing; an action's exception is logged, not raised."""
    actions = Actions()
    run_action(actions, "format-the-disk")
    assert actions.calls == []
    failed = threading.Event()

    class Broken:
        def diagnostics(self):
            failed.set()
            raise RuntimeError("no network")

        open_site = remove_key = diagnostics

    with caplog.at_level("ERROR"):
        run_action(Broken(), "diagnostics")
        assert failed.wait(5)
        for thread in threading.enumerate():
            if thread.name == "e-secure-diagnostics":
                thread.join(5)
    assert "tray action diagnostics failed" in caplog.text


def test_stopping_the_icon_swallows_the_notification_services_error(caplog):
    """pystray's GTK icon raises a GDBus error at stop without a notification service:
    logged; a second stop does nothing."""

    class Icon:
        visible = True
        stops = 0

        def stop(self):
            Icon.stops += 1
            raise RuntimeError("GDBus.Error:org.freedesktop.DBus.Error.ServiceUnknown")

    tray = Tray(Icon())
    with caplog.at_level("INFO"):
        tray.stop()
        tray.stop()
    assert Icon.stops == 1
    assert "ServiceUnknown" in caplog.text
