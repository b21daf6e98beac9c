"""End to end with a real launcher: the installed esecure (the app component) and its
runtime packages (the deps component).

Publish two releases, update a data area over real HTTP, then start the real bootstrap in
a new process: it must run the *updated* application from the component store.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from esecure.updater.client import mark_good
from esecure.updater.publish import publish
from esecure_onkey.components import mount
from esecure_onkey.layout import component_dir
from tests.onkey_child import bootstrap_command, bootstrap_env

from .conftest import PLATFORM, component_ids

PACKAGES = (
    "click", "cryptography", "tuf", "tufup", "securesystemslib", "packaging",
    "pyzstd", "platformdirs", "keyring", "webview", "urllib3", "requests", "certifi",
)  # fmt: skip


def _launcher_root(root: Path, version: str, cd: Path) -> Path:
    """app/ = the installed esecure + product.json; lib/<p>/ = its runtime packages; the
    CD-ROM's own Firefox, profile and trust."""
    source = importlib.util.find_spec("esecure")
    assert source is not None and source.origin is not None
    app = root / "app"
    shutil.copytree(
        Path(source.origin).parent, app / "esecure", ignore=shutil.ignore_patterns("__pycache__")
    )
    (app / "esecure" / "__init__.py").write_text(f'"""e-secure."""\n\n__version__ = "{version}"\n')
    product = json.loads((cd / "app" / "product.json").read_text())
    (app / "product.json").write_text(json.dumps({**product, "version": version}))
    lib = root / "lib" / PLATFORM
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        src = Path(spec.origin).parent
        shutil.copytree(src, lib / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in (f"firefox-{PLATFORM}", "profile", "trust"):
        shutil.copytree(cd / mount(name), root / mount(name))
    return root


@pytest.mark.slow
def test_update_of_a_real_launcher_then_the_bootstrap_runs_it(repo, tmp_path):
    """A ~25 MB launcher: app and deps from the store (the second update patches app),
    then the real bootstrap starts version 9.9.1 from the data area."""
    v1 = _launcher_root(tmp_path / "v1", "9.9.0", repo.cd)
    v2 = _launcher_root(tmp_path / "v2", "9.9.1", repo.cd)
    data = tmp_path / "data"
    running = "cd"
    for bundle, version, current in ((v1, "9.9.0", "1.0.0"), (v2, "9.9.1", "9.9.0")):
        publish(repo.project, version, bundle, say=lambda _m: None)
        repo.sync()
        client = repo.client(data)
        offer = client.check(current, running=running)
        running = client.install(offer, client.download(offer))
        mark_good(data, running=running)
    assert offer.use_patch
    assert [c.name for c in offer.components] == ["app"]  # deps unchanged since 9.9.0
    ids = component_ids(v2)
    assert {p.name for p in (data / "store").iterdir() if p.is_dir()} == {
        ids["app"],
        ids[f"deps-{PLATFORM}"],
    }
    proc = subprocess.run(
        bootstrap_command("--version"),
        capture_output=True,
        text=True,
        env=bootstrap_env(ESECURE_CD_ROOT=str(repo.cd), ESECURE_DATA_DIR=str(data)),
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "e-secure 9.9.1 (version 9.9.1 from the data area)\n"
    assert not list(component_dir(data, ids["app"]).rglob("__pycache__"))  # nothing written
