"""A full or read-only data area: "could not update, go on" (ES524), never a traceback;
free space is checked before anything is written."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from esecure.errors import StorageError
from esecure.updater._disk import Disk
from esecure.updater.client import mark_good
from esecure_onkey import boot

from .conftest import PLATFORM, component_ids, snapshot_tree, tree_files, update


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

    def write_stream(self, path, chunks):
        self._fail(path)
        return super().write_stream(path, chunks)


class SmallDisk(Disk):
    """A data area reporting ``free`` bytes free, in 4 KiB clusters."""

    def __init__(self, free: int) -> None:
        super().__init__()
        self.free = free

    def free_space(self, path: Path) -> tuple[int, int]:  # noqa: ARG002 - the real signature
        return self.free, 4096


def test_full_data_area_before_the_first_check_is_es524(repo, tmp_path):
    """No room for the trusted root: ES524 naming the step, no traceback."""
    with pytest.raises(StorageError) as err:
        repo.client(tmp_path / "data", disk=FullDisk()).check("0.9.0")
    assert err.value.code == "ES524"
    assert "No space left on device" in err.value.detail


def test_full_data_area_when_keeping_verified_metadata_is_es524(repo, tmp_path):
    """The refresh verified, but the data area is full when keeping it: ES524."""
    data, disk = tmp_path / "data", FullDisk()
    disk.full = False
    rid = update(repo, data, "0.9.0", disk=disk)
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    disk.full = True
    with pytest.raises(StorageError) as err:
        repo.client(data, disk=disk).check("1.0.0", running=rid)
    assert err.value.code == "ES524"
    assert "keeping the verified update metadata" in err.value.detail


def test_too_little_free_space_is_es524_with_both_numbers_before_any_write(repo, tmp_path):
    """The files to write, rounded up to the cluster, do not fit: ES524 saying how much is
    free and how much is needed; nothing was written to the store."""
    data = tmp_path / "data"
    client = repo.client(data, disk=SmallDisk(100_000))
    offer = client.check("0.9.0")
    before = snapshot_tree(data)
    with pytest.raises(StorageError) as err:
        client.install(offer, client.download(offer))
    assert err.value.code == "ES524"
    assert "has 100,000 bytes free; this update needs " in err.value.detail
    needed = int(err.value.detail.split("needs ")[1].split(" ")[0].replace(",", ""))
    app_files = sum(-(-s // 4096) * 4096 for s, _h in _sizes(repo, "1.0.0", "app"))
    assert app_files < needed < app_files + 64 * 4096
    assert snapshot_tree(data) == before
    assert boot.read_pointer(data) is None


def _sizes(repo, version, name):
    return tree_files(repo.bundles[version] / name).values()


def test_a_write_failing_mid_install_is_es524_and_leaves_the_store_as_it_was(repo, tmp_path):
    """The data area fills up while a component is written: ES524, staging removed, no
    record, no pointer: the key goes on with what it runs."""
    data, disk = tmp_path / "data", FullDisk()
    disk.full = False
    client = repo.client(data, disk=disk)
    offer = client.check("0.9.0")
    downloaded = client.download(offer)
    before = snapshot_tree(data)
    disk.full = True
    with pytest.raises(StorageError) as err:
        client.install(offer, downloaded)
    assert err.value.code == "ES524"
    assert snapshot_tree(data) == before
    assert not (data / "store" / ".staging").exists()


def test_an_unreadable_patch_base_falls_back_to_the_full_archive(repo, tmp_path):
    """The installed base cannot be read (a file turned into a directory): the patch does
    not apply, the full archive is fetched and installed."""
    data = tmp_path / "data"
    rid = update(repo, data, "0.9.0")
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    client = repo.client(data)
    offer = client.check("1.0.0", running=rid)
    assert offer.use_patch
    base = data / "store" / component_ids(repo.bundles["1.0.0"])["app"] / "esecure" / "mod_001.py"
    base.unlink()
    base.mkdir()  # reading it now fails with IsADirectoryError (an OSError)
    new = client.install(offer, client.download(offer))
    assert "download.archive-fetched" in client.cp.seen
    choice = boot.choose(repo.cd, data, platform=PLATFORM)
    assert (choice.release, choice.degraded) == (new, False)
