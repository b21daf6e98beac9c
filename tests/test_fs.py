"""Durable writes: the final name holds the old bytes or the new, never a torn file."""

from __future__ import annotations

import errno
import os

import pytest

from esecure._fs import atomic_write
from esecure.errors import StorageError


def test_atomic_write_sets_mode_and_content(tmp_path):
    """The file has its bytes and its permissions."""
    target = tmp_path / "sub" / "key.pem"
    atomic_write(target, b"secret", mode=0o600)
    assert target.read_bytes() == b"secret"
    assert target.stat().st_mode & 0o777 == 0o600


def test_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    """ENOSPC mid-write: StorageError naming the file; old content kept; no stray file."""
    target = tmp_path / "state.json"
    target.write_bytes(b"old")

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageError) as caught:
        atomic_write(target, b"new")
    assert caught.value.code == "ES905"
    assert str(target) in caught.value.detail
    assert "No space left on device" in caught.value.detail
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
