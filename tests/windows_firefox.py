"""A stand-in extracted Firefox ESR for Windows, built with mingw from
tests/windows/firefox_standin.c: a real PE32+ ``firefox.exe`` that records how it was
started, stand-in DLLs of the layout ``esecure.bundle.winfirefox`` requires, omni.ja
archives and application.ini. Never shipped; the release engineer supplies the real one.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

from esecure.bundle.winfirefox import REQUIRED, tree_sha256

SOURCE = Path(__file__).resolve().parent / "windows" / "firefox_standin.c"
VERSION = "128.5.0"
RECORD_ENV = "ESECURE_FIREFOX_RECORD"


def _mingw(*args: str) -> None:
    proc = subprocess.run(
        ["x86_64-w64-mingw32-gcc", "-O2", "-s", "-Wl,--no-insert-timestamp", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"mingw (build_scripts/install-system-deps.sh): {proc.stderr}"


def windows_firefox(directory: Path) -> tuple[Path, str]:
    """Write the stand-in into ``directory`` (new); return it and its tree hash (what the
    release engineer pins in [firefox] windows_sha256)."""
    directory.mkdir(parents=True)
    _mingw("-municode", "-o", str(directory / "firefox.exe"), str(SOURCE))
    dll = directory / "xul.dll"
    _mingw("-DSTANDIN_DLL", "-shared", "-o", str(dll), str(SOURCE))
    for rel in REQUIRED:
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".dll") and rel != "xul.dll":
            path.write_bytes(dll.read_bytes())
        elif rel.endswith("omni.ja"):
            with zipfile.ZipFile(path, "w") as archive:
                info = zipfile.ZipInfo("chrome.manifest", date_time=(2024, 1, 1, 0, 0, 0))
                archive.writestr(info, "# stand-in\n")
    (directory / "application.ini").write_text(
        f"[App]\nVendor=Mozilla\nName=Firefox\nVersion={VERSION}\nBuildID=20240101000000\n"
    )
    return directory, tree_sha256(directory)


def read_record(path: Path) -> tuple[list[str], dict[str, str]]:
    """The stand-in's record: its argv, and the environment variables it kept."""
    argv: list[str] = []
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        kind, _, value = line.partition("\t")
        if kind == "arg":
            argv.append(value)
        elif kind == "env":
            name, _, val = value.partition("=")
            env[name] = val
    return argv, env
