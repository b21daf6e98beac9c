"""The data partition: a clean, reproducible FAT32 image made by dosfstools + mtools."""

from __future__ import annotations

import subprocess

import pytest

from esecure._tools import Result, SubprocessRunner
from esecure.bundle.fat import volume_id, write_fat
from esecure.errors import ToolError
from tests.fake_runner import FakeRunner

FILES = {"identity.json": b'{"serial": "X"}\n', "e-secure/README.TXT": b"hello\r\n"}


def _fsck(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/usr/sbin/fsck.fat", "-n", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_empty_image_is_clean_fat32(tmp_path):
    """fsck.fat -n finds the empty image clean, and its label is the config's."""
    out = tmp_path / "data.img"
    write_fat(out, label="ESECUREDATA", size_mib=40, epoch=1_700_000_000)
    assert out.stat().st_size == 40 * 1024 * 1024
    proc = _fsck(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    label = subprocess.run(
        ["mlabel", "-s", "-i", str(out), "::"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
    )
    assert "ESECUREDATA" in label.stdout


def test_files_read_back_with_mtools(tmp_path):
    """Each file copied in reads back identical through mtype; fsck is clean."""
    out = tmp_path / "data.img"
    write_fat(out, label="ESECUREDATA", size_mib=40, epoch=1_700_000_000, files=FILES)
    assert _fsck(out).returncode == 0
    for name, data in FILES.items():
        got = subprocess.run(
            ["mtype", "-i", str(out), f"::/{name}"],
            capture_output=True,
            timeout=30,
            check=True,
            env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
        )
        assert got.stdout == data


def test_same_inputs_same_bytes(tmp_path):
    """Two images of the same files are byte-identical; another salt changes the serial."""
    a, b, c = (tmp_path / n for n in ("a.img", "b.img", "c.img"))
    write_fat(a, label="ESECUREDATA", size_mib=40, epoch=1_700_000_000, files=FILES)
    write_fat(b, label="ESECUREDATA", size_mib=40, epoch=1_700_000_000, files=FILES)
    write_fat(
        c, label="ESECUREDATA", size_mib=40, epoch=1_700_000_000, files=FILES, serial_salt="K1"
    )
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert volume_id("ESECUREDATA") != volume_id("ESECUREDATA", "K1")


def test_every_fat_tool_is_looked_up_before_anything_is_written(tmp_path):
    """mcopy missing: ES919 naming mtools, and mkfs.fat never ran (no image written)."""
    runner = FakeRunner(absent=frozenset({"mcopy"}))
    out = tmp_path / "data.img"
    with pytest.raises(ToolError) as info:
        write_fat(out, label="ESECUREDATA", size_mib=40, epoch=1, files=FILES, runner=runner)
    assert info.value.code == "ES919"
    assert info.value.detail == (
        "mcopy is not installed, and writing the FAT data partition (data.img) needs it: "
        "install it with `sudo apt-get install mtools`"
    )
    assert runner.calls == []
    assert not out.exists()


def test_missing_mkfs_fat_names_dosfstools_with_the_real_runner(tmp_path):
    """The real runner, mkfs.fat's configured path absent: ES919 naming dosfstools."""
    absent = tmp_path / "mkfs.fat"
    runner = SubprocessRunner(paths={"mkfs.fat": absent})
    with pytest.raises(ToolError) as info:
        write_fat(tmp_path / "data.img", label="ESECUREDATA", size_mib=40, epoch=1, runner=runner)
    assert info.value.detail == (
        f"mkfs.fat is not at {absent}, and writing the FAT data partition (data.img) needs "
        "it: install it with `sudo apt-get install dosfstools`, or correct that path"
    )


def test_fat_tools_run_clock_free_under_es913(tmp_path):
    """Each tool runs with TZ=UTC, SOURCE_DATE_EPOCH and ES913 for its failures."""
    runner = FakeRunner()
    write_fat(tmp_path / "d.img", label="L", size_mib=40, epoch=7, files=FILES, runner=runner)
    assert [c.tool for c in runner.calls] == ["mkfs.fat", "mmd", "mcopy", "mcopy"]
    for call in runner.calls:
        assert call.env is not None
        assert (call.env["TZ"], call.env["SOURCE_DATE_EPOCH"]) == ("UTC", "7")
        assert (call.code, call.check) == ("ES913", True)


def test_a_failing_fat_tool_is_es913_with_its_output(tmp_path):
    """mkfs.fat exiting non-zero: ES913 quoting its stderr."""
    runner = FakeRunner(answer=lambda _tool, _args: Result(1, "", "mkfs.fat: bad size\n"))
    with pytest.raises(ToolError) as info:
        write_fat(tmp_path / "d.img", label="L", size_mib=40, epoch=1, runner=runner)
    assert (info.value.code, info.value.detail) == (
        "ES913",
        "mkfs.fat failed (exit 1): mkfs.fat: bad size",
    )
