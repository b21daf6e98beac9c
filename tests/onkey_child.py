"""Run the bootstrap as the frozen one runs: a clean interpreter (``python -S``) whose only
importable package besides the standard library is ``esecure_onkey``, copied out of the
source tree (as PyInstaller puts it in the runtime), so that ``esecure`` can only come from
the application root the bootstrap picks."""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
from pathlib import Path

import esecure_onkey

__all__ = ["bootstrap_command", "bootstrap_env", "runtime_dir"]


@functools.cache
def runtime_dir() -> str:
    """A directory holding only a copy of ``esecure_onkey`` (made once per test process)."""
    out = Path(tempfile.mkdtemp(prefix="esecure-onkey-runtime-"))
    source = Path(esecure_onkey.__file__).parent
    shutil.copytree(source, out / "esecure_onkey", ignore=shutil.ignore_patterns("__pycache__"))
    return str(out)


def bootstrap_command(*args: str) -> list[str]:
    """The command line of a bootstrap start with ``args``."""
    return [sys.executable, "-S", "-m", "esecure_onkey", *args]


def bootstrap_env(**env: str) -> dict[str, str]:
    """A minimal environment for the child: PATH, the runtime, and ``env``."""
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": runtime_dir(), **env}
