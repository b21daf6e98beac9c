"""Publishing: keys, releases made of components (lists, archives, per-file patches, the
release record), status, refresh, and the CLI around them."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
from dataclasses import replace

import pytest
from click.testing import CliRunner

from esecure.cli import cli
from esecure.config import load_project
from esecure.errors import UsageError
from esecure.scaffold import InitOptions, init_project
from esecure.updater import _container
from esecure.updater.publish import due_roles, init_keys, publish, refresh, rotate_key, status
from esecure_onkey.components import decode_component_list, decode_release, digest
from esecure_onkey.ed25519 import check_signature

from .conftest import APP, PLATFORM, component_ids, make_bundle, tree_files


def _quiet(_m: str) -> None:
    return None


def _targets(repo) -> dict:
    path = repo.project.root / "repository" / "metadata" / "targets.json"
    return json.loads(path.read_text())["signed"]["targets"]


def _target_dir(repo):
    return repo.project.root / "repository" / "targets"


def test_a_release_publishes_its_record_signed_with_the_image_key(repo):
    """<v>.release names every component by id; it and its .sig are TUF targets; the
    signature verifies with the CD-ROM's image-signing key."""
    data = (_target_dir(repo) / f"{APP}-1.0.0.release").read_bytes()
    sig = (_target_dir(repo) / f"{APP}-1.0.0.release.sig").read_bytes()
    assert check_signature(data, sig, repo.image_key.read_bytes(), "release") == ""
    record = decode_release(data)
    assert (record.product, record.version) == (APP, "1.0.0")
    assert record.components == component_ids(repo.bundles["1.0.0"])
    targets = _targets(repo)
    assert targets[f"{APP}-1.0.0.release"]["custom"] == {"esecure": {"required": False}}
    assert f"{APP}-1.0.0.release.sig" in targets


def test_each_new_component_gets_its_list_archive_and_signature(repo):
    """Every component of the first release is new: list (id = SHA-256), signature, and
    a reproducible full archive of its files relative to the mount, tar_size signed."""
    targets = _targets(repo)
    for name, cid in component_ids(repo.bundles["1.0.0"]).items():
        listed = (_target_dir(repo) / f"{APP}-c-{cid}.list").read_bytes()
        assert digest(listed) == cid
        assert decode_component_list(listed).component == name
        sig = (_target_dir(repo) / f"{APP}-c-{cid}.list.sig").read_bytes()
        assert check_signature(listed, sig, repo.image_key.read_bytes(), name) == ""
        archive = (_target_dir(repo) / f"{APP}-c-{cid}.tar.gz").read_bytes()
        tar_size = targets[f"{APP}-c-{cid}.tar.gz"]["custom"]["esecure"]["tar_size"]
        assert len(gzip.decompress(archive)) == tar_size


def test_an_app_only_release_publishes_only_the_app(repo, tmp_path):
    """1.1.0 changes app only: its list, signature, archive and patch from 1.0.0's app,
    and the release record; no byte of the other components."""
    before = {p.name for p in _target_dir(repo).iterdir()}
    lines: list[str] = []
    bundle = repo.bundle("1.1.0", tmp_path)
    publish(repo.project, "1.1.0", bundle, say=lines.append)
    added = {p.name for p in _target_dir(repo).iterdir()} - before
    old, new = component_ids(repo.bundles["1.0.0"])["app"], component_ids(bundle)["app"]
    assert added == {
        f"{APP}-1.1.0.release",
        f"{APP}-1.1.0.release.sig",
        f"{APP}-c-{new}.list",
        f"{APP}-c-{new}.list.sig",
        f"{APP}-c-{new}.tar.gz",
        f"{APP}-c-{new}.from-{old}.patch",
    }
    patch = _target_dir(repo) / f"{APP}-c-{new}.from-{old}.patch"
    assert f"app: patched ({patch.stat().st_size:,} bytes, 2 files)" in lines
    assert f"firefox-{PLATFORM}: unchanged (0 bytes)" in lines
    assert f"deps-{PLATFORM}: unchanged (0 bytes)" in lines
    custom = _targets(repo)[patch.name]["custom"]["esecure"]
    assert custom == {"size": sum(s for s, _h in tree_files(bundle / "app").values())}


