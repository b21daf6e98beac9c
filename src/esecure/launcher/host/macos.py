"""macOS: not supported yet (no Mac tests it here). Every feature raises
:class:`~esecure.launcher.host.HostNotSupportedError` naming itself rather than pretend;
the flow then runs without the single-instance lock and its log says so."""

from __future__ import annotations

from esecure.launcher.host import UnsupportedHost

__all__ = ["HOST"]

HOST = UnsupportedHost(
    "macos",
    "macOS",
    "sysctl KERN_PROC for a process's start time; flock(2) and a Unix socket as on Linux, "
    "tested on a Mac",
)
