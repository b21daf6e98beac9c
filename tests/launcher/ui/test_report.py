"""The error window's "save the report": a copy on the user's desktop, atomically."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from esecure.errors import IntegrityError
from esecure.launcher.ui.report import MAX_REPORT, desktop_dir, save_report_copy

NOW = datetime(2026, 12, 1, 18, 30, 5, tzinfo=UTC)
ERROR = IntegrityError("app/x.pyc: size 12, expected 14", code="ES101")


def test_the_desktop_is_the_one_user_dirs_names(tmp_path):
    """Linux: XDG_DESKTOP_DIR ("Bureau" in French); else Desktop; else the home folder."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    assert desktop_dir(home, {}, "linux") == home
    (home / "Desktop").mkdir()
    assert desktop_dir(home, {}, "windows") == home / "Desktop"
    (home / "Bureau").mkdir()
    (home / ".config" / "user-dirs.dirs").write_text('XDG_DESKTOP_DIR="$HOME/Bureau"\n')
    assert desktop_dir(home, {}, "linux") == home / "Bureau"
    (home / ".config" / "user-dirs.dirs").write_text('XDG_DESKTOP_DIR="relative/x"\n')
    assert desktop_dir(home, {}, "linux") == home / "Desktop"


def test_the_flows_report_is_copied_under_a_telling_name(tmp_path):
    """The report's bytes, named after the code and the time, its suffix kept."""
    report = tmp_path / "flow-ES101.json"
    report.write_bytes(b'{"code": "ES101"}')
    saved = save_report_copy(ERROR, report, directory=tmp_path, lang="en", phone=None, now=NOW)
    assert saved.name == "e-secure-report-ES101-20261201-183005.json"
    assert saved.read_bytes() == report.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_without_a_report_the_error_itself_is_saved(tmp_path):
    """No report from the flow: the error's full text in the user's language."""
    saved = save_report_copy(ERROR, None, directory=tmp_path, lang="fr", phone="+33", now=NOW)
    text = saved.read_text()
    assert saved.suffix == ".txt"
    assert text.startswith("error ES101: Un problème est survenu")
    assert "assistance: +33" in text


def test_an_oversized_or_missing_report_is_an_oserror(tmp_path):
    """Something that is not our report is not copied: the button says why."""
    big = tmp_path / "big.json"
    with big.open("wb") as stream:
        stream.truncate(MAX_REPORT + 1)
    with pytest.raises(OSError, match="larger than"):
        save_report_copy(ERROR, big, directory=tmp_path, lang="en", phone=None, now=NOW)
    with pytest.raises(OSError):
        save_report_copy(
            ERROR, tmp_path / "gone", directory=tmp_path, lang="en", phone=None, now=NOW
        )
    assert not list(tmp_path.glob("e-secure-report-*"))
