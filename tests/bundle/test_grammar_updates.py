"""Releases of a built image go the whole way: every form of the version grammar is
published, installed and started from the store by the image's real frozen bootstrap
(table-driven, one chain); an updated Firefox starts from the store without exec bits."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from esecure.config import Project, load_project
from esecure.demo.images import copy_project
from esecure.updater._disk import Disk
from esecure.updater.client import UpdateClient
from esecure.updater.publish import init_keys, publish
from esecure_onkey.browser import prepare_firefox
from esecure_onkey.components import mount
from esecure_onkey.layout import CD
from esecure_onkey.store import resolve
from tests.updater.conftest import http_dir  # noqa: F401 - the fixture, served over HTTP

# Increasing, each a form the grammar accepts: pre-releases a/b/rc, two to six numbers,
# trailing zeros, a single number.
VERSIONS = ["1.0.1a1", "1.0.1b2", "1.0.1rc3", "1.0.1", "1.1", "1.1.0.1", "1.1.0.1.2.3", "2"]


def _quiet(_message: str) -> None:
    return None


def _bundle(extracted: Path, dest: Path) -> Path:
    """The CD-ROM's components at their mounts: what `esecure publish --bundle` takes."""
    for name in ("app", "deps-linux", "firefox-linux", "profile", "trust"):
        shutil.copytree(extracted / mount(name), dest / mount(name))
    for pyc in (dest / "app" / "esecure" / "__pycache__").glob("__init__.*.pyc"):
        pyc.unlink()  # compiled with unchecked hashes: the .py below must be the one read
    return dest


def _client(project: Project, data: Path, url: str, extracted: Path) -> UpdateClient:
    """The key's update client: the image's CD-ROM, the project's first TUF root."""
    root = project.root / "repository" / "metadata" / "1.root.json"
    return UpdateClient(data, url, project.product.id, cd=extracted, initial_root=root)


def _set_version(bundle: Path, version: str) -> None:
    init = bundle / "app" / "esecure" / "__init__.py"
    lines = [
        f'__version__ = "{version}"' if line.startswith("__version__") else line
        for line in init.read_text().splitlines()
    ]
    init.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_each_grammar_form_is_published_installed_and_started(
    extracted,
    demo_image,
    tmp_path,
    http_dir,  # noqa: F811 - the imported fixture
):
    """For each version form: publish (app only after the first), the client installs it
    into the store — only the app, within 10 % of its size + 1 MB written through the
    Disk layer — and the image's frozen bootstrap runs it (`--version` says so)."""
    served, url = http_dir
    project = load_project(copy_project(demo_image.project, tmp_path / "project"))
    init_keys(project, say=_quiet)
    bundle = _bundle(extracted, tmp_path / "bundle")
    data = tmp_path / "data"
    data.mkdir()
    current, running = "1.0.0", CD
    for version in VERSIONS:
        _set_version(bundle, version)
        publish(project, version, bundle, say=_quiet)
        shutil.rmtree(served)
        shutil.copytree(project.root / "repository", served)
        client = _client(project, data, url, extracted)
        offer = client.check(current, running=running)
        assert offer is not None and offer.version == version, (version, offer)
        assert [c.name for c in offer.components] == ["app"]  # the CD's others, in place
        disk = Disk()
        client.disk = disk
        running = client.install(offer, client.download(offer))
        resolved = resolve(data, running, extracted, "linux")
        assert not isinstance(resolved, str), resolved
        in_store = sorted(n for n, d in resolved.dirs.items() if d.parent == data / "store")
        assert in_store == ["app"]  # no firefox or deps file written
        app_size = sum(p.stat().st_size for p in resolved.dirs["app"].rglob("*") if p.is_file())
        assert disk.written <= 1.1 * app_size + 1_000_000, (disk.written, app_size)
        proc = subprocess.run(
            [str(extracted / "e-secure"), "--version"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ESECURE_DATA_DIR": str(data)},
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"e-secure {version} (version {version} from the data area)\n"
        current = version


@pytest.mark.slow
def test_an_updated_firefox_starts_from_the_store_without_exec_bits(
    extracted,
    demo_image,
    tmp_path,
    http_dir,  # noqa: F811 - the imported fixture
):
    """A release that changes Firefox: the client writes the new firefox-linux into the
    store; with every file 0644 (what a showexec FAT mount shows) it cannot be executed in
    place, and started as the on-key package says (its shadow on the host) it loads a page
    from a local site and runs its script in a content process."""
    from tests.onkey.test_browser import (  # noqa: PLC0415
        POLICIES,
        Site,
        _run_watched,
        site_server,
    )

    served, url = http_dir
    project = load_project(copy_project(demo_image.project, tmp_path / "project"))
    init_keys(project, say=_quiet)
    bundle = _bundle(extracted, tmp_path / "bundle")
    firefox_root = bundle / "firefox" / "linux"
    (firefox_root / "browser" / "e-secure-update.txt").write_text("1.0.1\n")
    # policies of a test site (the image's allow only https://127.0.0.1/), locking a pref
    # the site sees: proof that the store's distribution/ is the one read
    (firefox_root / "distribution" / "policies.json").write_text(POLICIES)
    publish(project, "1.0.1", bundle, say=_quiet)
    shutil.copytree(project.root / "repository", served, dirs_exist_ok=True)
    data = tmp_path / "data"
    data.mkdir()
    client = _client(project, data, url, extracted)
    offer = client.check("1.0.0")
    assert offer is not None
    assert "firefox-linux" in {c.name for c in offer.components}
    release = client.install(offer, client.download(offer))
    resolved = resolve(data, release, extracted, "linux")
    assert not isinstance(resolved, str), resolved
    firefox = resolved.dirs["firefox-linux"]
    assert firefox.parent == data / "store"
    for path in firefox.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    program = firefox / "firefox-esr"
    with pytest.raises(PermissionError):
        subprocess.run([program, "--version"], check=False, timeout=30)

    home, profile, shot = tmp_path / "home", tmp_path / "profile", tmp_path / "shot.png"
    home.mkdir()
    profile.mkdir()
    (profile / "user.js").write_text('user_pref("browser.shell.checkDefaultBrowser", false);\n')
    with site_server() as site:
        args = ["--headless", "--no-remote", "--profile", str(profile), "--screenshot"]
        start = prepare_firefox(
            firefox, "linux", scratch=tmp_path / "host-cache", args=[*args, str(shot), site]
        )
        assert start.mode == "shadow"
        status, stderr, _seen = _run_watched(start.argv, home)
    assert status == 0, stderr
    assert ("/", "x-esecure") in Site.seen, Site.seen  # the store's policies applied
    assert "/from-script.gif" in dict(Site.seen), Site.seen  # its content process ran
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
