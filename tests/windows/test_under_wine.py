"""The real e-secure.exe of a Windows-enabled image, run under Wine from drive E:.

What Wine cannot show (WebView2 windows, the shell's eject, AutoPlay) is verified on real
Windows before a release (docs/architecture.md, "Windows launcher").
"""

from __future__ import annotations

import getpass
import json

import pytest

from esecure import __version__

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def drive_e(windows_image, test_prefix):
    """The extracted CD-ROM as drive E: of the test prefix."""
    _built, cd = windows_image
    test_prefix.map_drive("e", cd)
    return test_prefix


def test_version_from_the_image(drive_e):
    """E:\\e-secure.exe --version: the frozen bootstrap starts the app of the CD-ROM, and
    finds the data area as on Windows: no FAT volume labelled ESECUREDATA is mounted, so
    the per-user directory under %LOCALAPPDATA%, and it says why."""
    proc = drive_e.run("E:\\e-secure.exe", "--version")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == (
        f"e-secure {__version__} (application shipped on the CD-ROM (no update installed); "
        "data area: per-user directory C:\\users\\"
        f"{getpass.getuser()}\\AppData\\Local\\e-secure\\demo-bank on this computer (no "
        "writable FAT volume labelled ESECUREDATA))\n"
    )


def test_self_check_from_the_image(drive_e):
    """E:\\e-secure.exe --self-check: the manifest's signature (PyNaCl and cryptography,
    abi3 extensions that need python3.dll) and every file of the key check out."""
    proc = drive_e.run("E:\\e-secure.exe", "--self-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("self-check: ok"), proc.stdout


def test_the_windows_image_names_only_files_it_holds(windows_image):
    """`esecure build` with Windows enabled froze e-secure.exe itself (a step of the
    report), and autorun.inf's open= and icon= name files present on the CD-ROM."""
    built, cd = windows_image
    report = json.loads((built.out / "build-report.json").read_text())
    assert "freeze the windows launcher" in [s["step"] for s in report["steps"]]
    assert sorted(report["platforms"]) == ["linux", "windows"]
    inf = (cd / "autorun.inf").read_bytes().decode("ascii").splitlines()
    named = dict(line.split("=", 1) for line in inf[1:] if "=" in line)
    assert named["open"] == "e-secure.exe"
    assert (cd / named["open"]).read_bytes()[:2] == b"MZ"
    assert (cd / named["icon"]).is_file()


GPO_KEY = "HKLM\\Software\\Policies\\Mozilla\\Firefox"


def test_es105_host_policy_from_the_registry(drive_e):
    """A Group Policy in the Wine registry (written with `wine reg add`) that unlocks
    about:config: the self-check of the real e-secure.exe reads it through winreg and warns
    with ES105 naming the policy and what the computer sets ([firefox] host_policies =
    "warn" in the demo); the check itself passes. The policy is removed afterwards."""
    added = drive_e.run(
        "reg", "add", GPO_KEY, "/v", "BlockAboutConfig", "/t", "REG_DWORD", "/d", "0", "/f"
    )
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        proc = drive_e.run("E:\\e-secure.exe", "--self-check")
    finally:
        removed = drive_e.run("reg", "delete", GPO_KEY, "/f")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ES105" in proc.stderr
    assert "BlockAboutConfig: the computer sets 0" in proc.stderr
    assert proc.stdout.startswith("self-check: ok")
    clean = drive_e.run("E:\\e-secure.exe", "--self-check")
    assert "ES105" not in clean.stderr


EXPLORER_KEY = "Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer"


@pytest.mark.parametrize(
    ("hive", "value", "data", "why"),
    [
        (
            "HKLM",
            "NoDriveTypeAutoRun",
            "255",
            "NoDriveTypeAutoRun=0xFF (HKLM) turns CD-ROM drives off",
        ),
        ("HKCU", "NoAutorun", "1", "NoAutorun=1 (HKCU): no autorun.inf is processed"),
    ],
)
def test_e10_autorun_policy_reported_by_the_diagnostics(drive_e, hive, value, data, why):
    """Seed row E10: an autorun policy written with `wine reg add` is read by the real
    e-secure.exe --doctor through winreg and reported as a warning with ES104 and the
    guide's action (start e-secure.exe from the key's drive). Removed afterwards."""
    key = f"{hive}\\{EXPLORER_KEY}"
    added = drive_e.run("reg", "add", key, "/v", value, "/t", "REG_DWORD", "/d", data, "/f")
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        proc = drive_e.run("E:\\e-secure.exe", "--doctor")
    finally:
        removed = drive_e.run("reg", "delete", key, "/v", value, "/f")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert why in proc.stdout, proc.stdout + proc.stderr
    assert "ES104" in proc.stdout
    assert "double-cliquez sur e-secure.exe" in proc.stdout  # the demo speaks French
