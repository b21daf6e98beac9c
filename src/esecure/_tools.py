"""Outside programs (mkfs.fat, mtools, PyInstaller, certutil…), found and run through one runner.

Every room that starts a program asks a :class:`Runner` for it, as briefcase's
``integrations/`` do: the real one, :class:`SubprocessRunner`, looks the program up and runs
it with a time limit; tests pass a fake that records the calls and answers as scripted.

* A program that is not installed is ES919 naming the program, what needs it, and the exact
  command that installs it — before anything is started.
* A program that fails (non-zero exit, time-out, cannot start) is a :class:`ToolError` under
  the caller's own code (ES913 for the image build, ES211 for the certificate delivery),
  with the program's last lines of output.

Argument lists are never logged nor put in messages: pk12util takes a password on its
command line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from esecure.errors import ToolError

__all__ = [
    "CERTUTIL",
    "MCOPY",
    "MINFO",
    "MKFS_FAT",
    "MMD",
    "PK12UTIL",
    "PYINSTALLER",
    "SYSTEM",
    "TAIL_CHARS",
    "TAIL_LINES",
    "XORRISO",
    "Result",
    "Runner",
    "SubprocessRunner",
    "Tool",
    "missing",
]

TAIL_LINES = 20  # lines of a failed program's output quoted in the error
TAIL_CHARS = 800
_READER_GRACE = 10.0
_POSIX = sys.platform != "win32"  # seconds to wait for a killed program's stdout to close


@dataclass(frozen=True)
class Tool:
    """An outside program: its command name, where else it lives, and how to install it."""

    name: str
    install: str  # the exact command that installs it, quoted in ES919
    also_in: tuple[str, ...] = ()  # searched after PATH (mkfs.fat lives in /usr/sbin)
    module: str | None = None  # a Python module run by this interpreter (`python -m MODULE`)


def _apt(package: str) -> str:
    return f"sudo apt-get install {package}"


def _this_python() -> str:
    return f'"{sys.executable}"' if " " in sys.executable else sys.executable


MKFS_FAT = Tool("mkfs.fat", _apt("dosfstools"), also_in=("/usr/sbin", "/sbin"))
MMD = Tool("mmd", _apt("mtools"))
MCOPY = Tool("mcopy", _apt("mtools"))
MINFO = Tool("minfo", _apt("mtools"))
CERTUTIL = Tool("certutil", _apt("libnss3-tools"))
PK12UTIL = Tool("pk12util", _apt("libnss3-tools"))
XORRISO = Tool("xorriso", _apt("xorriso"))
# Run by the very interpreter (and so the venv) e-secure runs in.
PYINSTALLER = Tool(
    "pyinstaller", f"{_this_python()} -m pip install pyinstaller", module="PyInstaller"
)


@dataclass(frozen=True)
class Result:
    """What a finished program left: its exit status and its output (UTF-8, bad bytes replaced)."""

    returncode: int
    stdout: str = ""
    stderr: str = ""

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` non-blank lines of stderr (stdout if stderr is empty), as one line."""
        text = self.stderr if self.stderr.strip() else self.stdout
        kept = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(kept)[-TAIL_CHARS:]


def missing(tool: Tool, needed_by: str, where: Path | None = None) -> ToolError:
    """ES919 for ``tool``: what is missing, what needs it, the command that installs it."""
    if where is None:
        return ToolError(
            f"{tool.name} is not installed, and {needed_by} needs it: install it with "
            f"`{tool.install}`",
            code="ES919",
        )
    return ToolError(
        f"{tool.name} is not at {where}, and {needed_by} needs it: install it with "
        f"`{tool.install}`, or correct that path",
        code="ES919",
    )


class Runner(Protocol):
    """Finds and runs outside programs; the real one is :data:`SYSTEM`, tests pass fakes."""

    def find(self, tool: Tool, *, needed_by: str) -> tuple[str, ...]:
        """The command that starts ``tool`` (arguments follow); ES919 if it is missing."""
        ...

    def run(
        self,
        tool: Tool,
        args: Sequence[str],
        *,
        needed_by: str,
        code: str,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        check: bool = True,
    ) -> Result:
        """Run ``tool`` with ``args`` and wait at most ``timeout`` seconds.

        ``env`` replaces the environment (None: inherited); ``on_line`` receives each line
        of stderr as it comes (progress), stdout being collected aside. ES919 if the tool is
        missing; a ToolError with ``code`` if it cannot start, times out or — when ``check``
        — exits non-zero.
        """
        ...


