"""The error window's "save the report": a copy where the user finds it (their desktop).

The flow has already saved its report in the data area (on the key); support asks for it
by e-mail, so the button puts a copy on the computer's desktop (else the home folder),
under a name that says what it is. Without a report from the flow, the error's own text
is saved (code, message, what happened, cause, action: never a secret, by the catalogue's
rule that a detail names files and values, not keys or codes). Atomic: temp, fsync, rename.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from esecure._fs import atomic_write
from esecure.errors import EsecureError

__all__ = ["MAX_REPORT", "desktop_dir", "report_saver", "save_report_copy"]

MAX_REPORT = 64 * 1024 * 1024
"""Bytes of a report copied at most (a bigger file is not a report of ours)."""
_XDG_DESKTOP = re.compile(r'^\s*XDG_DESKTOP_DIR\s*=\s*"([^"]*)"\s*$', re.MULTILINE)


def desktop_dir(home: Path, environ: Mapping[str, str], platform: str) -> Path:
    """The user's desktop folder: on Linux as ``user-dirs.dirs`` names it (``Bureau`` in
    French), elsewhere ``Desktop``; the home folder when there is none."""
    if platform == "linux":
        config = Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "user-dirs.dirs"
        try:
            match = _XDG_DESKTOP.search(config.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            match = None
        if match:
            named = Path(match.group(1).replace("$HOME", str(home)))
            if named.is_absolute() and named.is_dir():
                return named
    desktop = home / "Desktop"
    return desktop if desktop.is_dir() else home


def save_report_copy(
    error: EsecureError,
    report: Path | None,
    *,
    directory: Path,
    lang: str,
    phone: str | None,
    now: datetime,
) -> Path:
    """Write the report of ``error`` into ``directory``; its path. OSError when the
    flow's report cannot be read or the copy cannot be written."""
    stamp = now.strftime("%Y%m%d-%H%M%S")
    if report is not None:
        with report.open("rb") as stream:
            data = stream.read(MAX_REPORT + 1)
        if len(data) > MAX_REPORT:
            raise OSError(f"{report} is larger than {MAX_REPORT} bytes")
        suffix = report.suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", report.suffix) else ".txt"
    else:
        data = (error.render(lang, phone) + "\n").encode("utf-8")
        suffix = ".txt"
    target = directory / f"e-secure-report-{error.code}-{stamp}{suffix}"
    atomic_write(target, data)
    return target


def report_saver(lang: str, phone: str | None) -> Callable[[EsecureError, Path | None], Path]:
    """The error window's saver for this computer's user (their desktop, the clock now)."""
    platform = "windows" if sys.platform == "win32" else sys.platform

    def save(error: EsecureError, report: Path | None) -> Path:
        directory = desktop_dir(Path.home(), os.environ, platform)
        return save_report_copy(
            error,
            report,
            directory=directory,
            lang=lang,
            phone=phone,
            now=datetime.now().astimezone(),
        )

    return save
