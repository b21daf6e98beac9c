"""Windows: a process's identity from OpenProcess + GetProcessTimes, LockFileEx locks, a
named pipe per session (the standard library's ``multiprocessing.connection``), and
per-user directories under %LOCALAPPDATA%.

Proven under Wine by the real ``e-secure.exe`` (tests/windows/test_wine_session.py): the
first start takes the lock and answers on its pipe, a second start while it runs is
answered, a start after it ended takes the lock again. What Wine cannot show (another
user's session on a terminal server, a lock on a FAT key through the real fastfat
driver) is in docs/architecture.md's list to verify on Windows before a release.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "HOST",
    "LOCK_OFFSET",
    "PipeListener",
    "WindowsHost",
    "local_app_data",
    "pipe_name",
    "pipe_pid",
]

log = logging.getLogger(__name__)

_MAX_REQUEST = 256  # bytes of one request or answer
_CLIENT_TIMEOUT = 2.0  # seconds a connected client gets to send its request
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_STILL_ACTIVE = 259
_ERROR_INVALID_PARAMETER = 87  # OpenProcess: no process has this pid
_ERROR_LOCK_VIOLATION = 33
_ERROR_IO_PENDING = 997
_LOCKFILE_FAIL_IMMEDIATELY = 0x1
_LOCKFILE_EXCLUSIVE_LOCK = 0x2
_FILE_ATTRIBUTE_REPARSE_POINT = 0x400

LOCK_OFFSET = 0x8000_0000
"""Where the one locked byte lies: Windows locks are mandatory, so a lock over the record at
the start of the file would stop a second start from reading who holds the key. 2 GiB is
far past any record and below FAT32's 4 GiB file limit; a lock past the end of the file is
allowed."""

_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def pipe_name(name: str, pid: int, token: str) -> str:
    r"""``\\.\pipe\e-secure-<name>-<pid>-<token>`` (pure): unique per session, so that a
    stale record never names a live pipe of another process; the characters a pipe name
    may not hold are replaced."""
    return rf"\\.\pipe\e-secure-{_NAME_CHARS.sub('_', name)[:64]}-{pid}-{token}"


def pipe_pid(address: str) -> int | None:
    """The pid in a :func:`pipe_name` (pure); None when ``address`` is not one."""
    parts = address.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def local_app_data(environ: Mapping[str, str], home: Path) -> Path:
    """%LOCALAPPDATA% (per user, on this computer's disk), else ``~/AppData/Local`` (pure)."""
    value = environ.get("LOCALAPPDATA")
    return Path(value) if value else home / "AppData" / "Local"


def _own_directory(path: Path) -> Path:
    """``path`` made if missing, refused when it is a link or junction (a reparse point
    planted where our directory should be). %LOCALAPPDATA% is readable by its user alone;
    the directories made below it inherit that."""
    path.mkdir(parents=True, exist_ok=True)
    info = path.lstat()
    attributes = getattr(info, "st_file_attributes", 0)
    if path.is_symlink() or attributes & _FILE_ATTRIBUTE_REPARSE_POINT or not path.is_dir():
        raise PermissionError(f"{path} is a link or junction, not a directory of this user")
    return path


def _kernel32() -> Any:  # noqa: ANN401 - ctypes' WinDLL
    import ctypes  # noqa: PLC0415
    from ctypes import wintypes  # noqa: PLC0415

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    k32.OpenProcess.restype = wintypes.HANDLE
    k32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    k32.GetProcessTimes.argtypes = [wintypes.HANDLE, *[ctypes.POINTER(wintypes.FILETIME)] * 4]
    k32.GetExitCodeProcess.argtypes = [wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD)]
    k32.CloseHandle.argtypes = [wintypes.HANDLE]
    return k32


class _Overlapped:
    """ctypes' OVERLAPPED (made on first use: the module imports everywhere)."""

    cls: Any = None

    @classmethod
    def make(cls, offset: int) -> Any:  # noqa: ANN401 - a ctypes structure
        import ctypes  # noqa: PLC0415
        from ctypes import wintypes  # noqa: PLC0415

        if cls.cls is None:

            class OVERLAPPED(ctypes.Structure):
                _fields_ = (
                    ("Internal", ctypes.c_void_p),
                    ("InternalHigh", ctypes.c_void_p),
                    ("Offset", wintypes.DWORD),
                    ("OffsetHigh", wintypes.DWORD),
                    ("hEvent", wintypes.HANDLE),
                )

            cls.cls = OVERLAPPED
        return cls.cls(None, None, offset & 0xFFFF_FFFF, offset >> 32, None)


