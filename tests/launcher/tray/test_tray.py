"""The tray with a real Firefox: each menu entry runs, and "remove the key" leaves no
Firefox, no session trace, and ejects (tray_driver.py, one process under Xvfb + D-Bus)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from esecure.launcher.tray.removal import KEPT
from tests.launcher.ui.guidriver import run_under_display

DRIVER = Path(__file__).with_name("tray_driver.py")
FIREFOX = Path("/usr/lib/firefox-esr/firefox-esr")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (FIREFOX.is_file() and shutil.which("xvfb-run") and shutil.which("dbus-run-session")),
        reason="firefox-esr, xvfb and dbus are installed by install-system-deps",
    ),
]


@pytest.fixture(scope="module")
def removed(tmp_path_factory):
    """The tray's three entries run on a session with a real Firefox."""
    out = tmp_path_factory.mktemp("tray")
    result = run_under_display(DRIVER, [], out)
    assert "driver_error" not in result, result["driver_error"]
    assert result["process_exit"] == 0, (out / "stderr.txt").read_text()[-3000:]
    return result


def test_open_the_site_keeps_the_running_firefox(removed):
    """ "Open the site" with Firefox running starts no second one."""
    assert removed["firefox_running_after_open"] is True
    assert removed["starts"] == 1


def test_diagnostics_runs_the_sessions_diagnostics(removed):
    """ "Diagnostics" calls the session's diagnostics."""
    assert removed["diagnostics"] == ["run"]


def test_remove_the_key_leaves_no_firefox_process(removed):
    """Firefox (parent and content processes) is gone; nothing names the profile."""
    assert len(removed["processes_before"]) >= 2  # Firefox and its content processes ran
    assert removed["firefox_exit"] is not None
    assert removed["processes_left"] == []
    assert removed["using_profile"] == []


def test_remove_the_key_wipes_the_session_traces_and_keeps_the_certificate(removed):
    """Cookies, cache, session store, storage, form history… were there and are gone; the
    NSS databases, prefs and the template's own file stay."""
    before = set(removed["traces_before"])
    assert {"cookies.sqlite", "cache2", "sessionstore-backups", "storage"} <= before
    assert {"formhistory.sqlite", "logins.json", "cert_override.txt", "crashes"} <= before
    assert removed["traces_after"] == ["content-prefs.sqlite"]  # the template ships it
    assert removed["template_file_after"] is True
    assert removed["kept_after"] == sorted(KEPT)


def test_remove_the_key_releases_then_ejects_and_says_it_is_safe(removed):
    """The lock is released before the eject; the ejector got the key's two roots; the
    window says the key may be unplugged; the flow ends with 0."""
    assert removed["order"] == ["release", "eject"]
    [paths] = removed["eject_calls"]
    assert [Path(p).name for p in paths] == ["cd", "data"]
    assert removed["final"] == "You can now unplug the key safely. Keep it in a safe place."
    assert removed["exit"] == 0
