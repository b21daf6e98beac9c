"""Bringing the key's running Firefox to the front ("open the site" from the tray, and a
second start of the launcher: the guide's faster reconnection).

Linux (X11, and XWayland where Firefox runs on it): ``xdotool`` finds the visible windows
of Firefox's process by its pid, maps, raises and focuses them, then asks the window
manager to activate the first (refused without a window manager supporting
``_NET_ACTIVE_WINDOW``: raising and focusing still work). Without ``xdotool`` or a
display nothing is raised and the caller says so in its log. Windows: the windows of
Firefox's process tree through user32 (:mod:`.winwindows`). macOS: not implemented yet,
never pretended: False.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Ender", "WindowRaiser", "ender_for", "raise_window", "raiser_for"]

log = logging.getLogger(__name__)

TIMEOUT = 5.0
"""Seconds each xdotool call may take."""

WindowRaiser = Callable[[int], bool]
Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def raise_window(
    pid: int,
    *,
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    run: Runner = _run,
) -> bool:
    """Raise and focus the visible windows of process ``pid`` (X11 through xdotool); True
    when at least one window was focused."""
    env = os.environ if environ is None else environ
    if not env.get("DISPLAY"):
        log.info("raise Firefox: no X display (DISPLAY unset)")
        return False
    xdotool = which("xdotool")
    if xdotool is None:
        log.info("raise Firefox: xdotool is not installed")
        return False
    try:
        found = run([xdotool, "search", "--pid", str(pid), "--onlyvisible"])
        windows = [w for w in found.stdout.split() if w.isdigit()]
        focused = False
        for window in windows:
            run([xdotool, "windowmap", window])
            run([xdotool, "windowraise", window])
            focused = run([xdotool, "windowfocus", window]).returncode == 0 or focused
        if windows:
            run([xdotool, "windowactivate", windows[0]])  # needs a window manager: optional
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("raise Firefox: xdotool failed (%s)", exc)
        return False
    log.info("raise Firefox: %d window(s) of pid %d, focused: %s", len(windows), pid, focused)
    return focused


def _not_yet(pid: int) -> bool:
    log.info("raise Firefox (pid %d): not implemented on this system yet", pid)
    return False


def raiser_for(platform: str) -> WindowRaiser:
    """The window raiser of ``platform`` ("linux", "windows", "macos")."""
    if platform == "windows":
        from esecure.launcher.host.winwindows import raise_windows  # noqa: PLC0415

        return raise_windows
    return raise_window if platform == "linux" else _not_yet


@dataclass(frozen=True)
class Ender:
    """How a host ends the Firefox the launcher started, when it does not end it by
    signalling that process (Windows: the process started is Firefox's launcher process;
    the browser under it owns the windows)."""

    ask: Callable[[int], bool]
    """Ask Firefox under this pid to close as its user would; False when nothing could be
    asked (then it is killed at once)."""
    kill: Callable[[int], object]
    """End Firefox under this pid and every process it started."""


def ender_for(platform: str) -> Ender | None:
    """The :class:`Ender` of ``platform``; None where signalling the process started does
    it (Linux and macOS: SIGTERM, which Firefox answers by closing)."""
    if platform != "windows":
        return None
    from esecure.launcher.host.winwindows import ask_to_close, kill_tree  # noqa: PLC0415

    return Ender(ask_to_close, kill_tree)
