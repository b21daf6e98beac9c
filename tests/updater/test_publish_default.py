"""`esecure publish` without --bundle publishes the application root `esecure build` lays
out, in components.

The Firefox is a small stand-in set through the project's [firefox] linux path (copying
Debian's ~300 MB Firefox twice would add a minute and test nothing more): the image
builder's own code assembles app/ (the installed esecure, compiled, and product.json),
lib/linux/ (its dependencies), firefox/linux/ with the project's policies and CA,
profile/ and trust/. The key's CD-ROM is the same layout, assembled before the stand-in
Firefox changed: the update writes that Firefox into the store, nothing else.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from esecure import __version__
from esecure.bundle.build import assemble_app_root
from esecure.cli import cli
from esecure.config import load_project
from esecure.scaffold import InitOptions, init_project
from esecure.updater.client import UpdateClient
from esecure.updater.publish import init_keys
from esecure_onkey import boot
from esecure_onkey.components import mount
from tests.onkey_child import bootstrap_command, bootstrap_env

from .conftest import PLATFORM, write_cd_release


def _standin_firefox(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "firefox").write_bytes(b"#!/bin/sh\necho stand-in\n")
    (directory / "firefox").chmod(0o755)
    (directory / "application.ini").write_text("[App]\nVersion=128.0-standin\n")
    (directory / "omni.ja").write_bytes(os.urandom(200_000))
    (directory / "distribution").mkdir()
    (directory / "distribution" / "policies.json").write_text('{"host": "left out"}')
    return directory


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.mark.slow
def test_publish_without_bundle_installs_the_builds_components(tmp_path, http_dir):
    """Publish from the project alone; a key whose CD-ROM has the older Firefox gets the
    new one in its store, the rest stays the CD-ROM's; the bootstrap runs the release."""
    directory = tmp_path / "project"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    toml = directory / "esecure.toml"
    standin = _standin_firefox(tmp_path / "firefox-standin")
    text = toml.read_text().replace('linux = "/usr/lib/firefox-esr"', f'linux = "{standin}"')
    toml.write_text(text)
    project = load_project(directory)
    init_keys(project, say=lambda _m: None)
    cd = tmp_path / "cd"  # the key's CD-ROM: the same layout, before Firefox changed
    assemble_app_root(project, cd)
    write_cd_release(cd, project, project.product.version)
    (standin / "omni.ja").write_bytes(os.urandom(200_000))

    result = CliRunner().invoke(cli, ["publish", str(directory), "--version", "1.0.1"])
    assert result.exit_code == 0, result.output
    assert f"firefox-{PLATFORM}: new (" in result.output  # the CD-ROM's was never published

    served, url = http_dir
    shutil.rmtree(served)
    shutil.copytree(directory / "repository", served)
    data = tmp_path / "data"
    client = UpdateClient(data, url, project.product.id, cd=cd, platform=PLATFORM, timeout=10)
    offer = client.check(project.product.version)
    assert offer is not None
    assert offer.version == "1.0.1"
    assert [c.name for c in offer.components] == [f"firefox-{PLATFORM}"]
    client.install(offer, client.download(offer))

    expected = tmp_path / "expected"
    assemble_app_root(project, expected)
    choice = boot.choose(cd, data, count_start=False, platform=PLATFORM)
    assert (choice.version, choice.degraded) == ("1.0.1", False), choice.reason
    for name, directory_ in choice.dirs.items():
        assert _tree(directory_) == _tree(expected / mount(name)), name
    policies = (choice.dirs[f"firefox-{PLATFORM}"] / "distribution" / "policies.json").read_text()
    assert "left out" not in policies  # the build's policies, not the installation's

    proc = subprocess.run(
        bootstrap_command("--version"),
        capture_output=True,
        text=True,
        env=bootstrap_env(ESECURE_CD_ROOT=str(cd), ESECURE_DATA_DIR=str(data)),
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"e-secure {__version__} (version 1.0.1 from the data area)\n"


def test_launcher_dir_with_bundle_is_a_usage_error(repo, tmp_path):
    """--launcher-dir only shapes the default bundle: with --bundle it is refused (exit 2)."""
    bundle = tmp_path / "b"
    bundle.mkdir()
    args = ["publish", str(repo.project.root), "--version", "2.0.0", "--bundle", str(bundle)]
    result = CliRunner().invoke(cli, [*args, "--launcher-dir", f"windows={tmp_path}"])
    assert result.exit_code == 2
    assert "--launcher-dir applies only without --bundle" in result.output
    assert not list((repo.project.root / "repository" / "targets").glob("*2.0.0*"))
