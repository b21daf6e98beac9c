"""The data partition: a clean, reproducible FAT32 image made by dosfstools + mtools, with
4 KiB clusters and its data on a 1 MiB boundary (read back by minfo and fsck.fat)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from esecure._tools import MINFO, SYSTEM, Result, SubprocessRunner
from esecure.bundle import fat32
from esecure.bundle.fat import mkfs_arguments, volume_id, write_fat
from esecure.errors import ToolError, UsageError
from tests.fake_runner import FakeRunner

FILES = {"identity.json": b'{"serial": "X"}\n', "e-secure/README.TXT": b"hello\r\n"}
SIZE = fat32.smallest_mib()  # 257: the smallest FAT32 volume with 4 KiB clusters
MIB = 1024 * 1024


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def minfo(image: Path) -> dict[str, int]:
    """The geometry minfo (mtools) reads from an image's boot sector, through the runner."""
    result = SYSTEM.run(
        MINFO,
        ["-i", str(image), "::"],
        needed_by="the test",
        code="ES913",
        timeout=30,
        env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )
    fields = {
        "sector size": r"sector size: (\d+) bytes",
        "cluster sectors": r"cluster size: (\d+) sectors",
        "reserved": r"reserved \(boot\) sectors: (\d+)",
        "fats": r"fats: (\d+)",
        "fat sectors": r"Big fatlen=(\d+)",
        "sectors": r"big size: (\d+) sectors",
    }
    found = {k: re.search(v, result.stdout) for k, v in fields.items()}
    assert all(found.values()), result.stdout
    return {k: int(m.group(1)) for k, m in found.items() if m}


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
    write_fat(out, label="ESECUREDATA", size_mib=SIZE, epoch=1_700_000_000)
    assert out.stat().st_size == SIZE * MIB
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
    write_fat(out, label="ESECUREDATA", size_mib=SIZE, epoch=1_700_000_000, files=FILES)
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
    write_fat(a, label="ESECUREDATA", size_mib=SIZE, epoch=1_700_000_000, files=FILES)
    write_fat(b, label="ESECUREDATA", size_mib=SIZE, epoch=1_700_000_000, files=FILES)
    write_fat(
        c, label="ESECUREDATA", size_mib=SIZE, epoch=1_700_000_000, files=FILES, serial_salt="K1"
    )
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    assert volume_id("ESECUREDATA") != volume_id("ESECUREDATA", "K1")


def test_every_fat_tool_is_looked_up_before_anything_is_written(tmp_path):
    """mcopy missing: ES919 naming mtools, and mkfs.fat never ran (no image written)."""
    runner = FakeRunner(absent=frozenset({"mcopy"}))
    out = tmp_path / "data.img"
    with pytest.raises(ToolError) as info:
        write_fat(out, label="ESECUREDATA", size_mib=SIZE, epoch=1, files=FILES, runner=runner)
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
        write_fat(tmp_path / "data.img", label="ESECUREDATA", size_mib=SIZE, epoch=1, runner=runner)
    assert info.value.detail == (
        f"mkfs.fat is not at {absent}, and writing the FAT data partition (data.img) needs "
        "it: install it with `sudo apt-get install dosfstools`, or correct that path"
    )


def test_fat_tools_run_clock_free_under_es913(tmp_path):
    """Each tool runs with TZ=UTC, SOURCE_DATE_EPOCH and ES913 for its failures."""
    runner = FakeRunner()
    write_fat(tmp_path / "d.img", label="L", size_mib=SIZE, epoch=7, files=FILES, runner=runner)
    assert [c.tool for c in runner.calls] == ["mkfs.fat", "mmd", "mcopy", "mcopy"]
    for call in runner.calls:
        assert call.env is not None
        assert (call.env["TZ"], call.env["SOURCE_DATE_EPOCH"]) == ("UTC", "7")
        assert (call.code, call.check) == ("ES913", True)


