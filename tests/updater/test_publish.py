"""Publishing: keys, releases with zstd patches, status, refresh, and the CLI around them."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pytest
from click.testing import CliRunner

from esecure.cli import cli
from esecure.config import load_project
from esecure.errors import UsageError
from esecure.scaffold import InitOptions, init_project
from esecure.updater._zstd import apply_patch
from esecure.updater.publish import due_roles, init_keys, publish, refresh, rotate_key, status

from .conftest import make_bundle


def _quiet(_m: str) -> None:
    return None


def test_publish_writes_archive_and_small_patch(repo, tmp_path):
    """The second release gets a zstd patch that rebuilds the signed archive exactly."""
    repo.publish("1.1.0", tmp_path)
    targets = repo.project.root / "repository" / "targets"
    old = gzip.decompress((targets / "demo-bank-1.0.0.tar.gz").read_bytes())
    new = gzip.decompress((targets / "demo-bank-1.1.0.tar.gz").read_bytes())
    patch = (targets / "demo-bank-1.1.0.patch").read_bytes()
    assert apply_patch(old, patch) == new
    assert len(patch) < 0.02 * len(new)
    meta = json.loads((repo.project.root / "repository/metadata/targets.json").read_text())
    custom = meta["signed"]["targets"]["demo-bank-1.1.0.patch"]["custom"]["tufup"]
    assert custom["tar_size"] == len(new)


def test_publishing_an_old_version_is_es952(repo, tmp_path):
    """A version not above the latest is refused before anything is written."""
    before = sorted(p.name for p in (repo.project.root / "repository" / "targets").iterdir())
    with pytest.raises(UsageError) as err:
        publish(repo.project, "1.0.0", make_bundle(tmp_path / "b", "1.0.0"), say=_quiet)
    assert err.value.code == "ES952"
    after = sorted(p.name for p in (repo.project.root / "repository" / "targets").iterdir())
    assert after == before


def test_publishing_a_directory_that_is_not_an_application_root_is_es953(repo, tmp_path):
    """--bundle must be laid out like a slot (product.json, lib/)."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError) as err:
        publish(repo.project, "2.0.0", tmp_path / "empty", say=_quiet)
    assert err.value.code == "ES953"
    assert "product.json" in err.value.detail


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
