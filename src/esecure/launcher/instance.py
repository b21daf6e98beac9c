"""One session per key (seed row E6): the single-instance lock and the second-start signal.

The lock is the file ``session.lock`` in the data area (else in the host's runtime
directory), locked by the OS for as long as the session's process lives (flock on Linux:
a crash, a kill or a yanked key release it; a reused pid cannot hold it). The file also
records who holds it — pid, the process's identity (boot id and start time), the address
where the session answers, when it started — so that a second start can signal it and
say who holds the key, and so that a file system without OS locks can still tell a live
holder from a stale record (:func:`verdict`, pure).

A second start sends ``raise`` to the recorded address: the running session brings its
Firefox forward (or says it is still starting) and answers; the second start says so and
exits 0. It never starts a second Firefox on the same profile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from esecure.errors import StorageError
from esecure.launcher.host import Host, HostNotSupportedError, Listener

__all__ = [
    "LOCK_NAME",
    "Acquired",
    "Held",
    "LockRecord",
    "SessionLock",
    "Verdict",
    "decode_record",
    "encode_record",
    "verdict",
]

log = logging.getLogger(__name__)

LOCK_NAME = "session.lock"
RAISE = b"raise"
SIGNAL_TIMEOUT = 3.0  # seconds a second start waits for the running session's answer
_MAX_RECORD = 4096
_RECORD_TRIES = 10
_RECORD_WAIT = 0.1  # seconds between reads of a record not yet written

Verdict = Literal["free", "held", "stale: gone", "stale: reused"]


@dataclass(frozen=True)
class LockRecord:
    """Who holds the key: written by the session into the lock file."""

    pid: int
    identity: str  # boot id + start time of that pid when it took the lock
    address: str  # where it answers second starts ("" when it cannot)
    started: str  # ISO time, for the user and the report


def encode_record(record: LockRecord) -> bytes:
    """The lock file's bytes (JSON)."""
    doc = {
        "format": 1,
        "pid": record.pid,
        "identity": record.identity,
        "address": record.address,
        "started": record.started,
    }
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


def decode_record(data: bytes) -> LockRecord | None:
    """The record in a lock file, or None (empty, torn by a crash, not ours)."""
    try:
        doc = json.loads(data[:_MAX_RECORD])
        record = LockRecord(
            int(doc["pid"]), str(doc["identity"]), str(doc["address"]), str(doc["started"])
        )
    except (ValueError, KeyError, TypeError):
        return None
    return record if record.pid > 0 else None


def verdict(record: LockRecord | None, now: str | None) -> Verdict:
    """Whether ``record`` names a live holder, from the identity ``now`` of its pid (None:
    no such process) — for file systems without OS locks, and to say why a lock whose OS
    lock was free was stale (pure)."""
    if record is None:
        return "free"
    if now is None:
        return "stale: gone"
    if now != record.identity:
        return "stale: reused"
    return "held"


@dataclass(frozen=True)
class Acquired:
    """This process is the key's session. ``enforced`` False: the OS offers no tested
    lock; ``took_over``: why the previous record was stale ("" when there was none)."""

    enforced: bool
    took_over: str = ""


@dataclass(frozen=True)
class Held:
    """Another live session holds the key; ``answer`` is what it said to our signal
    (None: it did not answer)."""

    record: LockRecord | None
    answer: bytes | None


class SessionLock:
    """The lock file of one data area (or runtime directory), for this process."""

    def __init__(self, directory: Path, host: Host, *, name: str = "session") -> None:
        self.path = directory / LOCK_NAME
        self._host = host
        self._name = name
        self._fd: int | None = None
        self._listener: Listener | None = None

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as exc:
            raise StorageError(
                f"cannot open the session lock {self.path}: {exc.strerror or exc}", code="ES106"
            ) from None

    def _read(self, fd: int) -> LockRecord | None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            return decode_record(os.read(fd, _MAX_RECORD))
        except OSError:
            return None

    def _write(self, fd: int, record: LockRecord) -> None:
        """Write the record in place (the OS lock is on this very file: never renamed)."""
        data = encode_record(record)
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, data)
            os.fsync(fd)
        except OSError as exc:
            raise StorageError(
                f"cannot write the session lock {self.path}: {exc.strerror or exc}", code="ES106"
            ) from None

    def _identity(self, pid: int) -> str | None:
        try:
            return self._host.process_identity(pid)
        except HostNotSupportedError:
            return None

    def _holder(self, fd: int, first: LockRecord | None) -> LockRecord | None:
        """The holder's record; a holder that took the lock an instant ago may not have
        written it yet: read again a few times (bounded)."""
        record = first
        for _ in range(_RECORD_TRIES):
            if record is not None:
                return record
            time.sleep(_RECORD_WAIT)
            record = self._read(fd)
        return record

    def _taken(self, fd: int, previous: LockRecord | None) -> bool | None:
        """Whether this process now holds the lock; None when the OS has no tested lock."""
        try:
            return self._host.lock(fd)
        except HostNotSupportedError as exc:
            log.warning("the single-instance lock is not enforced: %s", exc)
            return None
        except OSError as exc:  # a file system without locks: decide from the record
            log.warning("no OS lock on %s (%s): deciding from its record", self.path, exc)
            live = previous is not None and previous.pid != os.getpid()
            identity = self._identity(previous.pid) if previous is not None and live else None
            return verdict(previous, identity) != "held"

    def acquire(self, started: str, answer: Callable[[bytes], bytes]) -> Acquired | Held:
        """Become the key's session, answering second starts with ``answer(request)``
        from then on; or signal the session that holds the key and return its answer."""
        fd = self._open()
        previous = self._read(fd)
        taken = self._taken(fd, previous)
        if taken is None:
            os.close(fd)
            return Acquired(enforced=False)
        if not taken:
            holder = self._holder(fd, previous)
            os.close(fd)
            address = holder.address if holder is not None else ""
            reply = self._host.send(address, RAISE, SIGNAL_TIMEOUT) if address else None
            return Held(holder, reply)
        self._fd = fd
        try:
            self._listener = self._host.listen(self._name, answer)
        except (HostNotSupportedError, OSError) as exc:
            log.warning("second starts cannot signal this session: %s", exc)
        pid = os.getpid()
        identity = self._identity(pid) or ""
        address = self._listener.address if self._listener is not None else ""
        self._write(fd, LockRecord(pid, identity, address, started))
        return Acquired(enforced=True, took_over=self._why_stale(previous, pid))

    def _why_stale(self, previous: LockRecord | None, pid: int) -> str:
        """Why the record found under a free OS lock was stale ("" when there was none)."""
        if previous is None:
            return ""
        if previous.pid == pid:
            return f"the lock of process {pid} before it restarted"
        found = verdict(previous, self._identity(previous.pid))
        if found == "stale: reused":
            return f"process {previous.pid} is now another program"
        if found == "stale: gone":
            return f"process {previous.pid} is gone"
        return f"process {previous.pid} no longer held it"

    def release(self) -> None:
        """Stop answering second starts and give the key up (the record emptied first)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock."""
        return self._fd is not None
