"""What the launcher needs from the operating system, behind one interface (:class:`Host`).

One module per OS: :mod:`.linux` (tested here), :mod:`.windows` (tested by the real
``e-secure.exe`` under Wine) and :mod:`.macos` (not supported yet: it raises
:class:`HostNotSupportedError` naming what is missing rather than pretend). Callers ask
:func:`host_for` for the platform they run on; tests pass their own.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import NoReturn, Protocol

__all__ = ["Host", "HostNotSupportedError", "Listener", "UnsupportedHost", "host_for"]


class HostNotSupportedError(Exception):
    """This operating system lacks a tested implementation of the feature named."""


class Listener(Protocol):
    """A local endpoint the running session answers second starts on."""

    address: str

    def close(self) -> None:
        """Stop answering and remove the endpoint."""


class Host(Protocol):
    """The host-specific parts of the launcher."""

    name: str

    def process_identity(self, pid: int) -> str | None:
        """What tells this process apart from a later one with the same pid (boot id and
        start time); None when no process has ``pid``."""

    def lock(self, fd: int) -> bool:
        """Take an exclusive lock on the open file ``fd`` without waiting: True when taken
        (released when the process ends, however it ends), False when another process
        holds it. OSError when the file system has no such locks."""

    def runtime_dir(self) -> Path:
        """A private per-user directory on the host (never the key) for the session's
        endpoint and Firefox's shadow directory; made if missing."""

    def cache_dir(self) -> Path:
        """A private per-user directory on the host's disk that survives a reboot and lets
        programs run (Firefox's shadow directory); made if missing."""

    def listen(self, name: str, answer: Callable[[bytes], bytes]) -> Listener:
        """Answer requests on a local endpoint called ``name`` in :meth:`runtime_dir` with
        ``answer(request)`` (from another thread), until closed."""

    def send(self, address: str, request: bytes, timeout: float) -> bytes | None:
        """Send ``request`` to the endpoint at ``address``; its answer, or None when nobody
        answered within ``timeout`` seconds."""


class UnsupportedHost:
    """A :class:`Host` for an OS without a tested implementation: every feature raises
    :class:`HostNotSupportedError` naming itself and what an implementation needs."""

    def __init__(self, name: str, label: str, needs: str) -> None:
        self.name = name
        self._label = label
        self._needs = needs

    def _missing(self, feature: str) -> NoReturn:
        raise HostNotSupportedError(
            f"{feature} is not supported yet on {self._label} (it needs {self._needs})"
        )

    def process_identity(self, pid: int) -> str | None:
        """Not supported yet."""
        self._missing(f"telling process {pid} apart from a later one")

    def lock(self, fd: int) -> bool:
        """Not supported yet."""
        self._missing(f"the single-instance lock (file descriptor {fd})")

    def runtime_dir(self) -> Path:
        """Not supported yet."""
        self._missing("a private per-user runtime directory")

    def cache_dir(self) -> Path:
        """Not supported yet."""
        self._missing("a private per-user cache directory")

    def listen(self, name: str, answer: Callable[[bytes], bytes]) -> Listener:  # noqa: ARG002
        """Not supported yet."""
        self._missing(f"the second-start signal endpoint {name!r}")

    def send(self, address: str, request: bytes, timeout: float) -> bytes | None:  # noqa: ARG002
        """Not supported yet."""
        self._missing(f"signalling the running session at {address!r}")


def host_for(platform: str) -> Host:
    """The host of ``platform`` ("linux", "windows" or "macos")."""
    if platform not in ("linux", "windows", "macos"):
        raise ValueError(f"platform {platform!r}: expected linux, windows or macos")
    host: Host = import_module(f"esecure.launcher.host.{platform}").HOST
    return host
