"""Writers for the files that make the key start on insertion.

* ``autorun.inf`` (Windows): ``open=`` starts the launcher when autorun is allowed
  (seed step 3a), ``action=``/``label=``/``icon=`` brand the AutoPlay dialog (step 3b),
  ``UseAutoPlay=1`` asks Windows to show that dialog. Windows reads it as an INI file in
  the ANSI code page, so it is written in CRLF lines and ASCII only (non-ASCII would be
  shown as mojibake): names are transliterated, never dropped silently. It is written
  only onto an image that holds the Windows launcher it names (see bundle/build.py).
* ``autorun.sh`` (freedesktop "autorun on mount", the `autostart` specification): desktops
  that honour it ask the user before running it; it starts the Linux launcher beside it
  (written only onto an image that holds that launcher).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = ["AutorunSpec", "autorun_inf", "freedesktop_autorun"]


@dataclass(frozen=True)
class AutorunSpec:
    """What the autorun files point at (paths relative to the CD-ROM root)."""

    launcher: str  # e.g. "e-secure.exe": the Windows launcher the image holds
    icon: str | None  # e.g. "e-secure.ico"; None: the image holds none, no icon= line
    label: str  # drive label shown by Explorer, e.g. "Demo Bank e-secure"
    action: str  # AutoPlay action, e.g. "Connect to Sogecash Net"
    linux_launcher: str = "e-secure"


def _ascii(text: str, what: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    cleaned = "".join(c for c in folded if c.isprintable() and c not in "\r\n")
    if not cleaned.strip():
        raise ValueError(f"the autorun {what} {text!r} has no ASCII characters left")
    return cleaned.strip()


def _inf_path(path: str, what: str) -> str:
    if not path or any(c in path for c in '\r\n"') or path.startswith(("/", "\\")):
        raise ValueError(f"the autorun {what} {path!r} must be a relative path on the key")
    return path.replace("/", "\\")


def autorun_inf(spec: AutorunSpec) -> bytes:
    """The ``autorun.inf`` bytes (ASCII, CRLF line ends, final CRLF). The caller writes it
    only onto an image that holds ``spec.launcher`` (and ``spec.icon`` when given)."""
    lines = ["[autorun]", f"open={_inf_path(spec.launcher, 'launcher')}"]
    if spec.icon is not None:
        lines.append(f"icon={_inf_path(spec.icon, 'icon')}")
    lines += [
        f"label={_ascii(spec.label, 'label')}",
        f"action={_ascii(spec.action, 'action')}",
        "UseAutoPlay=1",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def freedesktop_autorun(spec: AutorunSpec) -> bytes:
    """The ``autorun.sh`` bytes: POSIX sh, starts the Linux launcher from the medium."""
    launcher = spec.linux_launcher
    if not launcher or "/" in launcher or "'" in launcher:
        raise ValueError(f"the Linux launcher name {launcher!r} must be a plain file name")
    return (
        "#!/bin/sh\n"
        "# e-secure: started by desktops that honour the freedesktop autorun prompt.\n"
        'here=$(dirname -- "$0")\n'
        f'exec "$here/{launcher}" "$@"\n'
    ).encode()
