"""The single-instance lock (E6): two real processes, a crash, a reused pid, no OS locks."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from esecure.launcher.host import UnsupportedHost
from esecure.launcher.host.linux import HOST, LinuxHost
from esecure.launcher.instance import (
    LOCK_NAME,
    Acquired,
    Held,
    LockRecord,
    SessionLock,
    decode_record,
    encode_record,
    verdict,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux host")

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from esecure.launcher.host.linux import HOST
    from esecure.launcher.instance import SessionLock

    lock = SessionLock(Path(sys.argv[1]), HOST, name=sys.argv[2])
    got = lock.acquire("2026-12-02T10:00:00", lambda request: b"running:" + request)
    print(type(got).__name__, flush=True)
    sys.stdin.read()  # hold the key until the test closes our stdin
    lock.release()
    """
)


@pytest.fixture
def runtime(tmp_path, monkeypatch):
    """A private runtime directory for the session's socket."""
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    return directory


def _ok(_request):
    return b"ok"


def _never(_request):
    raise AssertionError("a second start must not answer anything")


@contextlib.contextmanager
def _holder(data, name="holder"):
    """A real second process that takes the lock and answers signals."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout.readline().strip() == "Acquired"
            yield proc
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)


def test_record_round_trip_and_damage():
    """The record survives encoding; a torn or foreign file is no record."""
    record = LockRecord(12, "boot:34", "/run/x.sock", "2026-12-02T10:00:00")
    assert decode_record(encode_record(record)) == record
    assert decode_record(encode_record(record)[:20]) is None
    assert decode_record(b"") is None
    assert decode_record(b'{"pid": -1, "identity": "", "address": "", "started": ""}') is None


@pytest.mark.parametrize(
    ("now", "expected"),
    [("boot:34", "held"), (None, "stale: gone"), ("boot:99", "stale: reused")],
)
def test_verdict(now, expected):
    """A live pid with the same identity holds; a gone pid or a reused one is stale."""
    record = LockRecord(12, "boot:34", "", "")
    assert verdict(record, now) == expected
    assert verdict(None, now) == "free"


def test_a_second_process_is_told_and_the_first_is_signalled(tmp_path, runtime):
    """While a real process holds the key, a second start gets Held, with the holder's
    record, and the holder's answer to the signal; it takes nothing."""
    with _holder(tmp_path) as proc:
        second = SessionLock(tmp_path, HOST, name="second")
        got = second.acquire("later", _never)
    assert isinstance(got, Held)
    assert got.record is not None and got.record.pid == proc.pid
    assert got.answer == b"running:raise"
    assert not second.held
    assert not (runtime / "e-secure" / "second.sock").exists()


def test_a_lock_left_by_a_crash_is_taken_over(tmp_path, runtime):
    """The holder killed (-9: no clean-up, its record stays): the next start takes the lock
    and says the old process is gone."""
    with _holder(tmp_path) as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert decode_record((tmp_path / LOCK_NAME).read_bytes()).pid == proc.pid
    lock = SessionLock(tmp_path, HOST)
    got = lock.acquire("now", _ok)
    try:
        assert got == Acquired(enforced=True, took_over=f"process {proc.pid} is gone")
        record = decode_record((tmp_path / LOCK_NAME).read_bytes())
        assert record.pid == os.getpid()
        assert HOST.send(record.address, b"raise", 3.0) == b"ok"
    finally:
        lock.release()
    assert (tmp_path / LOCK_NAME).read_bytes() == b""  # released: no holder recorded


def test_a_reused_pid_is_not_taken_for_the_holder(tmp_path, runtime):
    """A record naming a live process that started after the record was written (the pid
    reused by another program) is stale: taken over."""
    with subprocess.Popen(["sleep", "60"]) as other:
        try:
            stale = LockRecord(other.pid, "old-boot:1", "/nowhere.sock", "yesterday")
            (tmp_path / LOCK_NAME).write_bytes(encode_record(stale))
            lock = SessionLock(tmp_path, HOST)
            got = lock.acquire("now", _ok)
            lock.release()
        finally:
            other.kill()
    assert got == Acquired(enforced=True, took_over=f"process {other.pid} is now another program")


class NoLocks(LinuxHost):
    """A file system without OS locks (flock refused)."""

    def lock(self, fd):
        raise OSError(37, f"No locks available on descriptor {fd}")


def test_without_os_locks_a_live_holder_is_respected(tmp_path, runtime):
    """Without OS locks, a record whose pid is alive with the same identity holds."""
    with subprocess.Popen(["sleep", "60"]) as other:
        try:
            live = LockRecord(other.pid, HOST.process_identity(other.pid), "", "t")
            (tmp_path / LOCK_NAME).write_bytes(encode_record(live))
            got = SessionLock(tmp_path, NoLocks()).acquire("now", _ok)
        finally:
            other.kill()
    assert got == Held(live, None)


def test_without_os_locks_a_gone_holder_is_taken_over(tmp_path, runtime):
    """Without OS locks, a record whose pid is gone is stale."""
    with subprocess.Popen(["true"]) as gone:
        gone.wait()
    (tmp_path / LOCK_NAME).write_bytes(encode_record(LockRecord(gone.pid, "x", "", "t")))
    lock = SessionLock(tmp_path, NoLocks())
    got = lock.acquire("now", _ok)
    lock.release()
    assert got == Acquired(enforced=True, took_over=f"process {gone.pid} is gone")


def test_an_unsupported_host_runs_without_the_lock_and_says_so(tmp_path, caplog):
    """Windows and macOS have no tested lock yet: the flow goes on, not enforced, logged."""
    host = UnsupportedHost("windows", "Windows", "LockFileEx")
    got = SessionLock(tmp_path, host).acquire("now", _ok)
    assert got == Acquired(enforced=False)
    assert "not supported yet on Windows" in caplog.text


def test_runtime_dir_refuses_a_directory_others_can_write(tmp_path, monkeypatch):
    """The runtime directory (where the socket lives) must be this user's alone."""
    base = tmp_path / "shared"
    (base / "e-secure").mkdir(parents=True)
    (base / "e-secure").chmod(0o777)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    with pytest.raises(PermissionError, match="not a private directory"):
        HOST.runtime_dir()
