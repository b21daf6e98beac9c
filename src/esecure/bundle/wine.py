"""Wine on the build machine: a prefix of e-secure's own, cached outside the checkout.

The Windows launcher is frozen on Linux by running a Windows CPython under Wine
(:mod:`esecure.bundle.winfreeze`). This module owns what Wine needs to behave:

* the cache (``$XDG_CACHE_HOME/e-secure``, else ``~/.cache/e-secure``; ``ESECURE_CACHE``
  overrides it), where the prefix, the downloaded CPython and the wheels stay between
  builds — a fresh machine makes them once;
* a lock on that cache, so two builds at once never share a half-made prefix;
* :class:`Prefix`: ``WINEPREFIX``, quiet (``WINEDEBUG=-all``), never offering to download
  Mono or Gecko; Linux paths seen from Windows through the ``Z:`` drive;
* :meth:`Prefix.session`: the pitfalls measured in FINDINGS.md. A Windows program whose
  stdout is a regular file dies, so every program gets pipes and ``/dev/null`` as stdin;
  ``explorer.exe`` (started by the first program that needs a desktop) inherits that
  program's stderr and keeps it open, so a session first starts a desktop holder with its
  own stdio, and ends by stopping the prefix (``wineserver -k``): no Wine process outlives
  a build.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from esecure._tools import Result, Runner, Tool
from esecure.errors import ToolError

__all__ = [
    "OSSLSIGNCODE",
    "WINE",
    "WINESERVER",
    "Prefix",
    "cache_lock",
    "cache_root",
    "step_error",
]

WINE = Tool("wine", "sudo apt-get install --no-install-recommends wine wine64")
WINESERVER = Tool(
    "wineserver",
    "sudo apt-get install --no-install-recommends wine wine64",
    also_in=("/usr/lib/wine",),
)
OSSLSIGNCODE = Tool("osslsigncode", "sudo apt-get install osslsigncode")

BOOT_TIMEOUT = 180  # a new prefix takes ~6 s here
STOP_TIMEOUT = 60
HOLDER_START = 5.0  # seconds the desktop holder is given to create the desktop
_HOLDER = "import ctypes, time; ctypes.windll.user32.GetDesktopWindow(); time.sleep(3600)"


def cache_root() -> Path:
    """Where e-secure keeps what it downloads and makes for builds (outside any checkout)."""
    explicit = os.environ.get("ESECURE_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "e-secure"


@contextlib.contextmanager
def cache_lock(directory: Path, timeout: float = 1800) -> Iterator[None]:
    """Hold ``directory``'s lock (a build using its prefix), waiting at most ``timeout``."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ToolError(
                        f"{directory} stayed locked by another build for {timeout:g} s; wait "
                        "for it to finish (or stop it), then build again",
                        code="ES973",
                    ) from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def step_error(step: str, exc: ToolError, fix: str) -> ToolError:
    """ES973 for a failed step of the Windows freeze: the step, what went wrong, the fix.

    A missing program keeps its own code (ES919: the install command is the fix)."""
    if exc.code == "ES919":
        return exc
    return ToolError(f"Windows freeze, step {step!r}: {exc.detail}. Fix: {fix}", code="ES973")


@dataclass(frozen=True)
class Prefix:
    """One Wine prefix (a Windows installation in a directory)."""

    path: Path
    runner: Runner

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment a program of this prefix runs with."""
        return {
            **os.environ,
            "WINEPREFIX": str(self.path),
            "WINEDEBUG": "-all",
            "WINEDLLOVERRIDES": "mscoree,mshtml=",  # never offer Mono or Gecko
            **(extra or {}),
        }

    @staticmethod
    def windows_path(path: Path) -> str:
        """A Linux path as Windows programs of any prefix see it (drive Z: is /)."""
        return str(PureWindowsPath("Z:\\", *path.resolve().parts[1:]))

    @property
    def drive_c(self) -> Path:
        """The prefix's ``C:`` drive."""
        return self.path / "drive_c"

    def exists(self) -> bool:
        """Whether the prefix was made (wineboot finished)."""
        return (self.path / "system.reg").is_file() and self.drive_c.is_dir()

    def boot(self, *, needed_by: str) -> None:
        """Make the prefix (``wineboot -i``) if it does not exist yet, then stop it."""
        if self.exists():
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self.runner.run(
            WINE,
            ["wineboot", "-i"],
            needed_by=needed_by,
            code="ES973",
            timeout=BOOT_TIMEOUT,
            env=self.env(),
        )
        self.stop(needed_by=needed_by)

    def run(
        self,
        args: Sequence[str],
        *,
        needed_by: str,
        timeout: float,
        extra_env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        check: bool = True,
    ) -> Result:
        """``wine ARGS`` in this prefix (stdout and stderr are pipes, stdin /dev/null)."""
        return self.runner.run(
            WINE,
            list(args),
            needed_by=needed_by,
            code="ES973",
            timeout=timeout,
            env=self.env(extra_env),
            cwd=cwd,
            on_line=on_line,
            check=check,
        )

    def stop(self, *, needed_by: str) -> None:
        """Stop every process of the prefix (``wineserver -k``; a stopped prefix is fine)."""
        self.runner.run(
            WINESERVER,
            ["-k"],
            needed_by=needed_by,
            code="ES973",
            timeout=STOP_TIMEOUT,
            env=self.env(),
            check=False,
        )

    @contextlib.contextmanager
    def session(self, python: str, *, needed_by: str) -> Iterator[Prefix]:
        """The prefix with a desktop held open by ``python`` (a Windows ``python.exe``), so
        that no program of the session hands its pipes to ``explorer.exe``; stopped at the
        end whatever happens."""
        command = [*self.runner.find(WINE, needed_by=needed_by), python, "-c", _HOLDER]
        holder = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env(),
            start_new_session=True,
        )
        try:
            with contextlib.suppress(subprocess.TimeoutExpired):
                holder.wait(HOLDER_START)
            yield self
        finally:
            self.stop(needed_by=needed_by)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(holder.pid, 9)
            with contextlib.suppress(subprocess.TimeoutExpired):
                holder.wait(STOP_TIMEOUT)
