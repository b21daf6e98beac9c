"""Windows: the key's Firefox as a tree of processes, its windows brought to the front, and
closed gracefully when the key is removed.

On Windows the process the launcher starts is Firefox's *launcher process*: it starts the
browser process (which owns the windows and starts the content processes) and, with
``-wait-for-browser``, waits for it. So everything here works on the tree of processes
under the pid the launcher started (a Toolhelp snapshot; a child counts only when it
started after its parent, so a reused parent pid adopts nobody):

* :func:`raise_windows`: the first visible top-level window of the tree restored if
  minimised and made the foreground window (a second start first lets the running
  session take the foreground: :func:`allow_foreground`);
* :func:`ask_to_close`: ``WM_CLOSE`` posted to every visible top-level window of the tree,
  as clicking each window's close button does: Firefox closes, and its shutdown runs
  (SanitizeOnShutdown wipes the session's traces);
* :func:`kill_tree`: every process of the tree terminated, children first, when Firefox
  did not close in time (``TerminateProcess`` on the launcher process alone would leave the
  browser running on the key).

Proven under Wine on Xvfb (tests/windows/test_wine_windows.py) with the stand-in Firefox,
which imitates the launcher process and a browser process owning a window.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "allow_foreground",
    "ask_to_close",
    "descendants",
    "kill_tree",
    "process_tree",
    "raise_windows",
]

log = logging.getLogger(__name__)

_TH32CS_SNAPPROCESS = 0x2
_PROCESS_TERMINATE = 0x1
_PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
_GW_OWNER = 4
_SW_RESTORE = 9
_WM_CLOSE = 0x0010
_INVALID_HANDLE = ctypes.c_void_p(-1).value


def descendants(
    root: int, parents: dict[int, int], started: Callable[[int], int | None]
) -> list[int]:
    """``root`` and every process under it, parents before children (pure): ``parents``
    maps a pid to its parent's; ``started(pid)`` is its creation time (None: unknown or
    gone). A child older than its parent is not its child: the parent's pid was reused."""
    tree = [root]
    seen = {root}
    for parent in tree:  # grows while walked: breadth first, bounded by the snapshot
        born = started(parent)
        for pid, of in sorted(parents.items()):
            if of != parent or pid in seen:
                continue
            child = started(pid)
            if born is not None and child is not None and child < born:
                continue
            seen.add(pid)
            tree.append(pid)
    return tree


def _api() -> tuple[Any, Any]:  # (kernel32, user32) with the prototypes used here
    from ctypes import wintypes  # noqa: PLC0415

    if not hasattr(ctypes, "WinDLL"):
        raise OSError("the Windows API is only there on Windows")
    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    u32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    k32.CreateToolhelp32Snapshot.restype = wintypes.HANDLE
    k32.CreateToolhelp32Snapshot.argtypes = [wintypes.DWORD, wintypes.DWORD]
    k32.OpenProcess.restype = wintypes.HANDLE
    k32.OpenProcess.argtypes = [wintypes.DWORD, wintypes.BOOL, wintypes.DWORD]
    k32.CloseHandle.argtypes = [wintypes.HANDLE]
    k32.TerminateProcess.argtypes = [wintypes.HANDLE, wintypes.UINT]
    k32.GetProcessTimes.argtypes = [wintypes.HANDLE, *[ctypes.POINTER(wintypes.FILETIME)] * 4]
    u32.GetWindowThreadProcessId.restype = wintypes.DWORD
    u32.GetWindowThreadProcessId.argtypes = [wintypes.HWND, ctypes.POINTER(wintypes.DWORD)]
    u32.IsWindowVisible.argtypes = [wintypes.HWND]
    u32.GetWindow.restype = wintypes.HWND
    u32.GetWindow.argtypes = [wintypes.HWND, wintypes.UINT]
    u32.IsIconic.argtypes = [wintypes.HWND]
    u32.ShowWindow.argtypes = [wintypes.HWND, ctypes.c_int]
    u32.SetForegroundWindow.argtypes = [wintypes.HWND]
    u32.PostMessageW.argtypes = [wintypes.HWND, wintypes.UINT, wintypes.WPARAM, wintypes.LPARAM]
    u32.AllowSetForegroundWindow.argtypes = [wintypes.DWORD]
    return k32, u32


