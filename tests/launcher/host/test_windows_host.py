"""The Windows host's pure parts (the rest runs in the real e-secure.exe under Wine:
tests/windows/test_wine_session.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from esecure.launcher.host import host_for
from esecure.launcher.host.windows import (
    LOCK_OFFSET,
    WindowsHost,
    _own_directory,
    local_app_data,
    pipe_name,
    pipe_pid,
)


def test_windows_has_its_own_host():
    assert isinstance(host_for("windows"), WindowsHost)
    assert host_for("windows").name == "windows"


def test_pipe_name_is_unique_per_session_and_safe():
    name = pipe_name("s-0123abcd", 4242, "00ff")
    assert name == r"\\.\pipe\e-secure-s-0123abcd-4242-00ff"
    assert pipe_name("a\\b/c:d", 1, "x") == r"\\.\pipe\e-secure-a_b_c_d-1-x"
    assert len(pipe_name("n" * 300, 1, "x")) < 256  # a pipe name's limit
    assert pipe_pid(name) == 4242  # a second start lets this session take the foreground
    assert pipe_pid("/run/user/1/e-secure/s.sock") is None


def test_local_app_data_from_the_environment_else_the_profile():
    home = Path("C:/Users/alice")
    assert local_app_data({"LOCALAPPDATA": "D:/Local"}, home) == Path("D:/Local")
    assert local_app_data({}, home) == home / "AppData" / "Local"


def test_the_lock_byte_lies_past_the_record_and_within_fat32():
    assert 4096 < LOCK_OFFSET < 4 * 1024**3 - 1


def test_a_link_where_our_directory_should_be_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    planted = tmp_path / "e-secure"
    planted.symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="link or junction"):
        _own_directory(planted)
    assert _own_directory(tmp_path / "new" / "run").is_dir()


def test_send_to_anything_but_a_pipe_is_no_answer():
    host = WindowsHost()
    assert host.send("/run/user/1/e-secure/s.sock", b"raise", 0.1) is None
    assert host.send(r"\\.\pipe\e-secure-none-1-x", b"raise", 0.1) is None  # not Windows
