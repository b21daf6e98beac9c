"""A full or read-only data area: "could not update, go on" (ES524), never a traceback."""

from __future__ import annotations

import errno
from pathlib import Path

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
