"""The client against a real repository over real HTTP: check, download, patch, install."""

from __future__ import annotations

import io
import tarfile

import pytest

from esecure.errors import UpdateError, UpdateSecurityError
from esecure.updater.client import UpdateClient, install_footprint, last_check, mark_good
from esecure_onkey import boot

APP = "demo-bank"


def _client(repo, data, **kw):
    return UpdateClient(
        data,
        repo.url,
        APP,
        initial_root=repo.initial_root,
        image_key=repo.image_key,
        timeout=5,
        **kw,
    )


def _update(repo, data, current, running=None):
    c = _client(repo, data)
    offer = c.check(current)
    assert offer is not None
    tar = c.download(offer)
    return offer, c.install(offer, tar, running_slot=running)


def test_first_update_installs_the_full_archive_into_slot_a(repo, tmp_path):
    """From the CD-ROM's version, the full archive goes into slot A, on trial."""
    data = tmp_path / "data"
    offer, slot = _update(repo, data, "0.9.0")
    assert (offer.version, offer.use_patch, slot) == ("1.0.0", False, "A")
    assert offer.download_size == offer.chain[-1].archive.length
    pointer = boot.read_pointer(data)
    assert (pointer.active, pointer.previous, pointer.good) == ("A", "cd", False)
    record, why = boot.check_slot(data, "A", full=True)
    assert record is not None, why
    assert (data / "slots" / "A" / "product.json").read_text() == '{"version": "1.0.0"}\n'
    assert last_check(data) is not None


def test_next_update_uses_the_patch_and_the_other_slot(repo, tmp_path):
    """1.0.0 -> 1.1.0 downloads only the small zstd patch and installs into slot B."""
    data = tmp_path / "data"
    _update(repo, data, "0.9.0")
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    offer, slot = _update(repo, data, "1.0.0", running="A")
    assert (offer.use_patch, slot) == (True, "B")
    assert offer.download_size < offer.chain[-1].archive.length / 20
    pointer = boot.read_pointer(data)
    assert (pointer.active, pointer.previous, pointer.version) == ("B", "A", "1.1.0")
    assert boot.check_slot(data, "B", full=True)[0] is not None


def test_patch_that_does_not_apply_falls_back_to_the_full_archive(repo, tmp_path):
    """A damaged local patch base makes the client fetch the full archive instead."""
    data = tmp_path / "data"
    _update(repo, data, "0.9.0")
    repo.publish("1.1.0", tmp_path)
    base = data / "updates" / "cache" / f"{APP}-1.0.0.tar"
    base.write_bytes(base.read_bytes()[:-5000] + b"\0" * 5000)
    offer, slot = _update(repo, data, "1.0.0", running="A")
    assert offer.use_patch
    assert boot.check_slot(data, slot, full=True)[0].version == "1.1.0"


def test_up_to_date_is_none(repo, tmp_path):
    """No newer version: check() says None, and records the successful check."""
    data = tmp_path / "data"
    assert _client(repo, data).check("1.0.0") is None
    assert last_check(data) is not None


def test_required_release_is_installed_before_newer_ones(repo, tmp_path):
    """1.1.0 required and 1.2.0 available: 1.0.0 goes to 1.1.0 first, without 'later'."""
    data = tmp_path / "data"
    repo.publish("1.1.0", tmp_path, required=True)
    repo.publish("1.2.0", tmp_path)
    offer = _client(repo, data).check("1.0.0")
    assert (offer.version, offer.required) == ("1.1.0", True)
    assert _client(repo, data).check("1.1.0").required is False


def test_unreachable_repository_is_es520(repo, tmp_path):
    """A server that does not answer is 'offline' (ES520), not a security error."""
    data = tmp_path / "data"
    c = UpdateClient(
        data,
        "http://127.0.0.1:9/",
        APP,
        initial_root=repo.initial_root,
        image_key=repo.image_key,
        timeout=2,
    )
    with pytest.raises(UpdateError) as err:
        c.check("1.0.0")
    assert err.value.code == "ES520"
    assert last_check(data) is None


def test_mark_good_stops_counting_starts(repo, tmp_path):
    """After mark_good, the bootstrap never rolls the new version back."""
    data = tmp_path / "data"
    _update(repo, data, "0.9.0")
    assert mark_good(data) is True
    for _ in range(3):
        assert boot.choose(tmp_path, data).slot == "A"
    assert mark_good(data) is False


def test_a_running_version_outside_the_grammar_is_refused_not_guessed(repo, tmp_path):
    """Nothing compares with `1.2.0.post1`: ES510, rather than "older than every release"."""
    data = tmp_path / "data"
    with pytest.raises(UpdateError) as info:
        _client(repo, data).check("1.2.0.post1")
    assert info.value.code == "ES510"
    assert "'1.2.0.post1' is not a version" in info.value.detail
    assert not (data / "slots").exists()


def _tar(members: list[tuple[str, int | None]]) -> bytes:
    """An uncompressed tar of folders (size None) and files of the given sizes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, size in members:
            info = tarfile.TarInfo(name)
            if size is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = size
                tar.addfile(info, io.BytesIO(b"x" * size))
    return out.getvalue()


@pytest.mark.parametrize(
    ("members", "cluster", "files", "folders"),
    [
        # one byte costs a cluster; 4097 bytes two; an empty file none
        ([("product.json", 1), ("lib/x/a.py", 4097), ("lib/b", 0)], 4096, 3 * 4096, 3),
        # folders listed in the archive or only implied by a path count once each
        ([("lib", None), ("lib/x", None), ("lib/x/a.py", 10)], 4096, 4096, 3),
        ([("./product.json", 600)], 512, 1024, 1),
    ],
)
def test_install_footprint_counts_clusters_folders_and_the_kept_archive(
    members, cluster, files, folders
):
    """Files rounded up to the cluster, one cluster per folder, plus the archive itself."""
    tar = _tar(members)
    kept = -(-len(tar) // cluster) * cluster
    assert install_footprint(tar, cluster) == files + folders * cluster + kept


def test_install_footprint_of_a_stream_that_is_no_tar_is_es506():
    """Bytes that are not a tar archive: a broken release (ES506), not a crash."""
    with pytest.raises(UpdateSecurityError) as err:
        install_footprint(b"\x00garbage" * 100, 4096)
    assert err.value.code == "ES506"
