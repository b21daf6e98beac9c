"""The bootstrap: the program frozen onto the read-only CD-ROM as ``e-secure`` / ``e-secure.exe``.

It is a Python runtime plus this one module (standard library only: it must not import
``esecure``, or the frozen copy would shadow the application it starts). At every start it
picks an *application root* and runs the application's code from there in this interpreter:

* the active slot of the data area, when it is complete and verified (the updates issue
  adds the slot choice: see docs/updates.md), else
* the application shipped on the CD-ROM.

An application root has the same layout wherever it lives (CD-ROM root or a slot)::

    lib/<platform>/      the `esecure` package and its third-party packages (.py/.pyc and
                         compiled extensions; never a native program that is executed)
    firefox/<platform>/  the portable Firefox
    profile/user.js      the profile template
    product.json         names, URLs, languages, support phone
    trust/               the CA certificate(s)

The bootstrap never writes to the CD-ROM and never executes a native binary from the data
area. Its own format readers are the contract updates must keep: the CD-ROM cannot change.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

__all__ = ["APP_ROOT_ENV", "CD_ROOT_ENV", "Choice", "cd_root", "choose", "main", "platform_name"]

APP_ROOT_ENV = "ESECURE_APP_ROOT"
CD_ROOT_ENV = "ESECURE_CD_ROOT"
APP_MODULE = "esecure.launcher.app"


@dataclass(frozen=True)
class Choice:
    """Which application the bootstrap runs, and why (reported by diagnostics)."""

    root: Path
    slot: str | None
    reason: str


def platform_name(sys_platform: str | None = None) -> str:
    """The platform directory name used under lib/ and firefox/."""
    name = sys_platform or sys.platform
    if name.startswith("win"):
        return "windows"
    if name == "darwin":
        return "macos"
    return "linux"


def cd_root() -> Path:
    """The CD-ROM root: beside the frozen executable; ESECURE_CD_ROOT overrides (tests)."""
    override = os.environ.get(CD_ROOT_ENV)
    if override:
        return Path(override)
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path.cwd()


def choose(cd: Path) -> Choice:
    """The application root to run: today always the CD-ROM's."""
    return Choice(root=cd, slot=None, reason="application shipped on the CD-ROM")


def run(choice: Choice, argv: list[str]) -> int:
    """Import the application from the chosen root and hand it the command line."""
    lib = choice.root / "lib" / platform_name()
    if lib.is_dir():
        sys.path.insert(0, str(lib))
    os.environ[APP_ROOT_ENV] = str(choice.root)
    app = import_module(APP_MODULE)
    code: int = app.main(argv, boot=choice)
    return code


def main() -> None:
    """Entry point of the frozen bootstrap."""
    sys.exit(run(choose(cd_root()), sys.argv[1:]))


if __name__ == "__main__":
    main()
