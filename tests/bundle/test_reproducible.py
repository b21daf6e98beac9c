"""Reproducibility: the same inputs give the same bytes, whoever builds them and when."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from esecure.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME
from esecure.bundle.tree import walk_files
from esecure.demo.images import copy_project, extract, run_build
from esecure_onkey.layout import CD_COMPONENTS, CD_RELEASE, CD_RELEASE_SIG

pytestmark = pytest.mark.slow


def test_second_build_elsewhere_is_byte_identical(demo_image, scratch):
    """Another directory, TMPDIR, umask, time zone and time, a fresh freeze: same bytes."""
    project = copy_project(demo_image.project, scratch / "elsewhere" / "proj")
    second = run_build(
        project,
        scratch / "out2",
        scratch / "elsewhere",
        umask=0o077,
        extra_env={"TZ": "Asia/Tokyo", "LC_ALL": "C"},
    )
    assert "freezing the bootstrap" in second.stderr
    assert second.cdrom.read_bytes() == demo_image.cdrom.read_bytes()
    assert _digest(second.data) == _digest(demo_image.data)  # ~1 GiB: hashed, not loaded


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def test_one_changed_byte_changes_only_its_entry(demo_image, extracted, scratch):
    """A guide with one byte changed: only its manifest line and the signature differ."""
    project = copy_project(demo_image.project, scratch / "proj")
    guide = project / "assets" / "guide" / "index.html"
    data = guide.read_bytes()
    guide.write_bytes(data[:-2] + bytes([data[-2] ^ 0x01]) + data[-1:])
    built = run_build(
        project, scratch / "out", scratch, args=("--launcher-dir", f"linux={extracted}")
    )
    changed = extract(built.cdrom, scratch / "cd")
    before = (extracted / MANIFEST_NAME).read_text().splitlines()
    after = (changed / MANIFEST_NAME).read_text().splitlines()
    differing = [b for a, b in zip(before, after, strict=True) if a != b]
    assert len(differing) == 1
    assert '"path": "guide/index.html"' in differing[0]
    assert (changed / SIGNATURE_NAME).read_bytes() != (extracted / SIGNATURE_NAME).read_bytes()
    # the guide is outside every component: the release and its lists are the same bytes
    for rel in [CD_RELEASE, CD_RELEASE_SIG, *walk_files(extracted / CD_COMPONENTS)]:
        path = rel if rel.startswith("release") else f"{CD_COMPONENTS}/{rel}"
        assert (changed / path).read_bytes() == (extracted / path).read_bytes(), path


def test_a_changed_product_json_changes_only_the_apps_id(demo_image, extracted, scratch):
    """Another support phone number (product.json only): the app's id changes, every other
    component keeps its id (so an update of this change writes only the app)."""
    project = copy_project(demo_image.project, scratch / "proj")
    config = project / "esecure.toml"
    config.write_text(config.read_text().replace("+33 1 23 45 67 89", "+33 1 98 76 54 32"))
    built = run_build(
        project, scratch / "out", scratch, args=("--launcher-dir", f"linux={extracted}")
    )
    changed = extract(built.cdrom, scratch / "cd")
    before = json.loads((extracted / CD_RELEASE).read_text())["components"]
    after = json.loads((changed / CD_RELEASE).read_text())["components"]
    assert sorted(before) == sorted(after)
    assert sorted(n for n in before if before[n] != after[n]) == ["app"]
