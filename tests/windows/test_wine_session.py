"""The key's life on Windows, under Wine: the real ``E:\\e-secure.exe`` of an image built
against a running `esecure serve` on 127.0.0.1, ``--no-gui`` with its answers on the
command line, down to starting the stand-in Firefox with the certificate delivered.

The certificate step runs for real: the launcher loads the image's Windows NSS (NSS 3.125,
tests/windows_firefox.py) through ctypes and imports the key's certificate and private key
into the profile's database, which Debian's certutil then reads. The stand-in
``firefox.exe`` records how it was started (tests/windows/firefox_standin.c) and, when
asked, stays running like a browser session, so a second start can find the first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from tests.windows.wineprefix import TestPrefix, windows_path, windows_processes, xvfb
from tests.windows_firefox import (
    HOLD_ENV,
    STUBBORN_ENV,
    WINDOW_ENV,
    read_records,
    record_events,
)

from esecure.demo.images import Served
from esecure.demo.key import IDENTIFIER, Key, personalised_key, tree_digest
from esecure.demo.run import ENROLLING, nss_certificate

pytestmark = pytest.mark.slow

DONE = "[100%]"  # the flow reached the site (Firefox started)
ALREADY_RUNNING = "e-secure est déjà lancé"
ANSI = "cp1252"  # what e-secure.exe writes to a pipe in (Wine's ANSI code page)
RECORD_WAIT = 120.0  # seconds a held session gets to reach Firefox
HOLD_SOURCE = Path(__file__).with_name("hold_file.c")


@pytest.fixture(scope="module")
def drive(windows_served: Served, test_prefix: TestPrefix) -> TestPrefix:
    """The served image's CD-ROM as drive E: of the test prefix."""
    test_prefix.map_drive("e", windows_served.cd)
    return test_prefix


@pytest.fixture(scope="module")
def key(windows_served: Served, tmp_path_factory: pytest.TempPathFactory) -> Key:
    """One key personalised for the served image (`esecure personalize --data-images`, the
    FAT image's files copied out), its customer registered with an activation code."""
    return personalised_key(windows_served, tmp_path_factory.mktemp("wine-key"))


@pytest.fixture(scope="module")
def cd_before(windows_served: Served) -> dict[str, str]:
    return tree_digest(windows_served.cd)


def _env(key: Key, **extra: str) -> dict[str, str]:
    """The data area named as an operator names it (the Linux end-to-end test does the
    same; the per-user directory is proven by test_under_wine.py)."""
    return {"ESECURE_DATA_DIR": windows_path(key.data), **extra}


def _start(
    drive: TestPrefix, key: Key, *args: str, exe: str = "E:\\e-secure.exe", **extra: str
) -> tuple[int, str]:
    """``EXE --no-gui ARGS`` with ``extra`` environment variables: (exit code, output)."""
    proc = drive.run(exe, "--no-gui", *args, env=_env(key, **extra), encoding=ANSI)
    return proc.returncode, proc.stdout + proc.stderr


def _record(key: Key) -> Path:
    return key.data / "profile.firefox-record.txt"  # the stand-in's, beside the profile


def _issued(served: Served, serial: str) -> list[str]:
    """Serial numbers (hex) of the certificates the server's registry issued for ``serial``."""
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.server.registry import Registry  # noqa: PLC0415
    from esecure.server.serve import default_db_url  # noqa: PLC0415

    registry = Registry.open(default_db_url(load_project(served.project)))
    try:
        return [c.serial_number for c in registry.certificates() if c.key_serial == serial]
    finally:
        registry.close()


@pytest.fixture(scope="module")
def first_start(drive: TestPrefix, key: Key, cd_before: dict[str, str]) -> tuple[int, str]:
    """The key's first start: enrolment, delivery, Firefox."""
    del cd_before  # taken before the first start
    return _start(drive, key, "--identifier", IDENTIFIER, "--activation-code", key.code)


def test_first_start_enrols_delivers_and_starts_firefox(
    first_start, key, windows_served, cd_before
):
    """The whole --no-gui flow of the real e-secure.exe: the EST service issues a
    certificate for the key's serial, the launcher imports it with its private key into
    the profile through the Windows NSS of the key's Firefox, and starts that Firefox on
    the site with the profile, waiting for the browser process. The CD-ROM is unchanged."""
    code, output = first_start
    assert code == 0, output
    assert ENROLLING in output, output
    assert DONE in output, output
    issued = _issued(windows_served, key.serial)
    assert len(issued) == 1, issued
    credential = x509.load_pem_x509_certificate((key.data / "pki" / "credential.pem").read_bytes())
    assert format(credential.serial_number, "x") == issued[0].lower()
    profile = key.data / "profile"
    assert nss_certificate(profile, credential.serial_number)  # written by Windows NSS
    keys = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{profile}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert f"e-secure {key.serial}" in keys.stdout, keys.stdout + keys.stderr  # its key too
    ((argv, env),) = read_records(_record(key))
    assert argv == [
        "E:\\firefox\\windows\\firefox.exe",
        "-wait-for-browser",  # Firefox's launcher process lives as long as the browser
        "-no-remote",
        "-profile",
        windows_path(profile),
        windows_served.url,
    ]
    assert not [name for name in env if name.startswith("MOZ_")], env
    log = (key.data / "logs" / "e-secure.log").read_text()
    assert key.code not in log and key.code not in output
    assert "not enforced" not in log  # the single-instance lock is Windows' LockFileEx
    assert tree_digest(windows_served.cd) == cd_before


