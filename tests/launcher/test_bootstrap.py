"""The bootstrap picks an application root and runs the application from its lib/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from esecure.launcher import bootstrap

BOOTSTRAP = Path(bootstrap.__file__)


def test_platform_names():
    """Windows, macOS and Linux map to their directory names."""
    assert bootstrap.platform_name("win32") == "windows"
    assert bootstrap.platform_name("darwin") == "macos"
    assert bootstrap.platform_name("linux") == "linux"


def test_bootstrap_imports_nothing_from_esecure():
    """The frozen bootstrap must not carry `esecure` (it would shadow the application)."""
    source = BOOTSTRAP.read_text()
    assert "from esecure" not in source
    assert "import esecure" not in source


def test_bootstrap_runs_the_application_from_the_cd_lib(tmp_path):
    """Run as a script, it imports esecure.launcher.app from <cd>/lib/<platform> first."""
    lib = tmp_path / "lib" / bootstrap.platform_name() / "esecure" / "launcher"
    lib.mkdir(parents=True)
    (lib.parent / "__init__.py").write_text("")
    (lib / "__init__.py").write_text("")
    (lib / "app.py").write_text(
        "import os\n"
        "def main(argv, boot):\n"
        "    print('app from', os.environ['ESECURE_APP_ROOT'], boot.reason, argv)\n"
        "    return 7\n"
    )
    proc = subprocess.run(
        [sys.executable, "-S", str(BOOTSTRAP), "--x"],
        capture_output=True,
        text=True,
        env={"ESECURE_CD_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=30,
    )
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == f"app from {tmp_path} application shipped on the CD-ROM ['--x']\n"
