"""The client against a real repository over real HTTP: check, plan, download, install into
the component store, mark good, collect garbage."""

from __future__ import annotations

import pytest

from esecure.errors import UpdateError
from esecure.updater.client import UpdateClient, last_check, mark_good
from esecure_onkey import boot, store
from esecure_onkey.components import mount
from esecure_onkey.layout import component_dir

from .conftest import APP, PLATFORM, component_ids, snapshot_tree, update


def _resolved(repo, data, rid, *, full=True):
    resolved = store.resolve(data, rid, repo.cd, PLATFORM, full=full)
    assert not isinstance(resolved, str), resolved
    return resolved


def test_first_update_writes_only_the_changed_component(repo, tmp_path):
    """From the CD-ROM's 0.9.0 to 1.0.0 (app changed): only app is written to the store;
    every other component is the CD-ROM's own; the pointer names 1.0.0 on trial."""
    data = tmp_path / "data"
    client = repo.client(data)
    offer = client.check("0.9.0")
    assert (offer.version, offer.use_patch) == ("1.0.0", False)
    assert [c.name for c in offer.components] == ["app"]
    rid = client.install(offer, client.download(offer))
    ids = component_ids(repo.bundles["1.0.0"])
    assert sorted(p.name for p in (data / "store").iterdir() if p.is_dir()) == [ids["app"]]
    pointer = boot.read_pointer(data)
    assert (pointer.release, pointer.previous, pointer.version, pointer.good) == (
        rid,
        "cd",
        "1.0.0",
        False,
    )
    resolved = _resolved(repo, data, rid)
    assert resolved.dirs["app"] == component_dir(data, ids["app"])
    assert resolved.dirs[f"firefox-{PLATFORM}"] == repo.cd / mount(f"firefox-{PLATFORM}")
    assert (resolved.dirs["app"] / "product.json").read_text().count('"1.0.0"') == 1
    assert last_check(data) is not None


def test_next_update_patches_the_installed_component(repo, tmp_path):
    """1.0.0 -> 1.1.0 downloads the small per-file patch against the installed app."""
    data = tmp_path / "data"
    first = update(repo, data, "0.9.0")
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    client = repo.client(data)
    offer = client.check("1.0.0", running=first)
    assert [c.name for c in offer.components] == ["app"]
    assert offer.use_patch
    plan = offer.components[0]
    assert plan.patch.length < plan.archive.length / 3
    assert offer.download_size == plan.listed.length + plan.signature.length + plan.patch.length
    rid = client.install(offer, client.download(offer))
    pointer = boot.read_pointer(data)
    assert (pointer.release, pointer.previous, pointer.version) == (rid, first, "1.1.0")
    _resolved(repo, data, rid)


def test_a_key_on_the_cd_release_gets_the_full_archive_not_a_patch(repo, tmp_path):
    """The patch of 1.1.0 is from 1.0.0's app: a key still on the CD-ROM's app gets the
    full archive of the new app."""
    data = tmp_path / "data"
    repo.publish("1.1.0", tmp_path)
    offer = repo.client(data).check("0.9.0")
    assert not offer.use_patch
    assert [c.name for c in offer.components] == ["app"]


def test_patch_that_does_not_apply_falls_back_to_the_full_archive(repo, tmp_path):
    """A patch whose frames do not decode (here: the base file it patches is damaged)
    is replaced by the full archive; the installed release is whole."""
    data = tmp_path / "data"
    first = update(repo, data, "0.9.0")
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    client = repo.client(data)
    offer = client.check("1.0.0", running=first)
    assert offer.use_patch
    downloaded = client.download(offer)
    patch = downloaded.components[0].patch
    patch.write_bytes(patch.read_bytes()[:-3000] + b"\0" * 3000)  # after TUF's check
    rid = client.install(offer, downloaded)
    assert "download.archive-fetched" in client.cp.seen
    _resolved(repo, data, rid)


def test_unchanged_components_are_never_downloaded_again(repo, tmp_path):
    """A check right after an install plans nothing more for the release installed."""
    data = tmp_path / "data"
    rid = update(repo, data, "0.9.0")
    repo.publish("1.1.0", tmp_path, deps="2")
    offer = repo.client(data).check("1.0.0", running=rid)
    assert sorted(c.name for c in offer.components) == ["app", f"deps-{PLATFORM}"]