@pytest.fixture
def held(drive: TestPrefix, key: Key, first_start, tmp_path: Path) -> Iterator[tuple]:
    """A start whose Firefox stays running (the stand-in held until a file appears)."""
    del first_start
    release = tmp_path / "release-firefox"
    record = _record(key)
    before = len(read_records(record))
    running = drive.start(
        "E:\\e-secure.exe",
        "--no-gui",
        env=_env(key, **{HOLD_ENV: windows_path(release)}),
        encoding=ANSI,
    )
    try:
        deadline = time.monotonic() + RECORD_WAIT
        while len(read_records(record)) == before:
            assert running.poll() is None, running.communicate()[0]
            assert time.monotonic() < deadline, "the held session never started Firefox"
            time.sleep(0.25)
        yield running, release, before
    finally:
        release.touch()
        try:
            running.communicate(timeout=RECORD_WAIT)
        except subprocess.TimeoutExpired:
            running.kill()
            running.communicate(timeout=30)


def test_second_start_is_answered_by_the_running_session(drive, key, held):
    """Seed row E6 on Windows: while a session's Firefox runs, a second e-secure.exe finds
    the key locked (LockFileEx), signals the session over its named pipe, says e-secure is
    already running and exits 0 without starting a second Firefox. The session ends when
    its Firefox does, and then the key starts again normally."""
    running, release, before = held
    lock = json.loads((key.data / "session.lock").read_text())
    assert lock["address"].startswith("\\\\.\\pipe\\e-secure-"), lock
    code, output = _start(drive, key)
    assert code == 0, output
    assert ALREADY_RUNNING in output, output
    assert len(read_records(_record(key))) == before + 1  # the held one, no second Firefox
    release.touch()  # the user closes Firefox: the session ends
    held_output = running.communicate(timeout=RECORD_WAIT)[0]
    assert running.returncode == 0, held_output
    log = (key.data / "logs" / "e-secure.log").read_text()
    assert "open the site: Firefox" in log and "is already running" in log, log
    again_code, again = _start(drive, key)  # the lock was released with the session
    assert again_code == 0, again
    assert DONE in again and ALREADY_RUNNING not in again, again


def test_everyday_start_goes_straight_to_firefox(drive, key, first_start):
    """A valid certificate already in the profile: no enrolment, no second import, the
    site; the certificate record is unchanged."""
    del first_start
    record = (key.data / "pki" / "certificate.json").read_bytes()
    starts = len(read_records(_record(key)))
    code, output = _start(drive, key)
    assert code == 0, output
    assert ENROLLING not in output, output
    assert DONE in output, output
    assert (key.data / "pki" / "certificate.json").read_bytes() == record
    assert len(read_records(_record(key))) == starts + 1


FIREFOX_EXE = "E:\\firefox\\windows\\firefox.exe"


@pytest.fixture(scope="module")
def display(drive: TestPrefix) -> Iterator[str]:
    """An X display for Wine's windows; every process of the prefix is stopped before the
    display goes (the tests after this module run without one)."""
    with xvfb() as name:
        try:
            yield name
        finally:
            drive.stop()


