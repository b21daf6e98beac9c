"""What an update costs the key: bytes written to the data area and peak memory, measured
in a child process (its own /proc/self/io and ru_maxrss), beside what the Disk layer counts.

* An app-only release writes the app component and a few records, nothing of Firefox or
  the third-party packages: within 10 % of the app's size + 1 MB, by both counts.
* A Firefox release (a synthetic 300 MB Firefox with a 150 MB library, changed in place)
  applies with a peak memory under 256 MB, from its per-file patch and from its full
  archive; publishing it stays well under 1 GB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from esecure_onkey.layout import CD

from .conftest import PLATFORM, component_ids, make_repo, serve_target, tree_files

MB = 1 << 20
APPLY = r"""
import json, resource, sys
from pathlib import Path
from esecure.updater._disk import Disk
from esecure.updater.client import UpdateClient

def write_bytes():
    with open("/proc/self/io") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("write_bytes:"))

data, url, cd, current, running, downloads = sys.argv[1:7]
disk = Disk()
client = UpdateClient(Path(data), url, "demo-bank", cd=Path(cd), platform="linux",
    timeout=60, disk=disk, download_dir=Path(downloads))
offer = client.check(current, running=running)
downloaded = client.download(offer)
io_before, disk_before = write_bytes(), disk.written
rid = client.install(offer, downloaded)
with open("/proc/self/status") as f:
    hwm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
print(json.dumps({
    "release": rid,
    "hwm": hwm,
    "disk": disk.written - disk_before,
    "io": write_bytes() - io_before,
    "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "components": [c.name for c in offer.components],
    "patched": [c.name for c in offer.components if c.patch is not None],
    "fallback": "download.archive-fetched" in client.cp.seen and offer.use_patch,
}))
"""
PUBLISH = r"""
import resource, sys
from pathlib import Path
from esecure.config import load_project
from esecure.updater.publish import publish

project, version, bundle = sys.argv[1:4]
publish(load_project(Path(project)), version, Path(bundle), say=print)
print("maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _child(script: str, *args: str) -> list[str]:
    """A Python child started through a shell that forks it: Linux counts in a process's
    ru_maxrss the memory of the process it replaced by exec (here pytest's, vforked), so
    the child must be the exec of a small process."""
    return ["/bin/sh", "-c", '"$0" "$@"; exit $?', sys.executable, "-c", script, *args]


def _apply(repo, data: Path, tmp_path: Path, current: str, running: str = CD) -> dict:
    args = [str(data), repo.url, str(repo.cd), current, running, str(tmp_path / "downloads")]
    proc = subprocess.run(
        _child(APPLY, *args),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def _random_file(path: Path, size: int, seed: int) -> None:
    """``size`` bytes that no compressor shrinks, the same for the same seed."""
    import random  # noqa: PLC0415 - test data only

    rng = random.Random(seed)  # noqa: S311 - test data
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for _ in range(size // MB):
            f.write(rng.randbytes(MB))


def test_an_app_only_release_writes_only_the_app(tmp_path, http_dir):
    """From the CD-ROM's 0.9.0 to 1.0.0 (app changed; 6 MB of packages and 8 MB of Firefox
    unchanged): store/ gains the app's version only; bytes written (Disk layer, and the
    child's write_bytes) are within 10 % of the app's size + 1 MB."""
    big = tmp_path / "big"
    _random_file(big / "dep.so", 6 * MB, 1)
    _random_file(big / "libxul.so", 8 * MB, 2)

    def prepare(root: Path, _version: str) -> None:
        shutil.copyfile(big / "dep.so", root / "lib" / PLATFORM / "dep.so")
        shutil.copyfile(big / "libxul.so", root / "firefox" / PLATFORM / "libxul.so")

    repo = make_repo(tmp_path, *http_dir, prepare=prepare)
    repo.publish("1.0.0", tmp_path)
    data = tmp_path / "data"
    result = _apply(repo, data, tmp_path, "0.9.0")
    app = component_ids(repo.bundles["1.0.0"])["app"]
    size = sum(s for s, _h in tree_files(repo.bundles["1.0.0"] / "app").values())
    assert result["components"] == ["app"]
    assert sorted(p.name for p in (data / "store").iterdir()) == sorted(
        f"{app}{suffix}" for suffix in ("", ".list", ".sig", ".complete")
    )
    assert sorted(p.name for p in (data / "releases").iterdir()) == [
        f"{result['release']}.json",
        f"{result['release']}.sig",
    ]
    bound = 1.1 * size + MB
    assert size <= result["disk"] <= bound, (size, result)
    assert size <= result["io"] <= bound, (size, result)
    assert not list(data.rglob("*.so"))


def _firefox_template(root: Path) -> None:
    """A 300 MB Firefox: libxul.so of 150 MB and 150 files of 1 MB."""
    _random_file(root / "libxul.so", 150 * MB, 10)
    for i in range(150):
        _random_file(root / "browser" / f"part-{i:03}.bin", MB, 100 + i)


def _change_firefox(root: Path) -> None:
    """A Firefox release: 64 KiB changed in the middle of libxul.so, one file changed, one
    added."""
    with (root / "libxul.so").open("r+b") as f:
        f.seek(75 * MB)
        f.write(os.urandom(64 * 1024))
    (root / "browser" / "part-007.bin").write_bytes(os.urandom(MB))
    (root / "browser" / "new.bin").write_bytes(os.urandom(100_000))


@pytest.mark.slow
def test_a_firefox_release_applies_in_under_256_mb(tmp_path, http_dir):
    """A 300 MB Firefox release applies with ru_maxrss < 256 MB, from its per-file patch
    (chunked frames for the 150 MB library, the CD-ROM's files as base) and, when the
    patch does not apply, from its full archive; its publish peaks well under 1 GB."""
    template = tmp_path / "fx"
    _firefox_template(template)

    def prepare(root: Path, version: str) -> None:
        shutil.copytree(template, root / "firefox" / PLATFORM, dirs_exist_ok=True)
        if version == "1.1.0":
            _change_firefox(root / "firefox" / PLATFORM)

    repo = make_repo(tmp_path, *http_dir, prepare=prepare)
    repo.publish("1.0.0", tmp_path)  # Firefox as on the CD-ROM: its archive, the patch base
    bundle = repo.bundle("1.1.0", tmp_path)
    proc = subprocess.run(
        _child(PUBLISH, str(repo.project.root), "1.1.0", str(bundle)),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"firefox-{PLATFORM}: patched (" in proc.stdout
    publish_peak = int(proc.stdout.split("maxrss ")[1].split()[0])
    assert publish_peak < 1024 * MB, publish_peak
    repo.sync()

    patched = _apply(repo, tmp_path / "data", tmp_path, "0.9.0")
    assert patched["patched"] == [f"firefox-{PLATFORM}"]
    assert not patched["fallback"]
    assert max(patched["maxrss"], patched["hwm"]) < 256 * MB, patched

    ids = component_ids(bundle)
    base = component_ids(repo.cd)[f"firefox-{PLATFORM}"]
    patch = f"demo-bank-c-{ids[f'firefox-{PLATFORM}']}.from-{base}.patch"
    serve_target(repo, patch, b"not a patch container")
    full = _apply(repo, tmp_path / "data-full", tmp_path, "0.9.0")
    assert full["fallback"]
    assert max(full["maxrss"], full["hwm"]) < 256 * MB, full