class PipeListener:
    """A named pipe answering one short request per connection, from a daemon thread."""

    def __init__(self, address: str, answer: Callable[[bytes], bytes]) -> None:
        from multiprocessing.connection import Listener  # noqa: PLC0415

        self.address = address
        self._answer = answer
        # The first instance is made with FILE_FLAG_FIRST_PIPE_INSTANCE: a name another
        # process already serves is refused (OSError), never shared.
        self._listener = Listener(address, family="AF_PIPE")
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="e-secure-signal", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except OSError:
                return
            with conn:
                if self._closed.is_set():
                    return
                try:
                    if conn.poll(_CLIENT_TIMEOUT):
                        request = conn.recv_bytes(_MAX_REQUEST)
                        conn.send_bytes(self._answer(request)[:_MAX_REQUEST])
                except (OSError, EOFError) as exc:
                    log.info("second-start signal: %s", exc)

    def close(self) -> None:
        """Stop answering: wake the pending accept with a connection of our own, then
        close the pipe."""
        if self._closed.is_set():
            return
        self._closed.set()
        from multiprocessing.connection import Client  # noqa: PLC0415

        with contextlib.suppress(OSError, EOFError), Client(self.address, family="AF_PIPE"):
            pass
        self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            self._listener.close()


class WindowsHost:
    """:class:`esecure.launcher.host.Host` on Windows."""

    name = "windows"

    def process_identity(self, pid: int) -> str | None:
        """``<creation time>`` of ``pid`` (100 ns units since 1601: another process given
        the same pid later starts later), None when no live process has it."""
        import ctypes  # noqa: PLC0415
        from ctypes import wintypes  # noqa: PLC0415

        k32 = _kernel32()
        handle = k32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, 0, pid)
        if not handle:
            error = ctypes.get_last_error()  # type: ignore[attr-defined,unused-ignore]
            # another user's process cannot be opened: alive, but not ours to identify
            return None if error == _ERROR_INVALID_PARAMETER else f"inaccessible:{error}"
        try:
            code = wintypes.DWORD(0)
            if k32.GetExitCodeProcess(handle, ctypes.byref(code)) and code.value != _STILL_ACTIVE:
                return None  # ended; a handle somewhere keeps its record
            times = [wintypes.FILETIME() for _ in range(4)]
            if not k32.GetProcessTimes(handle, *(ctypes.byref(t) for t in times)):
                return None
            created = times[0]
            return str((created.dwHighDateTime << 32) | created.dwLowDateTime)
        finally:
            k32.CloseHandle(handle)

    def lock(self, fd: int) -> bool:
        """LockFileEx on one byte at :data:`LOCK_OFFSET`, exclusive, without waiting: held
        by the open handle, so released when the process ends however it ends."""
        import ctypes  # noqa: PLC0415
        import msvcrt  # noqa: PLC0415
        from ctypes import wintypes  # noqa: PLC0415

        k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        k32.LockFileEx.argtypes = [
            wintypes.HANDLE, wintypes.DWORD, wintypes.DWORD, wintypes.DWORD, wintypes.DWORD,
            ctypes.c_void_p,
        ]  # fmt: skip
        overlapped = _Overlapped.make(LOCK_OFFSET)
        handle = msvcrt.get_osfhandle(fd)  # type: ignore[attr-defined,unused-ignore]
        flags = _LOCKFILE_EXCLUSIVE_LOCK | _LOCKFILE_FAIL_IMMEDIATELY
        if k32.LockFileEx(handle, flags, 0, 1, 0, ctypes.byref(overlapped)):
            return True
        error = ctypes.get_last_error()  # type: ignore[attr-defined,unused-ignore]
        if error in (_ERROR_LOCK_VIOLATION, _ERROR_IO_PENDING):
            return False
        raise ctypes.WinError(error)  # type: ignore[attr-defined,unused-ignore]

    def _base(self) -> Path:
        return local_app_data(os.environ, Path.home()) / "e-secure"

    def runtime_dir(self) -> Path:
        """``%LOCALAPPDATA%\\e-secure\\run`` (this user's; not a link or junction)."""
        return _own_directory(self._base() / "run")

    def cache_dir(self) -> Path:
        """``%LOCALAPPDATA%\\e-secure\\cache`` (this user's; not a link or junction)."""
        return _own_directory(self._base() / "cache")

    def listen(self, name: str, answer: Callable[[bytes], bytes]) -> PipeListener:
        """A named pipe of this session (see :func:`pipe_name`)."""
        return PipeListener(pipe_name(name, os.getpid(), secrets.token_hex(8)), answer)

    def send(self, address: str, request: bytes, timeout: float) -> bytes | None:
        """Connect to the pipe, send, read the answer; None when nobody answers."""
        if not address.startswith("\\\\.\\pipe\\"):
            return None
        from multiprocessing.connection import Client  # noqa: PLC0415

        holder = pipe_pid(address)
        if holder is not None:  # its answer brings Firefox forward: let it take the front
            from esecure.launcher.host.winwindows import allow_foreground  # noqa: PLC0415

            allow_foreground(holder)
        try:
            with Client(address, family="AF_PIPE") as conn:
                conn.send_bytes(request[:_MAX_REQUEST])
                if not conn.poll(timeout):
                    return None
                return conn.recv_bytes(_MAX_REQUEST) or None
        except (OSError, EOFError, ValueError):  # ValueError: no named pipes on this OS
            return None


HOST = WindowsHost()
