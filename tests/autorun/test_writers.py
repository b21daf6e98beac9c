"""The autorun writers produce files that their readers parse as intended."""

from __future__ import annotations

import configparser
import subprocess

import pytest

from esecure.autorun import AutorunSpec, autorun_inf, freedesktop_autorun

SPEC = AutorunSpec(
    launcher="e-secure.exe",
    icon="e-secure.ico",
    label="Démo Bank e-secure",
    action="Connexion à Sogecash Net",
)


def _parse(data: bytes) -> configparser.SectionProxy:
    parser = configparser.ConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(data.decode("ascii"))
    return parser["autorun"]


def test_inf_uses_crlf_only():
    """Every line ends with CRLF, and there is no bare LF."""
    data = autorun_inf(SPEC)
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n") == 6


def test_inf_keys_parse_back():
    """open=, icon=, label=, action= and UseAutoPlay=1 read back as written."""
    section = _parse(autorun_inf(SPEC))
    assert dict(section) == {
        "open": "e-secure.exe",
        "icon": "e-secure.ico",
        "label": "Demo Bank e-secure",
        "action": "Connexion a Sogecash Net",
        "UseAutoPlay": "1",
    }


def test_inf_without_an_icon_has_no_icon_line():
    """An image without the icon gets no icon= line (autorun.inf names only what exists)."""
    spec = AutorunSpec(launcher="e-secure.exe", icon=None, label="x", action="y")
    assert dict(_parse(autorun_inf(spec))) == {
        "open": "e-secure.exe",
        "label": "x",
        "action": "y",
        "UseAutoPlay": "1",
    }


def test_inf_uses_backslashes_for_subdirectories():
    """A launcher in a folder is written the Windows way."""
    spec = AutorunSpec(launcher="bin/e-secure.exe", icon="e.ico", label="x", action="y")
    assert _parse(autorun_inf(spec))["open"] == "bin\\e-secure.exe"


@pytest.mark.parametrize("bad", ["", "/abs.exe", 'a".exe', "a\r\n[x]"])
def test_inf_rejects_unsafe_paths(bad):
    """Absolute paths, quotes and line breaks cannot reach the INI file."""
    with pytest.raises(ValueError, match="relative path"):
        autorun_inf(AutorunSpec(launcher=bad, icon="e.ico", label="x", action="y"))


def test_inf_rejects_a_label_with_no_ascii():
    """A label that transliterates to nothing is an error, not an empty label."""
    with pytest.raises(ValueError, match="no ASCII"):
        autorun_inf(AutorunSpec(launcher="e.exe", icon="e.ico", label="銀行", action="y"))


def test_freedesktop_autorun_starts_the_launcher_beside_it(tmp_path):
    """Run by sh from another directory, it executes the launcher next to it with its args."""
    (tmp_path / "autorun.sh").write_bytes(freedesktop_autorun(SPEC))
    launcher = tmp_path / "e-secure"
    launcher.write_text('#!/bin/sh\necho "launched $1"\n')
    launcher.chmod(0o755)
    proc = subprocess.run(
        ["sh", str(tmp_path / "autorun.sh"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
        cwd="/",
    )
    assert proc.stdout == "launched --version\n"


def test_freedesktop_autorun_rejects_a_path_as_name():
    """The Linux launcher must be a plain name on the medium's root."""
    with pytest.raises(ValueError, match="plain file name"):
        freedesktop_autorun(AutorunSpec("e.exe", "e.ico", "x", "y", linux_launcher="../x"))
