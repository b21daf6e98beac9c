"""Shared fixtures: a fresh demo key project per test (init takes a few milliseconds); the
session's images (src/esecure/demo/images.py), each built once and only when a test asks."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from esecure.demo.images import FIREFOX, Built, Served, extract, run_build, served_image
from esecure.scaffold import InitOptions, init_project


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """A demo key project, as `esecure init --demo` writes it."""
    directory = tmp_path / "project"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    return directory


@pytest.fixture(autouse=True)
def _no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read or write the developer's real OS keyring."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("ESECURE_PASSPHRASE", raising=False)


@pytest.fixture(scope="session")
def demo_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The demo project's image (the first of the two reproducibility builds)."""
    if not FIREFOX.is_dir():
        pytest.fail(f"{FIREFOX} is missing: run build_scripts/install-system-deps.sh")
    base = tmp_path_factory.mktemp("image-a")
    project = base / "project"
    init_project(project, InitOptions(demo=True), passphrase=None)
    yield run_build(project, base / "out", base)
    shutil.rmtree(base / "out", ignore_errors=True)  # ~0.5 GB: pytest keeps old temp dirs


@pytest.fixture(scope="session")
def extracted(demo_image: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo image's CD-ROM, extracted by xorriso."""
    base = tmp_path_factory.mktemp("extracted")
    yield extract(demo_image.cdrom, base / "cd")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def served(
    demo_image: Built, extracted: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The demo image rebuilt against a running `esecure serve` (its frozen launcher
    reused), extracted, with 1.0.1 published; the server runs for the session."""
    base = tmp_path_factory.mktemp("served")
    with served_image(demo_image.project, extracted, base) as image:
        yield image
    shutil.rmtree(base, ignore_errors=True)
