"""Freezing the launcher through the tool runner: PyInstaller's phases, its absence, its
failure; the app component and a launcher directory's deps.

The real PyInstaller run is in test_image.py (slow); here a fake runner plays PyInstaller.
"""

from __future__ import annotations

import sys

import pytest

from esecure._tools import Result
from esecure.bundle.freeze import (
    FREEZE_TIMEOUT,
    assemble_app,
    check_launcher_dir,
    copy_deps,
    freeze_launcher,
)
from esecure.bundle.tree import walk_files
from esecure.errors import ToolError, UsageError
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


def test_app_is_the_esecure_package_compiled_and_nothing_else(tmp_path):
    """assemble_app: esecure's modules with unchecked-hash .pyc, no esecure_onkey, no deps."""
    assemble_app(tmp_path / "app")
    top = sorted(p.name for p in (tmp_path / "app").iterdir())
    assert top == ["esecure"]
    assert (tmp_path / "app/esecure/launcher/app.py").is_file()
    (pyc,) = (tmp_path / "app/esecure/launcher/__pycache__").glob("app.*.pyc")
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, not checked against the source


def test_app_is_reproducible(tmp_path):
    """Two assemblies of the app give the same files, byte for byte."""
    assemble_app(tmp_path / "a")
    assemble_app(tmp_path / "b")
    first, second = walk_files(tmp_path / "a"), walk_files(tmp_path / "b")
    assert first == second
    for rel in first:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_deps_from_a_launcher_directory_leave_esecure_out(tmp_path):
    """copy_deps: an older launcher directory's esecure, esecure_onkey and esecure's
    dist-info stay out of the deps component; every other package is copied."""
    lib = tmp_path / "lib"
    for rel in (
        "esecure/__init__.py",
        "esecure_onkey/__init__.py",
        "esecure-0.1.0.dist-info/METADATA",
        "esecure_tools/__init__.py",
        "six.py",
        "cryptography/__init__.py",
        "cryptography-44.0.0.dist-info/METADATA",
    ):
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_text("x\n")
    copy_deps(lib, tmp_path / "deps", "linux")
    assert walk_files(tmp_path / "deps") == [
        "cryptography-44.0.0.dist-info/METADATA",
        "cryptography/__init__.py",
        "esecure_tools/__init__.py",
        "six.py",
    ]


def test_launcher_directory_needs_its_bootstrap_runtime_and_lib(tmp_path):
    """A launcher directory without esecure in lib/ (an extracted image's root) is one;
    one without lib/<platform> is ES916 naming it."""
    (tmp_path / "runtime-linux").mkdir()
    (tmp_path / "e-secure").write_bytes(b"\x7fELF")
    with pytest.raises(UsageError) as info:
        check_launcher_dir(tmp_path, "linux", "e-secure")
    assert info.value.code == "ES916"
    assert "third-party packages (lib/)" in info.value.detail
    (tmp_path / "lib" / "linux").mkdir(parents=True)
    check_launcher_dir(tmp_path, "linux", "e-secure")
