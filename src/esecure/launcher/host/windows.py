"""Windows: not supported yet (no Windows machine tests it here). Every feature raises
:class:`~esecure.launcher.host.HostNotSupportedError` naming itself rather than pretend;
the flow then runs without the single-instance lock and its log says so."""

from __future__ import annotations

from esecure.launcher.host import UnsupportedHost

__all__ = ["HOST"]

HOST = UnsupportedHost(
    "windows",
    "Windows",
    "OpenProcess + GetProcessTimes for a process's identity, LockFileEx for the lock, and "
    "a named pipe per session for the second-start signal",
)
