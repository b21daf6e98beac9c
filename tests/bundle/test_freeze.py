"""Freezing the launcher through the tool runner: PyInstaller's phases, its absence, its failure.

The real PyInstaller run is in test_image.py (slow); here a fake runner plays PyInstaller.
"""

from __future__ import annotations

import sys

import pytest

from esecure._tools import Result
from esecure.bundle.freeze import FREEZE_TIMEOUT, freeze_launcher
from esecure.errors import ToolError
from tests.fake_runner import FakeRunner

PYINSTALLER_LOG = [
    "123 INFO: PyInstaller: 6.22.0",
    "456 INFO: Initializing module dependency graph...",
    "789 INFO: Looking for dynamic libraries",
    "790 INFO: Looking for dynamic libraries",
    "900 INFO: Building PYZ (ZlibArchive) base_library.zip",
    "950 INFO: Building EXE from EXE-00.toc",
    "999 ERROR: something broke",
]


def _failed(_tool: str, _args: tuple[str, ...]) -> Result:
    return Result(1, "", "\n".join(PYINSTALLER_LOG) + "\n")


def test_pyinstaller_phases_are_reported_once_each_as_they_stream(tmp_path):
    """Each phase PyInstaller logs reaches the build's log once, in order."""
    runner = FakeRunner(answer=_failed, stderr_lines=PYINSTALLER_LOG)
    log: list[str] = []
    with pytest.raises(ToolError):
        freeze_launcher(
            tmp_path / "out", launcher_name="e-secure", epoch=1, log=log.append, runner=runner
        )
    assert [m for m in log if m.startswith("  PyInstaller:")] == [
        "  PyInstaller: analysing the standard library",
        "  PyInstaller: collecting shared libraries",
        "  PyInstaller: building the Python archive",
        "  PyInstaller: building the executable",
    ]


def test_failing_pyinstaller_is_es913_with_its_last_lines(tmp_path):
    """PyInstaller exiting non-zero: ES913 quoting its log's end; no launcher written."""
    runner = FakeRunner(answer=_failed)
    with pytest.raises(ToolError) as info:
        freeze_launcher(tmp_path / "out", launcher_name="e-secure", epoch=1, runner=runner)
    assert info.value.code == "ES913"
    assert info.value.detail.startswith("pyinstaller failed (exit 1): 123 INFO: PyInstaller")
    assert info.value.detail.endswith(" | 999 ERROR: something broke")
    assert not (tmp_path / "out").exists()


def test_pyinstaller_runs_reproducibly_in_its_work_directory(tmp_path):
    """PyInstaller gets PYTHONHASHSEED=0, SOURCE_DATE_EPOCH, TZ=UTC, its time limit."""
    runner = FakeRunner(answer=_failed)
    with pytest.raises(ToolError):
        freeze_launcher(tmp_path / "out", launcher_name="e-secure", epoch=42, runner=runner)
    (call,) = runner.calls
    assert call.env is not None
    assert (call.env["PYTHONHASHSEED"], call.env["SOURCE_DATE_EPOCH"], call.env["TZ"]) == (
        "0",
        "42",
        "UTC",
    )
    assert (call.timeout, call.code) == (FREEZE_TIMEOUT, "ES913")
    assert call.args[0].endswith("bootstrap.spec")
    assert call.cwd is not None
    assert call.args[call.args.index("--distpath") + 1] == str(call.cwd / "dist")


def test_missing_pyinstaller_is_es919_before_anything_starts(tmp_path):
    """No PyInstaller: ES919 with the pip command for this venv; nothing ran or was written."""
    runner = FakeRunner(absent=frozenset({"pyinstaller"}))
    log: list[str] = []
    with pytest.raises(ToolError) as info:
        freeze_launcher(
            tmp_path / "out", launcher_name="e-secure", epoch=1, log=log.append, runner=runner
        )
    assert info.value.code == "ES919"
    assert info.value.detail == (
        "pyinstaller is not installed, and freezing the launcher needs it: install it with "
        f"`{sys.executable} -m pip install pyinstaller`"
    )
    assert runner.calls == []
    assert log == []
    assert not (tmp_path / "out").exists()