def test_up_to_date_is_none(repo, tmp_path):
    """No newer version: check() says None, and records the successful check."""
    data = tmp_path / "data"
    assert repo.client(data).check("1.0.0") is None
    assert last_check(data) is not None


def test_required_release_is_installed_before_newer_ones(repo, tmp_path):
    """1.1.0 required and 1.2.0 available: 1.0.0 goes to 1.1.0 first, without 'later'."""
    data = tmp_path / "data"
    repo.publish("1.1.0", tmp_path, required=True)
    repo.publish("1.2.0", tmp_path)
    offer = repo.client(data).check("1.0.0")
    assert (offer.version, offer.required) == ("1.1.0", True)
    assert repo.client(data).check("1.1.0").required is False


def test_unreachable_repository_is_es520(repo, tmp_path):
    """A server that does not answer is 'offline' (ES520), not a security error."""
    data = tmp_path / "data"
    c = UpdateClient(data, "http://127.0.0.1:9/", APP, cd=repo.cd, timeout=2)
    with pytest.raises(UpdateError) as err:
        c.check("1.0.0")
    assert err.value.code == "ES520"
    assert last_check(data) is None


def test_mark_good_stops_counting_starts_then_collects_garbage(repo, tmp_path):
    """After mark_good the bootstrap never rolls the new release back, and the components
    the release in force does not reference are gone: only then."""
    data = tmp_path / "data"
    first = update(repo, data, "0.9.0")
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    second = update(repo, data, "1.0.0", running=first)
    old_app = component_ids(repo.bundles["1.0.0"])["app"]
    assert component_dir(data, old_app).is_dir()  # on trial: 1.0.0 is the fallback
    assert (data / "releases" / f"{first}.json").is_file()
    assert mark_good(data, running=second) is True
    assert not component_dir(data, old_app).exists()
    assert not list((data / "store").glob(f"{old_app}*"))
    assert sorted(p.name for p in (data / "releases").iterdir()) == [
        f"{second}.json",
        f"{second}.sig",
    ]
    for _ in range(3):
        assert boot.choose(repo.cd, data, platform=PLATFORM).release == second
    assert mark_good(data) is False


def test_mark_good_from_a_degraded_start_marks_and_collects_nothing(repo, tmp_path):
    """The running release is not the pointer's (a degraded start): nothing changes."""
    data = tmp_path / "data"
    update(repo, data, "0.9.0")
    before = snapshot_tree(data)
    assert mark_good(data, running="cd") is False
    assert snapshot_tree(data) == before


def test_a_running_version_outside_the_grammar_is_refused_not_guessed(repo, tmp_path):
    """Nothing compares with `1.2.0.post1`: ES510, rather than "older than every release"."""
    data = tmp_path / "data"
    with pytest.raises(UpdateError) as info:
        repo.client(data).check("1.2.0.post1")
    assert info.value.code == "ES510"
    assert "'1.2.0.post1' is not a version" in info.value.detail
    assert not (data / "store").exists()


def test_no_archive_cache_and_no_download_left_anywhere(repo, tmp_path):
    """After two updates the data area holds the store, the records and the metadata
    only: no archive, no patch, no download; the host's download directory is gone."""
    data, downloads = tmp_path / "data", tmp_path / "downloads"
    first = update(repo, data, "0.9.0", download_dir=downloads)
    repo.publish("1.1.0", tmp_path)
    update(repo, data, "1.0.0", running=first, download_dir=downloads)
    suffixes = {p.name.rsplit(".", 1)[-1] for p in data.rglob("*") if p.is_file()}
    assert not suffixes & {"gz", "tar", "patch", "part", "zst", "zpatch"}
    tops = {p.name for p in data.iterdir()}
    assert tops == {"store", "releases", "updates", "pointer-0", "pointer-1"}
    assert {p.name for p in (data / "updates").iterdir()} == {"metadata", "last-check.json"}
    assert list(downloads.iterdir()) == []
