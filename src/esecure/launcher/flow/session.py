"""The running session: the key's Firefox, and what the tray can do with it.

:class:`Session` implements :class:`~esecure.launcher.flow.presenter.TrayActions` for the
tray (and the terminal). It starts Firefox again when "open the site" finds it closed,
closes it gracefully then forcibly when the key is removed, and runs the end hooks the
tray adds (wipe the session's traces, eject: the tray room's).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from esecure.launcher.host.windowing import Ender

__all__ = ["CLOSE_TIMEOUT", "Session"]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 10.0
"""Seconds Firefox gets to close by itself (it saves its session) before it is killed."""

Starter = Callable[[], "subprocess.Popen[bytes]"]


class Session:
    """The key's session after the site opened."""

    def __init__(
        self,
        start: Starter,
        firefox: subprocess.Popen[bytes],
        *,
        diagnostics: Callable[[], None] | None = None,
        close_timeout: float = CLOSE_TIMEOUT,
        profile: Path | None = None,
        data_dir: Path | None = None,
        raise_window: Callable[[int], bool] | None = None,
        ender: Ender | None = None,
    ) -> None:
        self.profile = profile
        """The live Firefox profile (what the tray's wipe cleans)."""
        self.data_dir = data_dir
        """The key's data area (what the tray's eject names the volume by)."""
        self._start = start
        self._firefox = firefox
        self._diagnostics = diagnostics
        self._close_timeout = close_timeout
        self._raise_window = raise_window
        self._ender = ender
        self._ended = threading.Event()
        self._lock = threading.Lock()
        self.end_hooks: list[Callable[[], None]] = []
        """Run in order by :meth:`remove_key` after Firefox is closed (each one's error is
        logged, the next still runs): the tray adds its wipe and eject here."""

    @property
    def firefox(self) -> subprocess.Popen[bytes]:
        """The key's Firefox process (the last one started)."""
        return self._firefox

    def firefox_running(self) -> bool:
        """Whether the key's Firefox is still running."""
        return self._firefox.poll() is None

    def open_site(self) -> None:
        """Start Firefox on the site again when it was closed; when it runs, bring its
        window to the front (the host's window raiser, when there is one)."""
        with self._lock:
            if self._ended.is_set():
                return
            if self.firefox_running():
                raised = self._raise_window is not None and self._raise_window(self._firefox.pid)
                log.info(
                    "open the site: Firefox (pid %s) is already running; brought forward: %s",
                    self._firefox.pid,
                    raised,
                )
                return
            self._firefox = self._start()
            log.info("open the site: Firefox started again (pid %s)", self._firefox.pid)

    def diagnostics(self) -> None:
        """Run the diagnostics hook, when one is installed."""
        if self._diagnostics is None:
            log.info("diagnostics are not part of this version")
            return
        self._diagnostics()

    def close_firefox(self) -> int | None:
        """Ask Firefox to close, then kill it after the bound; its exit status. Asking is
        SIGTERM to the process started, or the host's :class:`Ender` (Windows: WM_CLOSE
        to the windows of its process tree; killing ends the whole tree)."""
        firefox = self._firefox
        if firefox.poll() is None:
            asked = True
            if self._ender is None:
                firefox.terminate()
            else:
                asked = self._ender.ask(firefox.pid)
            try:
                firefox.wait(timeout=self._close_timeout if asked else 0)  # none asked: kill
            except subprocess.TimeoutExpired:
                if asked:
                    log.warning("Firefox did not close within %s s: killed", self._close_timeout)
                else:
                    log.warning("Firefox had no window to close: killed")
                if self._ender is None:
                    firefox.kill()
                else:
                    self._ender.kill(firefox.pid)
                firefox.wait(timeout=self._close_timeout)
        return firefox.returncode

    def remove_key(self) -> None:
        """Close Firefox, run the end hooks, end the session (:meth:`wait` returns)."""
        with self._lock:
            if self._ended.is_set():
                return
            self.close_firefox()
            for hook in self.end_hooks:
                try:
                    hook()
                except Exception:  # one failed hook must not keep the key from ending
                    log.exception("end of session: %s failed", getattr(hook, "__name__", hook))
            self._ended.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session ended (or ``timeout`` seconds); whether it has."""
        return self._ended.wait(timeout)

    @property
    def ended(self) -> bool:
        """Whether the session has ended."""
        return self._ended.is_set()
