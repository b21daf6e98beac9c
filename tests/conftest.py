"""Shared fixtures: a fresh demo key project per test (init takes a few milliseconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