def test_the_patch_rebuilds_the_new_files_from_the_old_ones(repo, tmp_path):
    """Applying the published patch to 1.0.0's app files gives exactly 1.1.0's."""
    repo.publish("1.1.0", tmp_path)
    old_root, new_root = repo.bundles["1.0.0"] / "app", repo.bundles["1.1.0"] / "app"
    old, new = (
        component_ids(repo.bundles["1.0.0"])["app"],
        component_ids(repo.bundles["1.1.0"])["app"],
    )
    out: dict[str, bytes] = {}
    with (_target_dir(repo) / f"{APP}-c-{new}.from-{old}.patch").open("rb") as f:
        _container.apply_patch(
            f,
            old_root,
            tree_files(old_root),
            tree_files(new_root),
            lambda path, chunks: out.__setitem__(path, b"".join(chunks)),
        )
    assert out == {p: (new_root / p).read_bytes() for p in tree_files(new_root)}


def test_a_firefox_release_publishes_a_firefox_patch(repo, tmp_path):
    """A release changing Firefox reports it patched and publishes its patch."""
    lines: list[str] = []
    publish(repo.project, "1.1.0", repo.bundle("1.1.0", tmp_path, firefox="2"), say=lines.append)
    assert any(line.startswith(f"firefox-{PLATFORM}: patched (") for line in lines), lines
    assert any(n.endswith(".patch") and "-c-" in n for n in _targets(repo))


def test_a_component_back_to_a_published_version_publishes_nothing(repo, tmp_path):
    """deps 1 -> 2 -> 1: the third release finds deps 1's archive published already."""
    repo.publish("1.1.0", tmp_path, deps="2")
    lines: list[str] = []
    publish(repo.project, "1.2.0", repo.bundle("1.2.0", tmp_path, deps="1"), say=lines.append)
    assert f"deps-{PLATFORM}: already published (0 bytes)" in lines


def test_archives_are_reproducible(repo, tmp_path):
    """The same files make the same archive bytes (fixed owner, time, order, gzip header)."""
    bundle = repo.bundles["1.0.0"]
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    for out in (first, second):
        with out.open("wb") as f:
            _container.write_archive(bundle / "app", tree_files(bundle / "app"), f)
    assert first.read_bytes() == second.read_bytes()


def test_what_is_in_no_component_is_left_out_and_named(repo, tmp_path):
    """A CD-ROM's other files (bootstrap, MANIFEST...) are left out, and said."""
    bundle = repo.bundle("1.1.0", tmp_path)
    (bundle / "MANIFEST.json").write_text("{}")
    (bundle / "lib" / "other").mkdir()
    lines: list[str] = []
    publish(repo.project, "1.1.0", bundle, say=lines.append)
    assert "left out (in no component): MANIFEST.json" in lines
    assert "left out (in no component): lib/other" in lines


def test_a_symbolic_link_in_a_component_is_es953(repo, tmp_path):
    """A key's FAT cannot hold a link: publish refuses it before writing anything."""
    bundle = repo.bundle("1.1.0", tmp_path)
    (bundle / "app" / "link").symlink_to(bundle / "app" / "product.json")
    before = sorted(p.name for p in _target_dir(repo).iterdir())
    with pytest.raises(UsageError) as err:
        publish(repo.project, "1.1.0", bundle, say=_quiet)
    assert err.value.code == "ES953"
    assert sorted(p.name for p in _target_dir(repo).iterdir()) == before


@pytest.mark.parametrize(
    ("name", "why"), [("Product.json", "one file on FAT"), ("aux.py", "device name")]
)
def test_a_file_name_a_key_cannot_hold_is_es953(repo, tmp_path, name, why):
    """Two names FAT takes for one, or a Windows device name: refused before any write."""
    bundle = repo.bundle("1.1.0", tmp_path)
    (bundle / "app" / name).write_text("x")
    before = sorted(p.name for p in _target_dir(repo).iterdir())
    with pytest.raises(UsageError) as err:
        publish(repo.project, "1.1.0", bundle, say=_quiet)
    assert err.value.code == "ES953"
    assert why in err.value.detail
    assert sorted(p.name for p in _target_dir(repo).iterdir()) == before


