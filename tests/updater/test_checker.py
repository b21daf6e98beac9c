"""The crash harness's judge: it accepts exactly the allowed states and nothing degraded."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from esecure_onkey import boot
from tests.updater import checker
from tests.updater.checker import State, check, decode_pointer
from tests.updater.scenarios import build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three published releases and a CD-ROM root, built once for this module."""
    return build_world(tmp_path_factory.mktemp("world"))


@pytest.fixture
def area(world, tmp_path):
    """A copy of the two-slot area: A 1.0.0, B 1.1.0 running and good."""
    data = tmp_path / "data"
    shutil.copytree(world.two_slots(), data)
    return data


def _old(world) -> State:
    r = world.releases
    return State("B", r["1.1.0"], previous="A", previous_holds=r["1.0.0"], good=True)


def test_accepts_the_state_it_is_told(world, area):
    """The two-slot area is exactly B=1.1.0 in force with A=1.0.0 before it."""
    assert check(area, [_old(world)], list(world.releases.values())) == []


def test_refuses_a_degraded_start(world, area):
    """An incomplete active slot fails, though the bootstrap would start the previous one."""
    victim = area / "slots" / "B" / "product.json"
    victim.write_bytes(victim.read_bytes()[:-1])
    assert boot.choose(world.cd, area, count_start=False).degraded
    problems = check(area, [_old(world)], list(world.releases.values()))
    assert any("active slot B" in p for p in problems), problems


def test_finds_a_completion_record_that_lies(world, area):
    """A slot missing a file under a valid record is a lie, even for the previous slot."""
    shutil.rmtree(area / "slots" / "A" / "trust")
    state = State("B", world.releases["1.1.0"], previous="A", good=True)
    problems = check(area, [state], list(world.releases.values()))
    assert any(p.startswith("completion record lies: slot A") for p in problems), problems


def test_finds_an_unlisted_file(world, area):
    """A file in a complete slot that its release does not have is refused."""
    (area / "slots" / "B" / "lib" / "linux" / "extra.py").write_text("x = 1\n")
    problems = check(area, [_old(world)], list(world.releases.values()))
    assert any("extra.py not expected" in p for p in problems), problems


def test_refuses_a_state_it_was_not_told(world, area):
    """The old state is not accepted where only the new one is allowed."""
    r = world.releases
    new = State("A", r["1.2.0"], previous="B", previous_holds=r["1.1.0"], good=False)
    assert check(area, [new], list(r.values())) != []


def test_a_torn_pointer_record_is_invalid(area):
    """A pointer record cut short fails its checksum."""
    data = (area / "pointer-0").read_bytes()
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
