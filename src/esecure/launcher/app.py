"""The application the bootstrap starts: the launcher's command line.

Kept light at import time: `e-secure --version` must answer in well under 250 ms, so
everything heavy (cryptography, tufup, the UI) is imported by the step that needs it.
"""

from __future__ import annotations

import argparse
import sys

from esecure import __version__
from esecure.launcher.bootstrap import Choice

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="e-secure",
        description="The e-secure key's launcher.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


def main(argv: list[str] | None = None, boot: Choice | None = None) -> int:
    """Run the launcher; ``boot`` is the bootstrap's choice of application root."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.version:
        where = f" ({boot.reason})" if boot is not None else ""
        print(f"e-secure {__version__}{where}")  # noqa: T201 - the launcher's console output
        return 0
    print(  # noqa: T201
        "e-secure: the start-up flow (updates, enrolment, browser) is not part of this "
        "version yet; only --version is available.",
        file=sys.stderr,
    )
    return 2
