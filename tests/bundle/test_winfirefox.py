"""The release engineer's Windows Firefox, checked before a build uses it (ES976): the
layout, the PE headers, the version and the pinned tree hash. The Firefox is the mingw
stand-in of tests/windows_firefox.py."""

from __future__ import annotations

import subprocess

import pytest
from click.testing import CliRunner

from esecure.bundle.winfirefox import check_windows_firefox, pe_kind, tree_sha256
from esecure.cli import cli
from esecure.errors import ConfigError
from tests.windows_firefox import VERSION, windows_firefox

WHERE = ("esecure.toml:12: [firefox] windows", 12)
PIN_WHERE = ("esecure.toml:13: [firefox] windows_sha256", 13)


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return windows_firefox(tmp_path_factory.mktemp("winff") / "firefox")


def _copy(standin, tmp_path):
    import shutil  # noqa: PLC0415

    directory = tmp_path / "firefox"
    shutil.copytree(standin[0], directory)
    return directory


def _refused(directory, pin) -> str:
    with pytest.raises(ConfigError) as caught:
        check_windows_firefox(directory, pin, where=WHERE, pin_where=PIN_WHERE)
    assert caught.value.code == "ES976"
    return caught.value.detail


def test_the_pinned_firefox_passes_with_its_version(standin):
    directory, pin = standin
    assert pe_kind(directory / "firefox.exe") == "PE32+ x86-64"
    assert check_windows_firefox(directory, pin, where=WHERE, pin_where=PIN_WHERE) == VERSION


def test_tree_hash_is_the_documented_shell_pipeline(standin):
    """The module's docstring gives the pin's shell equivalent: it agrees."""
    directory, pin = standin
    shell = subprocess.run(  # noqa: S602 - the documented pipeline itself
        "find -L . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum",
        shell=True,
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.split()[0] == pin == tree_sha256(directory)


def test_firefox_hash_command_prints_the_pin(standin):
    directory, pin = standin
    result = CliRunner().invoke(cli, ["firefox-hash", str(directory)])
    assert result.exit_code == 0, result.output
    assert result.output == f"{pin}\n"


def test_attack_a_changed_file_is_refused_naming_both_hashes(standin, tmp_path):
    """A DLL of the checked tree replaced (same layout, still a PE): the tree hash differs;
    ES976 names the pin, the actual hash and how to pin it, at windows_sha256's line."""
    directory = _copy(standin, tmp_path)
    (directory / "nss3.dll").write_bytes((directory / "nss3.dll").read_bytes() + b"\0")
    actual = tree_sha256(directory)
    detail = _refused(directory, standin[1])
    assert detail == (
        f"esecure.toml:13: [firefox] windows_sha256: expected the tree hash {standin[1]}, "
        f"found {actual} for {directory}. Fix: if this is the Firefox you checked, set "
        f'[firefox] windows_sha256 = "{actual}" (also printed by `esecure firefox-hash '
        "DIR`); else supply the checked Firefox"
    )


def test_an_unpinned_firefox_is_refused_printing_its_hash(standin):
    directory, pin = standin
    detail = _refused(directory, "")
    assert "expected a pinned tree hash" in detail
    assert f'set [firefox] windows_sha256 = "{pin}"' in detail


def test_missing_files_are_named(standin, tmp_path):
    directory = _copy(standin, tmp_path)
    (directory / "xul.dll").unlink()
    (directory / "browser" / "omni.ja").unlink()
    detail = _refused(directory, standin[1])
    assert f"found {directory} without xul.dll, browser/omni.ja" in detail


def test_a_32_bit_firefox_is_refused(standin, tmp_path):
    """firefox.exe with the i386 machine and PE32 magic: named, with the fix."""
    directory = _copy(standin, tmp_path)
    exe = directory / "firefox.exe"
    data = bytearray(exe.read_bytes())
    pe = int.from_bytes(data[0x3C:0x40], "little")
    data[pe + 4 : pe + 6] = (0x14C).to_bytes(2, "little")
    data[pe + 24 : pe + 26] = (0x10B).to_bytes(2, "little")
    exe.write_bytes(bytes(data))
    detail = _refused(directory, tree_sha256(directory))
    assert f"found {exe}: PE32 machine 0x014c" in detail
    assert "supply the 64-bit (win64) Firefox ESR for Windows" in detail


def test_a_text_file_named_firefox_exe_is_refused(standin, tmp_path):
    directory = _copy(standin, tmp_path)
    (directory / "mozglue.dll").write_bytes(b"MZ not really")
    detail = _refused(directory, tree_sha256(directory))
    assert "mozglue.dll: not a PE file" in detail


def test_application_ini_without_version_is_refused(standin, tmp_path):
    directory = _copy(standin, tmp_path)
    (directory / "application.ini").write_text("[App]\nName=Firefox\n")
    detail = _refused(directory, tree_sha256(directory))
    assert "application.ini: no Version=" in detail


def test_malformed_pin_is_refused_by_check(demo_project):
    config = demo_project / "esecure.toml"
    config.write_text(config.read_text().replace('windows_sha256 = ""', 'windows_sha256 = "ABC"'))
    result = CliRunner().invoke(cli, ["--lang", "en", "check", str(demo_project)])
    assert result.exit_code == 2, result.output
    assert "windows_sha256" in result.output
    assert "esecure firefox-hash DIR" in result.output
