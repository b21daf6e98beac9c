"""The data partition: a clean, reproducible FAT32 image made by dosfstools + mtools."""

from __future__ import annotations

import subprocess

from esecure.bundle.fat import volume_id, write_fat

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
