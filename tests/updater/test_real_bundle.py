"""End to end with a real launcher bundle: the installed esecure and its runtime packages.

Publish two releases, update a data area over real HTTP, then start the real bootstrap in
a new process: it must run the *updated* application from the slot.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from esecure.updater.client import UpdateClient
from esecure.updater.publish import publish
from esecure_onkey import layout
from tests.onkey_child import bootstrap_command, bootstrap_env

PACKAGES = (
    "esecure", "click", "cryptography", "tuf", "tufup", "securesystemslib", "packaging",
    "pyzstd", "platformdirs", "keyring", "webview", "urllib3", "requests", "certifi",
)  # fmt: skip


def _launcher_root(root: Path, version: str) -> Path:
    lib = root / "lib" / layout.platform_name()
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        src = Path(spec.origin).parent
        shutil.copytree(src, lib / name, ignore=shutil.ignore_patterns("__pycache__"))
    init = lib / "esecure" / "__init__.py"
    init.write_text(f'"""e-secure."""\n\n__version__ = "{version}"\n')
    (root / "product.json").write_text(f'{{"version": "{version}"}}\n')
    (root / "trust").mkdir()
    (root / "profile").mkdir()
    (root / "profile" / "user.js").write_text("")
    return root


@pytest.mark.slow
def test_update_of_a_real_launcher_bundle_then_the_bootstrap_runs_it(repo, tmp_path):
    """A ~25 MB launcher bundle: patched update, then the real bootstrap starts version 9.9.1."""
    v1 = _launcher_root(tmp_path / "v1", "9.9.0")
    v2 = _launcher_root(tmp_path / "v2", "9.9.1")
    data = tmp_path / "data"
    for bundle, version, current, running in (
        (v1, "9.9.0", "1.0.0", None),
        (v2, "9.9.1", "9.9.0", "A"),
    ):
        publish(repo.project, version, bundle, say=lambda _m: None)
        repo.sync()
        c = UpdateClient(
            data,
            repo.url,
            "demo-bank",
            initial_root=repo.initial_root,
            image_key=repo.image_key,
            timeout=10,
        )
        offer = c.check(current)
        c.install(offer, c.download(offer), running_slot=running)
    assert offer.use_patch
    assert offer.download_size < 0.02 * offer.chain[-1].archive.length
    cd = repo.cd  # the CD-ROM's image-signing public key and product.json (0.9.0)
    proc = subprocess.run(
        bootstrap_command("--version"),
        capture_output=True,
        text=True,
        env=bootstrap_env(ESECURE_CD_ROOT=str(cd), ESECURE_DATA_DIR=str(data)),
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "e-secure 9.9.1 (version 9.9.1 from slot B)\n"
    assert not list((data / "slots" / "B").rglob("__pycache__"))  # Python wrote nothing there
