"""A full or read-only data area: "could not update, go on" (ES524), never a traceback."""

from __future__ import annotations

import errno
import io
import math
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import pytest

from esecure.errors import StorageError
from esecure.updater._disk import Disk
from esecure.updater.client import UpdateClient, mark_good

from .conftest import snapshot_tree

APP = "demo-bank"


class FullDisk(Disk):
    """A data area that is full: every write fails with ENOSPC once ``full`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.full = True

    def _fail(self, path: Path) -> None:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))

    def write_atomic(self, path: Path, data: bytes) -> None:
        self._fail(path)
        super().write_atomic(path, data)

    def write(self, path: Path, data: bytes) -> None:
        self._fail(path)
        super().write(path, data)


def _client(repo, data, disk):
    return UpdateClient(
        data,
        repo.url,
        APP,
        initial_root=repo.initial_root,
        image_key=repo.image_key,
        timeout=5,
        disk=disk,
    )


def test_full_data_area_before_the_first_check_is_es524(repo, tmp_path):
    """No room for the trusted root: ES524 naming the step, no traceback."""
    with pytest.raises(StorageError) as err:
        _client(repo, tmp_path / "data", FullDisk()).check("0.9.0")
    assert err.value.code == "ES524"
    assert "No space left on device" in err.value.detail


def test_full_data_area_when_keeping_verified_metadata_is_es524(repo, tmp_path):
    """The refresh verified, but the data area is full when keeping it: ES524."""
    data, disk = tmp_path / "data", FullDisk()
    disk.full = False
    c = _client(repo, data, disk)
    offer = c.check("0.9.0")
    c.install(offer, c.download(offer), running_slot=None)
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    disk.full = True
    with pytest.raises(StorageError) as err:
        _client(repo, data, disk).check("1.0.0")
    assert err.value.code == "ES524"
    assert "keeping the verified update metadata" in err.value.detail


def test_unreadable_patch_base_is_es524(repo, tmp_path):
    """The cached base archive cannot be read (I/O error): ES524, nothing installed."""
    data = tmp_path / "data"
    c = _client(repo, data, Disk())
    offer = c.check("0.9.0")
    c.install(offer, c.download(offer), running_slot=None)
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    c = _client(repo, data, Disk())
    offer = c.check("1.0.0")
    assert offer.use_patch
    base = data / "updates" / "cache" / f"{APP}-1.0.0.tar"
    base.unlink()
    base.mkdir()  # reading it now fails with IsADirectoryError (an OSError)
    before = snapshot_tree(data / "slots")
    with pytest.raises(StorageError) as err:
        c.download(offer)
    assert err.value.code == "ES524"
    assert "patch base" in err.value.detail
    assert snapshot_tree(data / "slots") == before


class _Usage(NamedTuple):
    total: int
    used: int
    free: int


def _footprint(tar: bytes, cluster: int) -> int:
    """What the install writes, counted here on its own: files and folders in clusters,
    plus the archive kept as the next patch base."""
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        members = archive.getmembers()
    files = sum(-(-m.size // cluster) * cluster for m in members if m.isfile())
    folders = {"."} | {m.name.strip("./") or "." for m in members if m.isdir()}
    for m in members:
        folders.update(str(p) for p in PurePosixPath(m.name.lstrip("./")).parents)
    return files + cluster * len(folders) + -(-len(tar) // cluster) * cluster


def _everything(root: Path) -> tuple[dict[str, bytes], list[str]]:
    return snapshot_tree(root), sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _downloaded(repo, data):
    c = _client(repo, data, Disk())
    offer = c.check("0.9.0")
    return c, offer, c.download(offer)


def test_too_little_free_space_is_es524_and_nothing_is_written(repo, tmp_path, monkeypatch):
    """Free space below what the install writes: ES524 with both sizes in MB, the data
    area byte-identical (files and folders)."""
    data = tmp_path / "data"
    c, offer, tar = _downloaded(repo, data)
    needed = _footprint(tar, os.statvfs(data).f_frsize)
    asked: list[Path] = []

    def disk_usage(path: Path) -> _Usage:
        asked.append(Path(path))
        return _Usage(total=8_000_000, used=8_000_000 - 1_234_567, free=1_234_567)

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    before = _everything(data)
    with pytest.raises(StorageError) as err:
        c.install(offer, tar, running_slot=None)
    assert err.value.code == "ES524"
    assert err.value.detail == (
        f"the update needs {math.ceil(needed / 100_000) / 10:.1f} MB on the key's data area "
        "and 1.2 MB are free: nothing was written"
    )
    assert needed > 1_234_567
    assert asked == [data]
    assert _everything(data) == before
    assert not (data / "slots").exists()


def test_free_space_of_exactly_the_footprint_is_enough(repo, tmp_path, monkeypatch):
    """The check counts the real footprint: one byte short refuses, exactly enough installs."""
    data = tmp_path / "data"
    c, offer, tar = _downloaded(repo, data)
    needed = _footprint(tar, os.statvfs(data).f_frsize)
    free = [needed - 1]
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: _Usage(needed * 2, 0, free[0]))
    with pytest.raises(StorageError):
        c.install(offer, tar, running_slot=None)
    free[0] = needed
    assert c.install(offer, tar, running_slot=None) == "A"