def test_publishing_an_old_version_is_es952(repo, tmp_path):
    """A version not above the latest is refused before anything is written."""
    before = sorted(p.name for p in _target_dir(repo).iterdir())
    with pytest.raises(UsageError) as err:
        publish(repo.project, "1.0.0", repo.bundle("1.0.0b", tmp_path), say=_quiet)
    assert err.value.code == "ES952"
    assert sorted(p.name for p in _target_dir(repo).iterdir()) == before


def test_publishing_a_version_outside_the_grammar_is_es952(repo, tmp_path):
    """`1.2.0.post1` is refused: no key's bootstrap could compare it."""
    with pytest.raises(UsageError) as err:
        publish(repo.project, "1.2.0.post1", repo.bundle("x", tmp_path), say=_quiet)
    assert err.value.code == "ES952"


def test_publishing_a_directory_that_is_not_an_application_root_is_es953(repo, tmp_path):
    """--bundle must be laid out like a CD-ROM's components (app/product.json...)."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as err:
        publish(repo.project, "2.0.0", tmp_path / "empty", say=_quiet)
    assert err.value.code == "ES953"
    assert "app/product.json" in err.value.detail


def test_keys_init_twice_is_es950(repo):
    """Making keys over existing ones is refused (it would orphan every key in the field)."""
    with pytest.raises(UsageError) as err:
        init_keys(repo.project, say=_quiet)
    assert err.value.code == "ES950"


def test_status_lists_roles_and_releases(repo, tmp_path):
    """status shows the four roles with their expiry and each release, required flagged."""
    repo.publish("1.1.0", tmp_path, required=True)
    st = status(repo.project)
    assert [r.role for r in st.roles] == ["root", "targets", "snapshot", "timestamp"]
    assert st.releases == (("1.0.0", False), ("1.1.0", True))


def test_refresh_re_signs_the_timestamp(repo):
    """The scheduled refresh bumps the timestamp's version and pushes its expiry."""
    before = {r.role: r for r in status(repo.project).roles}
    assert refresh(repo.project, say=_quiet) == ["timestamp"]
    after = {r.role: r for r in status(repo.project).roles}
    assert after["timestamp"].version == before["timestamp"].version + 1
    assert after["targets"].version == before["targets"].version


def test_due_roles_include_those_past_half_their_life(repo):
    """A week-long role with two days left is due; the timestamp always is."""
    st = status(repo.project)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    assert set(due_roles(st, repo.project, later)) == {"timestamp", "targets", "snapshot"}


def test_encrypted_keys_are_sealed_and_need_the_passphrase(tmp_path, monkeypatch):
    """With encrypted_keys, no clear private key is stored; a wrong passphrase is ES954."""
    directory = tmp_path / "bank"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    toml = directory / "esecure.toml"
    toml.write_text(toml.read_text().replace("encrypted_keys = false", "encrypted_keys = true"))
    monkeypatch.setenv("ESECURE_PASSPHRASE", "correct horse")
    project = load_project(directory)
    messages: list[str] = []
    init_keys(project, say=messages.append)
    assert "passphrase from the ESECURE_PASSPHRASE variable" in messages
    stored = sorted(p.name for p in (directory / "keys" / "tuf").iterdir())
    assert "timestamp-1.sealed" in stored
    assert "timestamp-1" not in stored
    publish(project, "1.0.0", make_bundle(tmp_path / "b", "1.0.0"), say=_quiet)
    monkeypatch.setenv("ESECURE_PASSPHRASE", "wrong")
    with pytest.raises(UsageError) as err:
        refresh(project, say=_quiet)
    assert err.value.code == "ES954"


def test_cli_keys_publish_repo(tmp_path):
    """The commands work end to end and exit 0; a bad bundle exits 2 with its code."""
    directory = tmp_path / "p"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    runner = CliRunner()
    assert runner.invoke(cli, ["keys", "init", str(directory)]).exit_code == 0
    bundle = make_bundle(tmp_path / "b", "1.0.0")
    result = runner.invoke(
        cli, ["publish", str(directory), "--version", "1.0.0", "--bundle", str(bundle)]
    )
    assert result.exit_code == 0, result.output
    assert "app: new (" in result.output
    result = runner.invoke(cli, ["repo", "status", str(directory)])
    assert "release 1.0.0" in result.output
    assert runner.invoke(cli, ["repo", "refresh", str(directory)]).exit_code == 0
    assert runner.invoke(cli, ["keys", "rotate", str(directory), "timestamp"]).exit_code == 0
    (tmp_path / "nothing").mkdir()
    result = runner.invoke(
        cli,
        ["publish", str(directory), "--version", "2.0.0", "--bundle", str(tmp_path / "nothing")],
    )
    assert result.exit_code == 2
    assert "ES953" in result.output


