"""The running session: open the site again, remove the key (graceful, then forced)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from esecure.launcher.flow.session import Session
from esecure.launcher.host.windowing import Ender

IGNORES_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"  # noqa: E501


def _sleeper(code="import time; print('up', flush=True); time.sleep(60)"):
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "up\n"
    proc.stdout.close()
    return proc


def test_remove_key_closes_firefox_and_runs_every_hook():
    """Removing the key ends Firefox (SIGTERM), runs the hooks even if one fails, ends."""
    firefox = _sleeper()
    session = Session(_sleeper, firefox)
    ran = []

    def broken():
        ran.append("broken")
        raise OSError("eject failed")

    session.end_hooks += [broken, lambda: ran.append("wipe")]
    session.remove_key()
    assert firefox.poll() is not None and ran == ["broken", "wipe"]
    assert session.wait(0) and session.ended
    session.remove_key()  # a second removal does nothing
    assert ran == ["broken", "wipe"]


def test_a_firefox_that_ignores_the_request_is_killed_after_the_bound():
    """Firefox not closing within the bound is killed."""
    firefox = _sleeper(IGNORES_TERM)
    session = Session(_sleeper, firefox, close_timeout=0.5)
    assert session.close_firefox() == -9


def test_a_host_ender_asks_then_kills_the_whole_firefox():
    """Windows' way (an Ender): Firefox is asked (WM_CLOSE to its windows), never sent
    SIGTERM; not closed within the bound, the ender kills its whole tree."""
    firefox = _sleeper(IGNORES_TERM)
    calls = []

    def kill(pid):
        calls.append(("kill", pid))
        firefox.kill()

    ender = Ender(lambda pid: calls.append(("ask", pid)) is None, kill)
    session = Session(_sleeper, firefox, close_timeout=0.5, ender=ender)
    assert session.close_firefox() == -9
    assert calls == [("ask", firefox.pid), ("kill", firefox.pid)]


def test_a_host_ender_with_nothing_to_ask_kills_at_once():
    """No window to ask (Firefox still starting): killed without waiting for the bound."""
    firefox = _sleeper()
    killed = []
    ender = Ender(lambda _pid: False, lambda pid: killed.append(pid) or firefox.kill())
    session = Session(_sleeper, firefox, close_timeout=60, ender=ender)
    assert session.close_firefox() == -9
    assert killed == [firefox.pid]


def test_a_firefox_that_closes_when_asked_is_not_killed():
    """Asked and closed within the bound: no kill."""
    firefox = _sleeper()
    ender = Ender(lambda _pid: firefox.terminate() is None, lambda _pid: pytest.fail("killed"))
    session = Session(_sleeper, firefox, close_timeout=30, ender=ender)
    assert session.close_firefox() == -15


def test_open_site_starts_firefox_again_when_it_was_closed():
    """Open the site: a running Firefox is left alone; a closed one is started again."""
    firefox = _sleeper()
    started = []

    def start():
        started.append(_sleeper())
        return started[-1]

    session = Session(start, firefox)
    session.open_site()
    assert started == []
    firefox.terminate()
    firefox.wait()
    session.open_site()
    assert len(started) == 1 and session.firefox is started[0] and session.firefox_running()
    session.remove_key()
    assert not session.firefox_running()
