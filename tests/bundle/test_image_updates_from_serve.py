"""A key image built from the demo project finds its update on `esecure serve`, with no
other server: the repository is served under the path of [urls] updates.

The demo project gets its update keys as `esecure demo` gives them, its [urls] point at
the port the server took, and `esecure build` makes the image (reusing the session
image's frozen launcher: no second PyInstaller run). 1.0.1 is published from the
image's own components with a changed app; the key's update client, reading the URL
from the image's product.json and trusting the CA file serve names, is offered 1.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from esecure.config import load_project
from esecure.updater.client import UpdateClient
from esecure.updater.publish import init_keys, publish
from tests.server.est_support import ServerThread

from .conftest import copy_project, extract, run_build

pytestmark = pytest.mark.slow

MOUNTS = ("app", "lib/linux", "firefox/linux", "profile", "trust")


def _quiet(_message: str) -> None:
    return None


def _release_root(cd: Path, dest: Path, version: str) -> Path:
    """The CD-ROM's components (hard links: no copy of Firefox), app changed."""
    for mount in MOUNTS:
        shutil.copytree(cd / mount, dest / mount, copy_function=os.link)
    product = dest / "app" / "product.json"
    data = json.loads(product.read_text())
    product.unlink()  # a hard link: the CD-ROM's file must stay as it is
    product.write_text(json.dumps({**data, "version": version}))
    return dest


def test_demo_image_updates_from_esecure_serve(demo_image, extracted, tmp_path, monkeypatch):
    """The image's product.json names the served repository; its update client checks
    there (TLS pinned by SSL_CERT_FILE to the CA serve prints) and is offered 1.0.1."""
    project = copy_project(demo_image.project, tmp_path / "project")
    init_keys(load_project(project), say=_quiet)
    with ServerThread(project) as server:
        toml = project / "esecure.toml"
        toml.write_text(toml.read_text().replace("https://127.0.0.1:8443/", server.url))
        built = run_build(
            project, tmp_path / "out", tmp_path, args=("--launcher-dir", f"linux={extracted}")
        )
        cd = extract(built.cdrom, tmp_path / "cd")
        product = json.loads((cd / "app" / "product.json").read_text())
        assert product["urls"]["updates"] == server.url + "updates/"
        assert (cd / "trust" / "root.json").is_file()  # the image can update
        shutil.rmtree(tmp_path / "out")  # ~0.5 GB
        bundle = _release_root(cd, tmp_path / "bundle-1.0.1", "1.0.1")
        publish(load_project(project), "1.0.1", bundle, say=_quiet)
        shutil.rmtree(bundle)
        monkeypatch.setenv("SSL_CERT_FILE", str(server.project.trust.ca_certificate))
        client = UpdateClient(
            tmp_path / "data", product["urls"]["updates"], product["id"], cd=cd, platform="linux"
        )
        offer = client.check(product["version"])
    assert offer is not None
    assert offer.version == "1.0.1"
    assert [c.name for c in offer.components] == ["app"]  # the rest is the image's own
