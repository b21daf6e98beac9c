"""Reproducibility: the same inputs give the same bytes, whoever builds them and when."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from esecure.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME

from .conftest import copy_project, extract, run_build

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