def _snapshot(k32: Any) -> dict[int, int]:  # noqa: ANN401 - ctypes' WinDLL
    """pid -> parent pid of every process (Toolhelp)."""
    from ctypes import wintypes  # noqa: PLC0415

    class PROCESSENTRY32W(ctypes.Structure):
        _fields_ = (
            ("dwSize", wintypes.DWORD),
            ("cntUsage", wintypes.DWORD),
            ("th32ProcessID", wintypes.DWORD),
            ("th32DefaultHeapID", ctypes.c_size_t),
            ("th32ModuleID", wintypes.DWORD),
            ("cntThreads", wintypes.DWORD),
            ("th32ParentProcessID", wintypes.DWORD),
            ("pcPriClassBase", ctypes.c_long),
            ("dwFlags", wintypes.DWORD),
            ("szExeFile", ctypes.c_wchar * 260),
        )

    snapshot = k32.CreateToolhelp32Snapshot(_TH32CS_SNAPPROCESS, 0)
    if snapshot in (None, _INVALID_HANDLE):
        raise ctypes.WinError(ctypes.get_last_error())  # type: ignore[attr-defined,unused-ignore]
    parents: dict[int, int] = {}
    try:
        entry = PROCESSENTRY32W()
        entry.dwSize = ctypes.sizeof(PROCESSENTRY32W)
        more = k32.Process32FirstW(snapshot, ctypes.byref(entry))
        while more:
            parents[entry.th32ProcessID] = entry.th32ParentProcessID
            more = k32.Process32NextW(snapshot, ctypes.byref(entry))
    finally:
        k32.CloseHandle(snapshot)
    return parents


def _started(k32: Any, pid: int) -> int | None:  # noqa: ANN401 - ctypes' WinDLL
    from ctypes import wintypes  # noqa: PLC0415

    handle = k32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, 0, pid)
    if not handle:
        return None
    try:
        times = [wintypes.FILETIME() for _ in range(4)]
        if not k32.GetProcessTimes(handle, *(ctypes.byref(t) for t in times)):
            return None
        return (times[0].dwHighDateTime << 32) | times[0].dwLowDateTime
    finally:
        k32.CloseHandle(handle)


def process_tree(pid: int) -> list[int]:
    """``pid`` and the processes it started, theirs too (parents first)."""
    k32, _u32 = _api()
    return descendants(pid, _snapshot(k32), lambda p: _started(k32, p))


def _top_windows(u32: Any, pids: Iterable[int]) -> list[int]:  # noqa: ANN401 - ctypes' WinDLL
    """The visible, unowned top-level windows of ``pids``, in z-order (topmost first)."""
    from ctypes import wintypes  # noqa: PLC0415

    wanted = set(pids)
    found: list[int] = []
    enum_proc = ctypes.WINFUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)  # type: ignore[attr-defined,unused-ignore]

    def visit(hwnd: int, _param: int) -> bool:
        owner = wintypes.DWORD(0)
        u32.GetWindowThreadProcessId(hwnd, ctypes.byref(owner))
        if (
            owner.value in wanted
            and u32.IsWindowVisible(hwnd)
            and not u32.GetWindow(hwnd, _GW_OWNER)
        ):
            found.append(hwnd)
        return True

    u32.EnumWindows(enum_proc(visit), 0)
    return found


def raise_windows(pid: int) -> bool:
    """Bring the first window of Firefox's tree under ``pid`` to the front; True when
    Windows made it the foreground window."""
    try:
        k32, u32 = _api()
        windows = _top_windows(u32, descendants(pid, _snapshot(k32), lambda p: _started(k32, p)))
        if not windows:
            log.info("raise Firefox: no visible window in the processes of pid %d", pid)
            return False
        if u32.IsIconic(windows[0]):
            u32.ShowWindow(windows[0], _SW_RESTORE)
        raised = bool(u32.SetForegroundWindow(windows[0]))
    except OSError as exc:
        log.info("raise Firefox: %s", exc)
        return False
    log.info("raise Firefox: %d window(s) of pid %d, foreground: %s", len(windows), pid, raised)
    return raised


def ask_to_close(pid: int) -> bool:
    """Post WM_CLOSE to every window of Firefox's tree under ``pid``; True when at least
    one window was asked (False: none to ask, e.g. still starting)."""
    try:
        k32, u32 = _api()
        windows = _top_windows(u32, descendants(pid, _snapshot(k32), lambda p: _started(k32, p)))
        asked = sum(1 for hwnd in windows if u32.PostMessageW(hwnd, _WM_CLOSE, 0, 0))
    except OSError as exc:
        log.info("close Firefox: %s", exc)
        return False
    log.info("close Firefox: WM_CLOSE to %d of %d window(s) of pid %d", asked, len(windows), pid)
    return asked > 0


def kill_tree(pid: int) -> int:
    """Terminate every process of Firefox's tree under ``pid``, children first; how many
    were terminated."""
    k32, _u32 = _api()
    tree = descendants(pid, _snapshot(k32), lambda p: _started(k32, p))
    killed = 0
    for member in reversed(tree):
        handle = k32.OpenProcess(_PROCESS_TERMINATE, 0, member)
        if not handle:
            continue
        try:
            killed += bool(k32.TerminateProcess(handle, 1))
        finally:
            k32.CloseHandle(handle)
    log.info("Firefox killed: %d of %d process(es) of pid %d", killed, len(tree), pid)
    return killed


def allow_foreground(pid: int) -> bool:
    """Let process ``pid`` (the running session) take the foreground: a second start,
    which the user just started and so may, hands that right on before signalling it."""
    try:
        _k32, u32 = _api()
        return bool(u32.AllowSetForegroundWindow(pid))
    except OSError:
        return False
