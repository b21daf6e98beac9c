"""A Wine prefix of the tests' own, and how a Windows program is run in it."""

from __future__ import annotations

import os
import select
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.signals import sigint_for_children

WINE_TIMEOUT = 300


def windows_path(path: Path) -> str:
    """``path`` as Windows programs under Wine name it (drive Z: is the Unix root)."""
    return "Z:" + str(path.resolve()).replace("/", "\\")


@dataclass(frozen=True)
class TestPrefix:
    """A Wine prefix for the tests, and how to run a program in it."""

    __test__ = False  # not a test class, whatever its name

    path: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "WINEPREFIX": str(self.path),
            "WINEDEBUG": "-all",
            "WINEDLLOVERRIDES": "mscoree,mshtml=",
        }

    def run(
        self,
        *args: str,
        timeout: float = WINE_TIMEOUT,
        env: Mapping[str, str] | None = None,
        encoding: str = "utf-8",
    ) -> subprocess.CompletedProcess[str]:
        """``wine ARGS`` (with ``env`` added): stdin /dev/null, stdout and stderr pipes
        (never regular files). A Windows program writes to a pipe in the ANSI code page:
        pass ``encoding="cp1252"`` (Wine's, in English and French) to read its accents."""
        return subprocess.run(
            ["wine", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding=encoding,
            errors="replace",
            env={**self.env(), **(env or {})},
            timeout=timeout,
            check=False,
        )

    def start(
        self, *args: str, env: Mapping[str, str] | None = None, encoding: str = "utf-8"
    ) -> subprocess.Popen[str]:
        """``wine ARGS`` in the background, as :meth:`run` starts it (SIGINT at its default:
        the tests send it Ctrl-C)."""
        with sigint_for_children():
            return subprocess.Popen(
                ["wine", *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                encoding=encoding,
                errors="replace",
                env={**self.env(), **(env or {})},
            )

    def map_drive(self, letter: str, target: Path) -> None:
        link = self.path / "dosdevices" / f"{letter.lower()}:"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)

    def stop(self) -> None:
        subprocess.run(
            ["wineserver", "-k"], env=self.env(), timeout=60, check=False, capture_output=True
        )


@contextmanager
def xvfb(timeout: float = 30.0) -> Iterator[str]:
    """A fresh Xvfb on a free display (``-displayfd``): its DISPLAY, stopped at the end."""
    read, write = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        ready, _, _ = select.select([read], [], [], timeout)
        number = os.read(read, 64).decode().strip() if ready else ""
        assert number.isdigit(), f"Xvfb gave no display within {timeout} s"
        yield f":{number}"
    finally:
        os.close(read)
        server.terminate()
        server.wait(timeout=30)


def windows_processes(start: str) -> list[int]:
    """Unix pids of the Wine processes whose command line starts with ``start`` (a Windows
    program's path: Wine shows its processes so)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith(start):
            found.append(int(entry.name))
    return found
