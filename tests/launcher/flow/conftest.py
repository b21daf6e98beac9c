"""The flow tests' private host directories (socket, shadow) and a quiet environment."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    """The session's socket and Firefox's shadow in the test's own directories (the
    socket's in a short one: a Unix socket's path has at most 107 bytes)."""
    runtime = Path(tempfile.mkdtemp(prefix="esr-", dir="/tmp"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    (tmp_path / "cache").mkdir(mode=0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ESECURE_RESTARTS", raising=False)
    yield
    shutil.rmtree(runtime, ignore_errors=True)
