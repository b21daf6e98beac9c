"""The one runner of outside tools: finds them, runs them, names a missing one's package."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from esecure._tools import (
    CERTUTIL,
    MCOPY,
    MKFS_FAT,
    MMD,
    PK12UTIL,
    PYINSTALLER,
    SYSTEM,
    XORRISO,
    Result,
    SubprocessRunner,
    Tool,
)
from esecure.errors import ToolError

SH = Tool("sh", "sudo apt-get install dash")
SLEEP = Tool("sleep", "sudo apt-get install coreutils")


def _sh(script: str, **kwargs):
    return SYSTEM.run(SH, ["-c", script], needed_by="this test", **kwargs)


# --- finding ---------------------------------------------------------------------------------


def test_real_runner_finds_a_tool_on_the_path():
    """A tool on PATH is found where shutil.which finds it."""
    assert SubprocessRunner().find(SH, needed_by="this test") == (shutil.which("sh"),)


def test_mkfs_fat_is_found_and_runs_off_the_path():
    """mkfs.fat lives in /usr/sbin, which a user's PATH may lack: it is still found and runs."""
    runner = SubprocessRunner(search_path="/nowhere")
    (program,) = runner.find(MKFS_FAT, needed_by="this test")
    assert Path(program).parent in {Path("/usr/sbin"), Path("/sbin")}
    result = runner.run(
        MKFS_FAT, ["--help"], needed_by="this test", code="ES913", timeout=30, check=False
    )
    assert "mkfs.fat" in result.stdout + result.stderr


def test_explicit_path_wins_over_the_path():
    """A tool given an explicit path is that program, whatever PATH holds."""
    true = Path(shutil.which("true") or "/bin/true")
    runner = SubprocessRunner(paths={"xorriso": true}, search_path="/nowhere")
    assert runner.find(XORRISO, needed_by="this test") == (str(true),)


def test_python_module_tool_runs_in_this_interpreter():
    """PyInstaller is `python -m PyInstaller` with the interpreter (and venv) e-secure runs in."""
    assert SYSTEM.find(PYINSTALLER, needed_by="this test") == (
        sys.executable,
        "-m",
        "PyInstaller",
    )


# --- a missing tool: ES919 naming the tool, what needs it, and the install command -----------


def test_missing_tool_names_what_needs_it_and_the_package(tmp_path):
    """A tool on no searched directory is ES919 with the exact apt-get command."""
    with pytest.raises(ToolError) as info:
        SubprocessRunner(search_path=str(tmp_path)).find(
            MCOPY, needed_by="writing the FAT data partition (data.img)"
        )
    assert info.value.code == "ES919"
    assert info.value.detail == (
        "mcopy is not installed, and writing the FAT data partition (data.img) needs it: "
        "install it with `sudo apt-get install mtools`"
    )


def test_missing_explicit_path_is_named(tmp_path):
    """An explicit path that holds no program is ES919 quoting that path."""
    absent = tmp_path / "certutil"
    with pytest.raises(ToolError) as info:
        SubprocessRunner(paths={"certutil": absent}).find(CERTUTIL, needed_by="the test")
    assert info.value.code == "ES919"
    assert info.value.detail == (
        f"certutil is not at {absent}, and the test needs it: install it with "
        "`sudo apt-get install libnss3-tools`, or correct that path"
    )


def test_missing_python_module_names_pip_in_this_venv(monkeypatch):
    """PyInstaller not importable: ES919 with this interpreter's `-m pip install pyinstaller`."""
    monkeypatch.setitem(sys.modules, "PyInstaller", None)
    with pytest.raises(ToolError) as info:
        SYSTEM.find(PYINSTALLER, needed_by="freezing the launcher")
    assert info.value.detail == (
        "pyinstaller is not installed, and freezing the launcher needs it: install it with "
        f"`{sys.executable} -m pip install pyinstaller`"
    )


@pytest.mark.parametrize(
    ("tool", "install"),
    [
        (MKFS_FAT, "sudo apt-get install dosfstools"),
        (MMD, "sudo apt-get install mtools"),
        (MCOPY, "sudo apt-get install mtools"),
        (CERTUTIL, "sudo apt-get install libnss3-tools"),
        (PK12UTIL, "sudo apt-get install libnss3-tools"),
        (XORRISO, "sudo apt-get install xorriso"),
    ],
)
def test_each_tool_names_the_debian_package_that_provides_it(tool, install):
    """The install command of each system tool is the Debian package that ships it."""
    assert tool.install == install


def test_a_missing_tool_renders_for_the_terminal():
    """ES919 is an operation error (exit 1) whose rendering leads with the install command."""
    with pytest.raises(ToolError) as info:
        SubprocessRunner(search_path="/nowhere").find(XORRISO, needed_by="the test")
    assert info.value.exit_code == 1
    assert info.value.render().splitlines()[:2] == [
        "error ES919: A program e-secure runs (mkfs.fat, mtools, PyInstaller, certutil…) is "
        "not installed.",
        "  xorriso is not installed, and the test needs it: install it with "
        "`sudo apt-get install xorriso`",
    ]