def test_root_two_of_three_is_published_and_rotates(tmp_path):
    """root_keys = 3, root_threshold = 2: root lists 3 keys, needs 2, survives a rotation."""
    directory = tmp_path / "bank"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    toml = directory / "esecure.toml"
    text = toml.read_text().replace("root_keys = 1", "root_keys = 3")
    toml.write_text(text.replace("root_threshold = 1", "root_threshold = 2"))
    project = load_project(directory)
    init_keys(project, say=_quiet)
    root = json.loads((directory / "repository" / "metadata" / "root.json").read_text())
    assert len(root["signed"]["roles"]["root"]["keyids"]) == 3
    assert root["signed"]["roles"]["root"]["threshold"] == 2
    assert len(root["signatures"]) == 3
    rotate_key(project, "root", key="root-2", say=_quiet)
    root = json.loads((directory / "repository" / "metadata" / "root.json").read_text())
    assert root["signed"]["version"] == 2
    assert len(root["signed"]["roles"]["root"]["keyids"]) == 3
    assert (directory / "keys" / "tuf" / "retired" / "root-2.pub").is_file()


def _ships(repo, *platforms: str):
    """The repo's project, shipping ``platforms`` ([image] platforms)."""
    return replace(repo.project, image=replace(repo.project.image, platforms=platforms))


def _add_windows(bundle) -> None:
    """Windows components laid out beside the Linux ones (lib/windows/, firefox/windows/)."""
    (bundle / "lib" / "windows" / "dep").mkdir(parents=True)
    (bundle / "lib" / "windows" / "dep" / "__init__.py").write_text("DEPS = 'win'\n")
    (bundle / "firefox" / "windows" / "distribution").mkdir(parents=True)
    (bundle / "firefox" / "windows" / "firefox.exe").write_bytes(b"MZ stand-in")
    (bundle / "firefox" / "windows" / "distribution" / "policies.json").write_text("{}\n")


def test_attack_a_release_without_windows_never_reaches_windows_keys(repo, tmp_path):
    """The project ships Linux and Windows; a bundle with only Linux's deps and Firefox is
    refused (ES953) naming each missing component and its folder, before anything is
    signed or written: the repository is unchanged."""
    project = _ships(repo, "linux", "windows")
    bundle = repo.bundle("1.1.0", tmp_path)
    before = tree_files(repo.project.root / "repository")
    with pytest.raises(UsageError) as err:
        publish(project, "1.1.0", bundle, say=_quiet)
    assert err.value.code == "ES953"
    assert err.value.detail.startswith(
        f"{bundle.resolve()} has no deps-windows (lib/windows/), firefox-windows "
        "(firefox/windows/), and the project ships linux, windows ([image] platforms): a "
        "release without them would reach windows keys incomplete."
    )
    assert tree_files(repo.project.root / "repository") == before


def test_a_release_missing_the_linux_firefox_is_refused(repo, tmp_path):
    """The same rule for the one platform of the demo: no firefox/linux/, no release."""
    bundle = repo.bundle("1.1.0", tmp_path)
    shutil.rmtree(bundle / "firefox" / "linux")
    before = tree_files(repo.project.root / "repository")
    with pytest.raises(UsageError) as err:
        publish(repo.project, "1.1.0", bundle, say=_quiet)
    assert err.value.code == "ES953"
    assert "has no firefox-linux (firefox/linux/)" in err.value.detail
    assert tree_files(repo.project.root / "repository") == before


def test_a_release_for_every_platform_names_them_all(repo, tmp_path):
    """With lib/windows/ and firefox/windows/ too, the release record names the
    components of both platforms."""
    project = _ships(repo, "linux", "windows")
    bundle = repo.bundle("1.1.0", tmp_path)
    _add_windows(bundle)
    publish(project, "1.1.0", bundle, say=_quiet)
    record = decode_release((_target_dir(repo) / f"{APP}-1.1.0.release").read_bytes())
    assert {"deps-windows", "firefox-windows", "deps-linux", "firefox-linux"} <= set(
        record.components
    )
