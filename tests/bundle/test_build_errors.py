"""Bad input to `esecure build`: one clear message, the right code and exit, no image left."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from click.testing import CliRunner

from esecure.cli import cli
from tests.windows_firefox import windows_firefox


def _build(project: Path, out: Path, *args: str):
    return CliRunner().invoke(
        cli, ["--lang", "en", "build", str(project), "--out", str(out), *args]
    )


def _no_image(out: Path) -> bool:
    return not (out / "cdrom.iso").exists() and not (out / "data.img").exists()


def test_project_failing_check_is_exit_2(demo_project, tmp_path):
    """A project that fails `esecure check` stops the build with its problems (ES901)."""
    config = demo_project / "esecure.toml"
    config.write_text(
        config.read_text().replace('volume_label = "E_SECURE"', 'volume_label = "bad label"')
    )
    result = _build(demo_project, tmp_path / "out")
    assert result.exit_code == 2
    assert "ES901" in result.output
    assert "volume_label" in result.output
    assert _no_image(tmp_path / "out")


def test_missing_firefox_is_es910(demo_project, tmp_path):
    """A [firefox] linux folder without Firefox is named (ES910, exit 2) before freezing."""
    empty = tmp_path / "no-firefox"
    empty.mkdir()
    config = demo_project / "esecure.toml"
    config.write_text(config.read_text().replace('"/usr/lib/firefox-esr"', f'"{empty}"'))
    result = _build(demo_project, tmp_path / "out")
    assert result.exit_code == 2
    assert "ES910" in result.output
    assert str(empty) in result.output
    assert "freeze" not in result.output
    assert _no_image(tmp_path / "out")


def test_guide_name_too_long_for_joliet_is_es911(demo_project, tmp_path):
    """A guide file whose name Joliet would truncate stops the build (ES911), named."""
    name = "a-very-long-name-for-a-page-of-the-user-guide-of-the-e-secure-key.html"
    (demo_project / "assets" / "guide" / name).write_text("<p>x</p>")
    result = _build(demo_project, tmp_path / "out")
    assert result.exit_code == 2
    assert "ES911" in result.output
    assert name in result.output
    assert _no_image(tmp_path / "out")


def test_incomplete_launcher_dir_is_es916(demo_project, tmp_path):
    """--launcher-dir pointing at a folder without a frozen launcher is named (ES916)."""
    empty = tmp_path / "frozen"
    empty.mkdir()
    result = _build(demo_project, tmp_path / "out", "--launcher-dir", f"linux={empty}")
    assert result.exit_code == 2
    assert "ES916" in result.output
    assert "bootstrap executable" in result.output


def test_windows_planned_without_wine_is_refused_before_writing(
    demo_project, tmp_path, monkeypatch
):
    """The config asks for Windows (its [firefox] windows is set), no Windows launcher is
    given, so the build freezes it under Wine; without Wine on the machine: ES919 naming it,
    what needs it and the install command, before any step writes: no image, so never an
    autorun.inf naming an e-secure.exe the image does not hold."""
    firefox, pin = windows_firefox(tmp_path / "firefox-win")
    config = demo_project / "esecure.toml"
    config.write_text(
        config.read_text()
        .replace('windows = ""', f'windows = "{firefox}"')
        .replace('windows_sha256 = ""', f'windows_sha256 = "{pin}"')
    )
    no_wine = tmp_path / "bin"
    no_wine.mkdir()
    monkeypatch.setenv("PATH", str(no_wine))
    out = tmp_path / "out"
    result = _build(demo_project, out)
    assert result.exit_code == 1, result.output
    assert "ES919" in result.output
    assert (
        "wine is not installed, and freezing the Windows launcher needs it: install it with "
        "`sudo apt-get install --no-install-recommends wine wine64`"
    ) in result.output
    assert "Traceback" not in result.output
    assert "freeze the linux launcher" not in result.output  # refused before the first step
    assert list(out.iterdir()) == []


def test_malformed_launcher_dir_option(demo_project, tmp_path):
    """--launcher-dir without PLATFORM= is a usage error naming the value."""
    result = _build(demo_project, tmp_path / "out", "--launcher-dir", "/somewhere")
    assert result.exit_code == 2
    assert "PLATFORM=DIR" in result.output


def test_missing_guide_or_icon_is_named(demo_project, tmp_path):
    """A missing guide or icon stops the build at the check, naming the file (exit 2)."""
    (demo_project / "assets" / "guide" / "index.html").unlink()
    (demo_project / "assets" / "icon.ico").unlink()
    result = _build(demo_project, tmp_path / "out")
    assert result.exit_code == 2
    assert "[branding] guide" in result.output
    assert "[branding] icon_ico" in result.output
    assert _no_image(tmp_path / "out")


def test_missing_pyinstaller_is_es919_naming_the_install_command(
    demo_project, tmp_path, monkeypatch
):
    """No PyInstaller: ES919 with this venv's pip command, exit 1, no traceback, no image."""
    monkeypatch.setitem(sys.modules, "PyInstaller", None)  # not importable, as if uninstalled
    result = _build(demo_project, tmp_path / "out")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert (
        "  pyinstaller is not installed, and freezing the launcher needs it: install it with "
        f"`{sys.executable} -m pip install pyinstaller`"
    ) in result.output.splitlines()
    assert _no_image(tmp_path / "out")


def test_firefox_needing_a_library_found_nowhere_is_es927(demo_project, tmp_path):
    """A Firefox one of whose libraries needs a library this machine does not have (a
    same-length name patched into libnssutil3.so): ES927 names it and the file that needs
    it, before freezing; no image."""
    source = Path("/usr/lib/firefox-esr")
    firefox = tmp_path / "firefox"
    firefox.mkdir()
    for name in ("firefox-esr", "libnssutil3.so", "application.ini"):
        shutil.copy2(source / name, firefox / name)
    lib = firefox / "libnssutil3.so"
    data = lib.read_bytes()
    assert data.count(b"libplds4.so\0") == 1
    lib.write_bytes(data.replace(b"libplds4.so\0", b"libqqqq4.so\0"))
    config = demo_project / "esecure.toml"
    config.write_text(config.read_text().replace('"/usr/lib/firefox-esr"', f'"{firefox}"'))
    result = _build(demo_project, tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "ES927" in result.output
    assert "libqqqq4.so (needed by libnssutil3.so)" in result.output
    assert "freeze" not in result.output
    assert _no_image(tmp_path / "out")
