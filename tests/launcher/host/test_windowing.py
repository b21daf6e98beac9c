"""Bringing the key's running Firefox to the front ("open the site", a second start)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from esecure.launcher.host.windowing import Ender, ender_for, raise_window, raiser_for
from esecure.launcher.host.winwindows import (
    ask_to_close,
    descendants,
    kill_tree,
    raise_windows,
)


class _Xdotool:
    """Records xdotool calls; ``search`` finds ``windows``; ``focus_ok`` for windowfocus."""

    def __init__(self, windows: list[str], *, focus_ok: bool = True) -> None:
        self.windows = windows
        self.focus_ok = focus_ok
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(argv[1:])
        out = "\n".join(self.windows) + "\n" if argv[1] == "search" else ""
        code = 0 if argv[1] != "windowfocus" or self.focus_ok else 1
        return subprocess.CompletedProcess(argv, code, out, "")


def test_raises_maps_and_focuses_every_visible_window_of_the_pid() -> None:
    run = _Xdotool(["41", "42"])
    assert raise_window(123, environ={"DISPLAY": ":9"}, which=lambda _: "/x", run=run)
    assert run.calls == [
        ["search", "--pid", "123", "--onlyvisible"],
        ["windowmap", "41"],
        ["windowraise", "41"],
        ["windowfocus", "41"],
        ["windowmap", "42"],
        ["windowraise", "42"],
        ["windowfocus", "42"],
        ["windowactivate", "41"],
    ]


def test_nothing_to_raise_without_a_display_xdotool_or_a_window() -> None:
    run = _Xdotool(["41"])
    assert not raise_window(1, environ={}, which=lambda _: "/x", run=run)
    assert not raise_window(1, environ={"DISPLAY": ":9"}, which=lambda _: None, run=run)
    assert run.calls == []
    assert not raise_window(1, environ={"DISPLAY": ":9"}, which=lambda _: "/x", run=_Xdotool([]))
    refused = _Xdotool(["41"], focus_ok=False)
    assert not raise_window(1, environ={"DISPLAY": ":9"}, which=lambda _: "/x", run=refused)


def test_each_system_has_its_raiser_or_says_no() -> None:
    """Linux: xdotool; Windows: user32 on Firefox's process tree (run under Wine by
    tests/windows/test_wine_session.py); macOS: not implemented, never pretended."""
    assert raiser_for("linux") is raise_window
    assert raiser_for("windows") is raise_windows
    assert raiser_for("macos")(1) is False
    assert ender_for("linux") is None and ender_for("macos") is None
    assert ender_for("windows") == Ender(ask_to_close, kill_tree)


def test_firefox_process_tree_follows_parents_and_refuses_adopted_pids() -> None:
    """The tree under the launcher process: its browser process and their children,
    parents first; a process whose recorded parent pid was reused by a later process is
    not adopted by it (it started before its "parent")."""
    parents = {10: 1, 11: 10, 12: 11, 13: 11, 20: 1, 14: 10}
    born = {10: 100, 11: 110, 12: 120, 13: 130, 14: 90, 20: 5}
    assert descendants(10, parents, born.get) == [10, 11, 12, 13]  # 14 predates 10
    assert descendants(20, parents, born.get) == [20]
    assert descendants(10, parents, lambda _pid: None) == [10, 11, 14, 12, 13]  # unknown ages


DRIVER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    import gi
    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk
    from esecure.launcher.host.windowing import raise_window

    home, profile = sys.argv[1], sys.argv[2]
    firefox = subprocess.Popen(
        ["firefox-esr", "--no-remote", "--profile", profile, "about:blank"],
        env=dict(os.environ, HOME=home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def focused_pid():
        out = subprocess.run(["xdotool", "getwindowfocus", "getwindowpid"],
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip()

    try:
        for _ in range(120):  # Firefox's window: at most 60 s
            found = subprocess.run(["xdotool", "search", "--pid", str(firefox.pid),
                                    "--onlyvisible"], capture_output=True, text=True, timeout=5)
            if found.stdout.strip():
                break
            time.sleep(0.5)
        else:
            sys.exit("Firefox showed no window")
        other = Gtk.Window(title="another program")
        other.show_all()
        for _ in range(50):
            while Gtk.events_pending():
                Gtk.main_iteration()
            time.sleep(0.02)
        xid = other.get_window().get_xid()
        subprocess.run(["xdotool", "windowraise", str(xid)], timeout=5)
        subprocess.run(["xdotool", "windowfocus", str(xid)], timeout=5)
        before = focused_pid()
        raised = raise_window(firefox.pid)
        after = focused_pid()
        print(f"before={before} raised={raised} after={after} firefox={firefox.pid}")
    finally:
        firefox.terminate()
        try:
            firefox.wait(timeout=15)
        except subprocess.TimeoutExpired:
            firefox.kill()
    """
)


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("xvfb-run") and shutil.which("xdotool") and shutil.which("firefox-esr")),
    reason="needs xvfb-run, xdotool and firefox-esr (make system-deps)",
)
def test_a_real_firefox_behind_another_window_is_brought_forward(tmp_path: Path) -> None:
    """Under Xvfb: Firefox's window, then another program's window takes the focus; the
    raiser gives it back to Firefox (no window manager: raise + focus)."""
    (tmp_path / "profile").mkdir()
    (tmp_path / "home").mkdir()
    (tmp_path / "profile" / "user.js").write_text(
        'user_pref("browser.shell.checkDefaultBrowser", false);\n'
    )
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    proc = subprocess.run(
        [
            "xvfb-run",
            "-a",
            sys.executable,
            str(driver),
            str(tmp_path / "home"),
            str(tmp_path / "profile"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("before="))
    fields = dict(part.split("=") for part in line.split())
    assert fields["before"] != fields["firefox"], line  # the other window had the focus
    assert fields["raised"] == "True", line
    assert fields["after"] == fields["firefox"], line


def test_open_the_site_brings_a_running_firefox_forward() -> None:
    """The session's "open the site" (the tray, a second start) raises the running
    Firefox instead of starting another; a closed one is started again."""
    from esecure.launcher.flow.session import Session  # noqa: PLC0415

    raised: list[int] = []
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
        return started[-1]

    session = Session(start, start(), raise_window=lambda pid: raised.append(pid) or True)
    try:
        session.open_site()
        assert raised == [started[0].pid]
        assert len(started) == 1
        session.close_firefox()
        session.open_site()
        assert len(started) == 2
        assert raised == [started[0].pid]
    finally:
        for proc in started:
            proc.kill()
            proc.wait(timeout=10)