def _until(done: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + RECORD_WAIT
    while not done():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, f"no {what} within {RECORD_WAIT} s"
        time.sleep(0.25)


def _windowed_session(
    drive: TestPrefix, key: Key, display: str, **extra: str
) -> tuple[list[str], str, str]:
    """A session whose stand-in Firefox has a window (a launcher process waiting for its
    browser process); a second start while it runs; then Ctrl-C to the session, the
    console's "remove the key". (The stand-in's events, the second start's output, the
    session's log lines of this run.)"""
    record = _record(key)
    log = key.data / "logs" / "e-secure.log"
    events_before, log_before = len(record_events(record)), len(log.read_text())
    env = _env(key, DISPLAY=display, **{WINDOW_ENV: "1"}, **extra)
    session = drive.start("E:\\e-secure.exe", "--no-gui", env=env, encoding=ANSI)
    try:
        _until(lambda: "window" in record_events(record)[events_before:], session, "window")
        code, second = _start(drive, key, DISPLAY=display)
        assert code == 0, second
        assert session.poll() is None, session.communicate()[0]  # still running
        os.kill(session.pid, signal.SIGINT)  # wine's own pid: Wine makes it Ctrl-C
        session.communicate(timeout=RECORD_WAIT)
    finally:
        if session.poll() is None:
            session.kill()
        session.communicate(timeout=30)  # and its pipe closed, whatever happened
    return record_events(record)[events_before:], second, log.read_text()[log_before:]


def test_a_second_start_brings_firefox_forward_and_ctrl_c_closes_it(drive, key, display):
    """On a display: the second start lets the running session take the foreground and
    signals it; the session finds the window in Firefox's process tree (the browser
    process under the launcher process it started) and makes it the foreground window.
    Ctrl-C ends the session as removing the key does: WM_CLOSE to Firefox's window, which
    closes (its shutdown would sanitize), and no Firefox process is left."""
    events, second, log = _windowed_session(drive, key, display)
    assert ALREADY_RUNNING in second, second
    assert "window(s) of pid" in log and "foreground: True" in log, log
    assert "brought forward: True" in log
    assert "close Firefox: WM_CLOSE to 1 of 1 window(s)" in log, log
    assert "window" in events and events[-1] == "closed WM_CLOSE", events
    assert "killed" not in log
    assert not windows_processes(FIREFOX_EXE)


def test_a_firefox_that_does_not_close_is_killed_with_its_browser_process(drive, key, display):
    """A Firefox that ignores WM_CLOSE (a hung page) is killed after the bound, its whole
    tree: terminating only the process the launcher started (Firefox's launcher process)
    would leave the browser running on the key's profile."""
    events, _second, log = _windowed_session(drive, key, display, **{STUBBORN_ENV: "1"})
    assert "closed ignored" in events, events
    assert "closed WM_CLOSE" not in events
    assert "Firefox did not close within" in log, log
    assert "Firefox killed: 2 of 2 process(es)" in log, log
    assert not windows_processes(FIREFOX_EXE)


QUARANTINED = "firefox/windows/omni.ja"  # removed, as a quarantine removes a file
BLOCKED = "firefox/windows/browser/omni.ja"  # held open unshared, as a scanner holds one
E4_ACTION = "elle indiquera à votre service informatique quel fichier autoriser"


@pytest.fixture
def quarantined(windows_served: Served, drive: TestPrefix, tmp_path: Path) -> Path:
    """A copy of the key's CD-ROM (hard links) without one file, as drive F:."""
    cd = tmp_path / "cd"
    shutil.copytree(windows_served.cd, cd, copy_function=os.link)
    (cd / QUARANTINED).unlink()
    drive.map_drive("f", cd)
    return cd


def test_e4_quarantined_and_blocked_files_are_named_by_the_diagnostics(
    drive, key, quarantined, tmp_path
):
    """Seed row E4 under Wine: one of the key's files quarantined (gone) and another held
    open without sharing by a Windows program (what an on-access scanner does):
    e-secure.exe --doctor names both against the signed manifest, says this is what an
    antivirus leaves (ES102) with the guide's action, and changes nothing on the key."""
    hold = tmp_path / "hold_file.exe"
    made = subprocess.run(
        ["x86_64-w64-mingw32-gcc", "-municode", "-O2", "-o", str(hold), str(HOLD_SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    release = tmp_path / "release"
    target = "F:\\" + BLOCKED.replace("/", "\\")
    holder = drive.start(windows_path(hold), target, windows_path(release))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        before = tree_digest(quarantined)
        proc = drive.run("F:\\e-secure.exe", "--doctor", env=_env(key), encoding=ANSI)
    finally:
        release.touch()
        holder.communicate(timeout=60)  # and its pipe closed
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    row = next(line for line in output.splitlines() if "self-check:" in line)
    assert "2 file(s) missing or blocked, every other file as signed" in row, row
    assert "what an antivirus quarantine leaves" in row
    assert f"{QUARANTINED}: listed in the manifest but missing" in row
    assert f"{BLOCKED}: cannot be opened (Permission denied)" in row  # sharing violation
    assert E4_ACTION in output and "[ES102]" in output, output
    assert tree_digest(quarantined) == before


def test_e4_at_start_names_the_quarantined_file(drive, key, quarantined):
    """A start of the key missing a file: the flow's first check stops with ES102 (E4) and
    the guide's cause and action, before anything is written to the key's profile."""
    del quarantined
    profile = tree_digest(key.data / "profile")
    code, output = _start(drive, key, exe="F:\\e-secure.exe")
    assert code == 1, output
    assert "error ES102" in output, output
    assert f"{QUARANTINED}: listed in the manifest but missing" in output
    assert "L'antivirus de cet ordinateur bloque ou met en quarantaine" in output
    assert E4_ACTION in output
    assert tree_digest(key.data / "profile") == profile
