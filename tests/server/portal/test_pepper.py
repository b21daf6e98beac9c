"""The pepper: outside the database, 0600, created once even by racing processes, or
given by the environment."""

from __future__ import annotations

import concurrent.futures
import stat

import pytest

from esecure.config import load_project
from esecure.errors import EsecureError
from esecure.server.portal.pepper import ENV, load_pepper, pepper_path


def test_created_0600_beside_the_server_keys(demo_project, monkeypatch):
    """First use writes keys/portal-pepper (0600, 32 random bytes); later uses read it."""
    monkeypatch.delenv(ENV, raising=False)
    project = load_project(demo_project)
    path = pepper_path(project)
    assert path == demo_project / "keys" / "portal-pepper"
    assert not path.exists()
    first = load_pepper(project)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_pepper(project) == first
    assert not (demo_project / "server" / "portal-pepper").exists()


def test_racing_first_uses_agree_on_one_pepper(demo_project, monkeypatch):
    """Eight threads creating it at once: one pepper, no temporary file left."""
    monkeypatch.delenv(ENV, raising=False)
    project = load_project(demo_project)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        peppers = set(pool.map(lambda _i: load_pepper(project), range(8)))
    assert len(peppers) == 1
    assert [p.name for p in pepper_path(project).parent.glob(".portal-pepper.*")] == []


def test_the_environment_wins(demo_project, monkeypatch):
    """ESECURE_PORTAL_PEPPER (hex) is used as is; no file is written."""
    monkeypatch.setenv(ENV, "ab" * 32)
    project = load_project(demo_project)
    assert load_pepper(project) == bytes.fromhex("ab" * 32)
    assert not pepper_path(project).exists()


@pytest.mark.parametrize("value", ["xyz", "ab" * 8])
def test_a_bad_pepper_is_es937(demo_project, monkeypatch, value):
    """Not hex, or shorter than 256 bits: ES937 naming where it came from."""
    monkeypatch.setenv(ENV, value)
    with pytest.raises(EsecureError) as info:
        load_pepper(load_project(demo_project))
    assert info.value.code == "ES937"
    assert ENV in str(info.value)