# --- running ---------------------------------------------------------------------------------


def test_output_is_captured_separately():
    """stdout and stderr come back apart, with the exit status."""
    result = _sh("echo out; echo err >&2", code="ES913", timeout=30)
    assert result == Result(0, "out\n", "err\n")


def test_environment_and_directory_are_the_callers(tmp_path):
    """``env`` replaces the environment and ``cwd`` is the working directory."""
    result = _sh(
        'echo "$TZ $PWD"', code="ES913", timeout=30, env={"TZ": "UTC", "PATH": "/bin"}, cwd=tmp_path
    )
    assert result.stdout == f"UTC {tmp_path}\n"


def test_failure_is_the_callers_code_with_the_last_lines():
    """Non-zero exit: a ToolError under the caller's code quoting the last 20 stderr lines."""
    script = "for i in $(seq 1 30); do echo line$i >&2; done; exit 3"
    with pytest.raises(ToolError) as info:
        _sh(script, code="ES211", timeout=30)
    assert info.value.code == "ES211"
    tail = " | ".join(f"line{i}" for i in range(11, 31))
    assert info.value.detail == f"sh failed (exit 3): {tail}"


def test_unchecked_failure_returns_the_status():
    """check=False: a non-zero exit is returned for the caller to judge."""
    assert _sh("exit 4", code="ES211", timeout=30, check=False).returncode == 4


def test_timeout_is_the_callers_code():
    """A tool still running at its time limit is stopped: ToolError under the caller's code."""
    with pytest.raises(ToolError) as info:
        SYSTEM.run(SLEEP, ["30"], needed_by="this test", code="ES913", timeout=0.2)
    assert (info.value.code, info.value.detail) == ("ES913", "sleep did not finish in 0.2 s")


def test_stderr_lines_stream_to_the_callback_as_they_come():
    """on_line sees each stderr line before the program ends; stdout is collected aside."""
    seen: list[tuple[str, float]] = []
    start = time.monotonic()
    result = _sh(
        "echo one >&2; echo out; sleep 1; echo two >&2",
        code="ES913",
        timeout=30,
        on_line=lambda line: seen.append((line, time.monotonic() - start)),
    )
    assert [line for line, _ in seen] == ["one", "two"]
    assert seen[0][1] < seen[1][1] - 0.5  # "one" arrived while the program still ran
    assert result == Result(0, "out\n", "one\ntwo\n")


def test_streamed_timeout_stops_the_helpers_too():
    """A streamed tool whose child keeps stderr open still stops at its time limit."""
    start = time.monotonic()
    with pytest.raises(ToolError) as info:
        _sh("sleep 30 & echo started >&2; wait", code="ES913", timeout=0.5, on_line=lambda _l: None)
    assert info.value.detail == "sh did not finish in 0.5 s"
    assert time.monotonic() - start < 10


def test_a_failing_callback_stops_the_program():
    """An exception in on_line ends the program and reaches the caller unchanged."""

    def boom(_line: str) -> None:
        raise RuntimeError("callback")

    start = time.monotonic()
    with pytest.raises(RuntimeError, match="callback"):
        _sh("echo x >&2; sleep 30", code="ES913", timeout=60, on_line=boom)
    assert time.monotonic() - start < 10


def test_explicit_path_to_a_non_executable_is_missing(tmp_path):
    """An explicit path to a file without the execute bit: the tool is missing (ES919)."""
    script = tmp_path / "mcopy"
    script.write_text("not a program")
    with pytest.raises(ToolError) as info:
        SubprocessRunner(paths={"mcopy": script}).run(
            MCOPY, [], needed_by="the test", code="ES913", timeout=5
        )
    assert info.value.code == "ES919"


def test_a_program_of_unknown_format_is_the_callers_code(tmp_path):
    """An executable the system cannot start: a ToolError under the caller's code."""
    script = tmp_path / "mcopy"
    script.write_bytes(b"\x00\x01 not an executable format")
    script.chmod(0o755)
    with pytest.raises(ToolError) as info:
        SubprocessRunner(paths={"mcopy": script}).run(
            MCOPY, [], needed_by="the test", code="ES913", timeout=5
        )
    assert info.value.code == "ES913"
    assert info.value.detail.startswith(f"mcopy could not be started ({script}): ")


def test_tail_prefers_stderr_and_falls_back_to_stdout():
    """The quoted output is stderr's last lines, or stdout's when stderr is empty."""
    assert Result(1, "a\nb\n", "").tail() == "a | b"
    assert Result(1, "a\n", "\nx\n\ny\n").tail() == "x | y"
