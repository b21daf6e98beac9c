"""The crash harness's judge: it accepts exactly the allowed states and nothing degraded."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from esecure_onkey import boot
from tests.updater import checker
from tests.updater.checker import State, check, decode_pointer, lies
from tests.updater.conftest import PLATFORM, component_ids
from tests.updater.scenarios import NEW, OLD, world_at


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The published releases, the CD-ROM and the prepared data areas, once per module."""
    with world_at(tmp_path_factory.mktemp("world")) as made:
        yield made


@pytest.fixture
def area(world, tmp_path):
    """A copy of the on-trial area: 1.2.0 on trial over 1.1.0 (both in the store)."""
    data = tmp_path / "data"
    shutil.copytree(world.on_trial(), data)
    return data


def _app(world, version: str) -> str:
    return component_ids(world.repo.bundles[version])["app"]


def test_accepts_the_state_it_is_told(world, area):
    """The on-trial area is exactly 1.2.0 in force, 1.1.0 whole before it."""
    assert check(area, world.cd, [world.trial()], PLATFORM) == []


def test_refuses_a_degraded_start(world, area):
    """A component of the release in force that does not match its list fails, though
    the bootstrap would start the previous release."""
    victim = area / "store" / _app(world, NEW) / "product.json"
    victim.write_bytes(victim.read_bytes()[:-1])
    assert boot.choose(world.cd, area, count_start=False, platform=PLATFORM).degraded
    problems = check(area, world.cd, [world.trial()], PLATFORM)
    assert any("release" in p and "product.json differs" in p for p in problems), problems


def test_finds_a_completion_record_that_lies(world, area):
    """A store entry missing a file under a valid record is a lie, even one no release in
    force names."""
    shutil.rmtree(area / "store" / _app(world, OLD) / "esecure")
    problems = check(area, world.cd, [State(world.rids[NEW], NEW, world.rids[OLD], good=False)])
    assert any(p.startswith("completion record lies") for p in problems), problems


def test_finds_an_unlisted_file(world, area):
    """A file in a complete component that its list does not name is refused."""
    (area / "store" / _app(world, NEW) / "extra.py").write_text("x = 1\n")
    assert any("extra.py is not listed" in p for p in lies(area))


def test_refuses_a_state_it_was_not_told(world, area):
    """The on-trial state is not accepted where only the old one is allowed."""
    assert check(area, world.cd, [world.old()], PLATFORM) != []


def test_previous_must_be_whole_before_collection(world, area):
    """On trial, the previous release is the fallback: a damaged one is refused."""
    (area / "releases" / f"{world.rids[OLD]}.json").unlink()
    problems = check(area, world.cd, [world.trial()], PLATFORM)
    assert any(p.startswith("previous: release") for p in problems), problems


def test_a_torn_pointer_record_is_invalid(area):
    """A pointer record cut short fails its checksum."""
    data = (area / "pointer-1").read_bytes()
    assert decode_pointer(data) is not None
    assert decode_pointer(data[:-5]) is None


def test_reads_the_key_without_the_code_under_test():
    """The judge imports neither esecure nor esecure_onkey: it has its own reader."""
    tree = ast.parse(Path(checker.__file__).read_text(encoding="utf-8"))
    imported = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not {m for m in imported if m.split(".")[0] in {"esecure", "esecure_onkey"}}
