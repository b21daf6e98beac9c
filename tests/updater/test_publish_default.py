"""`esecure publish` without --bundle publishes the application root `esecure build` lays out.

The Firefox is a small stand-in set through the project's [firefox] linux path (copying
Debian's ~300 MB Firefox twice would add a minute and test nothing more): the image
builder's own code assembles lib/linux/ (the installed esecure and its dependencies,
compiled), firefox/linux/ with the project's policies and CA, profile/, product.json and
trust/.
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
from esecure.bundle.manifest import MANIFEST_NAME, PUBLIC_KEY_PATH, SIGNATURE_NAME
from esecure.cli import cli
from esecure.config import load_project
from esecure.scaffold import InitOptions, init_project
from esecure.updater.client import UpdateClient
from esecure.updater.publish import init_keys
from esecure_onkey import layout
from tests.onkey_child import bootstrap_command, bootstrap_env


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
def test_publish_without_bundle_installs_the_builds_application_root(tmp_path, http_dir):
    """Publish from the project alone; an update installs it; the slot is the build's root."""
    directory = tmp_path / "project"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    toml = directory / "esecure.toml"
    standin = _standin_firefox(tmp_path / "firefox-standin")
    text = toml.read_text().replace('linux = "/usr/lib/firefox-esr"', f'linux = "{standin}"')
    toml.write_text(text)
    project = load_project(directory)
    init_keys(project, say=lambda _m: None)
    initial_root = tmp_path / "cd-root.json"
    shutil.copyfile(directory / "repository" / "metadata" / "root.json", initial_root)

    result = CliRunner().invoke(cli, ["publish", str(directory), "--version", "1.0.1"])
    assert result.exit_code == 0, result.output
    assert "assemble lib/linux" in result.output  # progress, step by step
    assert "Firefox: 100%" in result.output

    served, url = http_dir
    shutil.rmtree(served)
    shutil.copytree(directory / "repository", served)
    data = tmp_path / "data"
    client = UpdateClient(
        data,
        url,
        project.product.id,
        initial_root=initial_root,
        image_key=project.trust.image_signing_public_key,
        timeout=10,
    )
    offer = client.check("1.0.0")
    assert offer is not None
    assert offer.version == "1.0.1"
    client.install(offer, client.download(offer), running_slot=None)

    expected = tmp_path / "expected"
    assemble_app_root(project, expected)
    slot = layout.slot_dir(data, "A")
    installed = _tree(slot)
    # the release carries its file list, signed with the image-signing key (the bootstrap's check)
    assert installed.pop(MANIFEST_NAME) and installed.pop(SIGNATURE_NAME)
    assert installed == _tree(expected)
    assert not [p for p in slot.rglob("*") if p.is_symlink()]
    for rel in (
        "lib/linux/esecure/launcher/app.py",
        "firefox/linux/firefox",
        "firefox/linux/distribution/certificates",
        "profile/user.js",
        "product.json",
        "trust/ca.pem",
        "trust/root.json",
    ):
        assert (slot / rel).exists(), rel
    policies = (slot / "firefox/linux/distribution/policies.json").read_text()
    assert "left out" not in policies  # the build's policies, not the installation's

    cd = tmp_path / "cd"  # what the bootstrap trusts: the CD-ROM's key and version
    (cd / "trust").mkdir(parents=True)
    shutil.copyfile(project.trust.image_signing_public_key, cd / PUBLIC_KEY_PATH)
    (cd / "product.json").write_text('{"version": "1.0.0"}')
    proc = subprocess.run(
        bootstrap_command("--version"),
        capture_output=True,
        text=True,
        env=bootstrap_env(ESECURE_CD_ROOT=str(cd), ESECURE_DATA_DIR=str(data)),
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"e-secure {__version__} (version 1.0.1 from slot A)\n"


def test_launcher_dir_with_bundle_is_a_usage_error(repo, tmp_path):
    """--launcher-dir only shapes the default bundle: with --bundle it is refused (exit 2)."""
    bundle = tmp_path / "b"
    bundle.mkdir()
    args = ["publish", str(repo.project.root), "--version", "2.0.0", "--bundle", str(bundle)]
    result = CliRunner().invoke(cli, [*args, "--launcher-dir", f"windows={tmp_path}"])
    assert result.exit_code == 2
    assert "--launcher-dir applies only without --bundle" in result.output
    assert not list((repo.project.root / "repository" / "targets").glob("*2.0.0*"))
