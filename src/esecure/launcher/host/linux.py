"""Linux: process identity from /proc, flock(2) locks, a Unix socket per session."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["HOST", "LinuxHost", "UnixListener", "boot_id", "parse_start_time"]

log = logging.getLogger(__name__)

_MAX_REQUEST = 256  # bytes of one request or answer
_CLIENT_TIMEOUT = 2.0  # seconds a connected client gets to send its request


def parse_start_time(stat_line: str) -> int | None:
    """Field 22 (starttime, clock ticks after boot) of a /proc/PID/stat line (pure); the
    command name (field 2) may hold spaces and parentheses, so fields are counted after
    its last ')'."""
    _, paren, rest = stat_line.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 20:
        return None
    try:
        return int(fields[19])  # fields[0] is field 3 (state)
    except ValueError:
        return None


def boot_id(path: Path = Path("/proc/sys/kernel/random/boot_id")) -> str:
    """This boot's id ("" when unreadable): a pid's start time means nothing across boots."""
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _private(path: Path) -> Path:
    """``path`` made if missing (0700), and refused unless it is a directory of this user
    that no one else may write (not a link planted by another user)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private directory of this user")
    return path


class UnixListener:
    """A Unix socket answering one short request per connection, from a daemon thread."""

    def __init__(self, path: Path, answer: Callable[[bytes], bytes]) -> None:
        self.address = str(path)
        self._path = path
        self._answer = answer
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a stale socket of a session that died
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._socket.bind(self.address)  # OSError when the path is too long (108 bytes)
            self._socket.listen(4)
        except OSError:
            self._socket.close()
            raise
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="e-secure-signal", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():  # ends when close() shuts the socket down
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(_CLIENT_TIMEOUT)
                try:
                    request = conn.recv(_MAX_REQUEST)
                    conn.sendall(self._answer(request)[:_MAX_REQUEST])
                except OSError as exc:
                    log.info("second-start signal: %s", exc)

    def close(self) -> None:
        """Stop answering and remove the socket file."""
        if self._closed.is_set():
            return
        self._closed.set()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._path.unlink()


class LinuxHost:
    """:class:`esecure.launcher.host.Host` on Linux."""

    name = "linux"

    def process_identity(self, pid: int) -> str | None:
        """``<boot id>:<start time>`` of ``pid``, None when it does not exist."""
        try:
            line = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        start = parse_start_time(line)
        return None if start is None else f"{boot_id()}:{start}"

    def lock(self, fd: int) -> bool:
        """flock(2), exclusive, non-blocking: held by the open file, so released when the
        process dies (crash, kill) and never confused by a pid reused later."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def runtime_dir(self) -> Path:
        """``$XDG_RUNTIME_DIR/e-secure``, else ``/tmp/e-secure-<uid>``: ours alone (0700, not
        a link, owned by us), or refused."""
        base = os.environ.get("XDG_RUNTIME_DIR")
        uid = os.getuid()
        path = Path(base) / "e-secure" if base else Path("/tmp") / f"e-secure-{uid}"  # noqa: S108
        return _private(path)

    def cache_dir(self) -> Path:
        """``$XDG_CACHE_HOME/e-secure``, else ``~/.cache/e-secure`` (ours alone)."""
        base = os.environ.get("XDG_CACHE_HOME")
        return _private((Path(base) if base else Path.home() / ".cache") / "e-secure")

    def listen(self, name: str, answer: Callable[[bytes], bytes]) -> UnixListener:
        """A Unix socket ``<runtime dir>/<name>.sock``."""
        return UnixListener(self.runtime_dir() / f"{name}.sock", answer)

    def send(self, address: str, request: bytes, timeout: float) -> bytes | None:
        """Connect, send, read the answer; None when nobody answers."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(timeout)
                conn.connect(address)
                conn.sendall(request[:_MAX_REQUEST])
                return conn.recv(_MAX_REQUEST) or None
        except OSError:
            return None


HOST = LinuxHost()