@dataclass(frozen=True)
class SubprocessRunner:
    """The real runner: the PATH (or an explicit path per tool), subprocess, time limits."""

    paths: Mapping[str, Path] = field(default_factory=dict)  # tool name -> its program
    search_path: str | None = None  # instead of $PATH, read when a tool is looked up

    def find(self, tool: Tool, *, needed_by: str) -> tuple[str, ...]:
        """The command that starts ``tool``: its explicit path, the module, or a PATH hit."""
        explicit = self.paths.get(tool.name)
        if explicit is not None:
            if Path(explicit).is_file() and os.access(explicit, os.X_OK):
                return (str(explicit),)
            raise missing(tool, needed_by, Path(explicit))
        if tool.module is not None:
            if not _importable(tool.module):
                raise missing(tool, needed_by)
            return (sys.executable, "-m", tool.module)
        path = self.search_path if self.search_path is not None else os.environ.get("PATH", "")
        dirs = [d for d in (*path.split(os.pathsep), *tool.also_in) if d]
        found = shutil.which(tool.name, path=os.pathsep.join(dirs)) if dirs else None
        if found is None:
            raise missing(tool, needed_by)
        return (found,)

    def run(
        self,
        tool: Tool,
        args: Sequence[str],
        *,
        needed_by: str,
        code: str,
        timeout: float,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        check: bool = True,
    ) -> Result:
        """See :meth:`Runner.run`."""
        argv = [*self.find(tool, needed_by=needed_by), *args]
        environment = dict(env) if env is not None else None
        try:
            if on_line is None:
                result = _captured(argv, environment, cwd, timeout)
            else:
                result = _streamed(argv, environment, cwd, timeout, on_line)
        except subprocess.TimeoutExpired:
            raise ToolError(f"{tool.name} did not finish in {timeout:g} s", code=code) from None
        except OSError as exc:
            raise ToolError(
                f"{tool.name} could not be started ({argv[0]}): {exc.strerror or exc}", code=code
            ) from None
        if check and result.returncode != 0:
            raise ToolError(
                f"{tool.name} failed (exit {result.returncode}): {result.tail()}", code=code
            )
        return result


SYSTEM: Runner = SubprocessRunner()


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _captured(
    argv: list[str], env: dict[str, str] | None, cwd: Path | None, timeout: float
) -> Result:
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _kill(proc: subprocess.Popen[str]) -> None:
    """Stop ``proc`` and, on POSIX, every process of its group (PyInstaller's helpers hold
    its stderr open: killing the parent alone would leave the reading loop waiting)."""
    if _POSIX:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    else:
        proc.kill()


def _streamed(
    argv: list[str],
    env: dict[str, str] | None,
    cwd: Path | None,
    timeout: float,
    on_line: Callable[[str], None],
) -> Result:
    """Run ``argv``, handing each stderr line to ``on_line``; killed after ``timeout``."""
    expired = threading.Event()
    stdout: list[str] = []
    stderr: list[str] = []
    with subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        errors="replace",
        env=env,
        cwd=cwd,
        start_new_session=_POSIX,  # its own process group: a time-out stops its helpers too
    ) as proc:
        out, err = proc.stdout, proc.stderr
        if out is None or err is None:  # pragma: no cover - both were asked for as pipes
            raise OSError("no pipes to the program")

        def collect() -> None:
            with contextlib.suppress(OSError, ValueError):  # closed under it after a kill
                stdout.append(out.read())

        reader = threading.Thread(target=collect, daemon=True)

        def stop() -> None:
            expired.set()
            _kill(proc)

        timer = threading.Timer(timeout, stop)
        reader.start()
        timer.start()
        try:
            for line in err:
                stderr.append(line)
                on_line(line.rstrip("\r\n"))
        except BaseException:
            _kill(proc)  # the callback failed (or Ctrl-C): never leave the program running
            raise
        finally:
            timer.cancel()
            returncode = proc.wait()
            reader.join(_READER_GRACE)
    if expired.is_set():
        raise subprocess.TimeoutExpired(argv, timeout)
    return Result(returncode, "".join(stdout), "".join(stderr))
