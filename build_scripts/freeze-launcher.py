"""Freeze this machine's launcher directory, for `esecure build --launcher-dir PLATFORM=DIR`.

Run on each platform's build machine (e.g. Windows), from a source checkout with e-secure
installed (`pip install -e .`):

    python build_scripts/freeze-launcher.py OUT_DIR [--name e-secure]

OUT_DIR then holds the bootstrap (`e-secure` or `e-secure.exe`), `runtime-<platform>/` and
`lib/<platform>/` (the third-party packages: the image's `deps-<platform>` component; the
`app` component is built from the image builder's own esecure); copy it to the machine
that builds the image. Set SOURCE_DATE_EPOCH to the image's for a reproducible result.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from esecure.bundle.freeze import freeze_launcher
from esecure.errors import EsecureError


def main() -> int:
    """Freeze into the directory given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output directory (must not exist)")
    parser.add_argument("--name", default="e-secure", help="[product] launcher_name")
    args = parser.parse_args()
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0") or 0)
    try:
        freeze_launcher(args.out, launcher_name=args.name, epoch=epoch, log=print)
    except EsecureError as exc:
        print(exc.render())
        return exc.exit_code
    print(f"launcher directory ready: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