def test_a_failing_fat_tool_is_es913_with_its_output(tmp_path):
    """mkfs.fat exiting non-zero: ES913 quoting its stderr."""
    runner = FakeRunner(answer=lambda _tool, _args: Result(1, "", "mkfs.fat: bad size\n"))
    with pytest.raises(ToolError) as info:
        write_fat(tmp_path / "d.img", label="L", size_mib=SIZE, epoch=1, runner=runner)
    assert (info.value.code, info.value.detail) == (
        "ES913",
        "mkfs.fat failed (exit 1): mkfs.fat: bad size",
    )


@pytest.mark.parametrize("size_mib", [SIZE, 300, 1155])
def test_minfo_reads_4_kib_clusters_and_data_on_a_mib_boundary(tmp_path, size_mib):
    """minfo (through the tools runner): 512-byte sectors, 4 KiB clusters, two FATs, the
    first data cluster at a multiple of 1 MiB, the whole size; fsck.fat -n clean."""
    out = tmp_path / "data.img"
    write_fat(out, label="ESECUREDATA", size_mib=size_mib, epoch=1_700_000_000, files=FILES)
    info = minfo(out)
    assert info["sector size"] * info["cluster sectors"] == 4096
    assert info["fats"] == 2
    data_start = (info["reserved"] + 2 * info["fat sectors"]) * info["sector size"]
    assert data_start % MIB == 0
    assert info["sectors"] * info["sector size"] == size_mib * MIB == out.stat().st_size
    assert info["reserved"] == fat32.layout(size_mib).reserved_sectors
    proc = _fsck(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mkfs_gets_4_kib_clusters_no_alignment_of_its_own_and_the_reserved_sectors():
    """The exact mkfs.fat command line for 300 MiB: -S 512 -s 8, -a, -R 850 (850 + 2 x 599
    FAT sectors = 2048 sectors = 1 MiB), a fixed volume id, --invariant."""
    args = mkfs_arguments(Path("d.img"), label="ESECUREDATA", size_mib=300, volume="0A1B2C3D")
    assert args == [
        *("-F", "32", "-S", "512", "-s", "8", "-f", "2", "-a", "-R", "850"),
        *("-n", "ESECUREDATA", "--invariant", "-i", "0A1B2C3D", "-C", "d.img", "307200"),
    ]


def test_a_size_below_the_smallest_fat32_volume_is_es957(tmp_path):
    """256 MiB would be FAT16 by its count of clusters: ES957 with both sizes, no tool run."""
    runner = FakeRunner()
    out = tmp_path / "d.img"
    with pytest.raises(UsageError) as info:
        write_fat(out, label="L", size_mib=SIZE - 1, epoch=1, runner=runner)
    assert (info.value.code, info.value.exit_code) == ("ES957", 2)
    assert info.value.detail == (
        "a data partition of 256 MiB is below the smallest FAT32 volume with 4 KiB "
        "clusters, 257 MiB: give it at least 257 MiB"
    )
    assert runner.calls == []
    assert not out.exists()


def test_a_volume_other_than_asked_is_es913(tmp_path):
    """mkfs.fat writing 512-byte clusters (its default below 260 MiB) is caught by reading
    the boot sector back: ES913, no file copied in."""
    out = tmp_path / "d.img"

    def mkfs_default(tool: str, args: tuple[str, ...]) -> Result:
        if tool == "mkfs.fat":
            plain = [a for a in args if a not in ("-a",)]
            plain[plain.index("-s") + 1] = "1"
            subprocess.run(["/usr/sbin/mkfs.fat", *plain], capture_output=True, check=True)
        return Result(0)

    runner = FakeRunner(answer=mkfs_default)
    with pytest.raises(ToolError) as info:
        write_fat(out, label="L", size_mib=SIZE, epoch=1, files=FILES, runner=runner)
    assert info.value.code == "ES913"
    assert info.value.detail.startswith("mkfs.fat made another volume than asked for d.img:")
    assert [c.tool for c in runner.calls] == ["mkfs.fat"]
