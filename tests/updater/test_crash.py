"""Crash tests on the component store: SIGKILL at named checkpoints, and power cuts that
lose what was not synced.

After each crash the key must be in exactly one of two states - the old release (1.1.0)
in force, or the new one (1.2.0) - with the pointer's release complete (every component
the CD-ROM's own, or complete in the store and matching its list file by file) and its
``previous`` right: never a degraded start. That is judged by :func:`check_state`, an
independent reader of the on-key files written here (not the bootstrap's ``store``
module). A later run must then complete the update and collect the garbage.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from esecure.updater._disk import CHECKPOINTS, Checkpoints
from esecure.updater.client import confirm_started, mark_good
from esecure_onkey import boot

from .checker import lies, pointer_in_force, release_problems
from .conftest import PLATFORM, component_ids, serve_target, update
from .powercut import TEARS, PowerCut, PowerCutDisk, calls, sweep
from .scenarios import (
    first_install,
    first_start,
    install_over_damaged,
    install_over_running,
    roll_back,
    world_at,
)

CHILD = r"""
import sys
from pathlib import Path
from esecure_onkey import boot
from esecure.updater._disk import Checkpoints
from esecure.updater.client import UpdateClient, confirm_started

mode, data, url, cd, current, running = sys.argv[1:7]
cp = Checkpoints.from_env()
data, cd = Path(data), Path(cd)
if mode == "update":
    c = UpdateClient(data, url, "demo-bank", cd=cd, platform="linux", timeout=10, checkpoints=cp)
    offer = c.check(current, running=running)
    c.install(offer, c.download(offer))
else:
    choice = boot.choose(cd, data, checkpoint=cp, platform="linux")
    confirm_started(data, cp, running=choice.release)
"""

UPDATE_POINTS = [
    c for c in CHECKPOINTS if not c.startswith(("first-start", "gc")) and c != "staging.file-50"
]
PATCH_POINTS = [c for c in UPDATE_POINTS if c != "download.archive-fetched"]
FULL_POINTS = ["download.archive-fetched", "staging.file-10", "component.written"]
START_POINTS = [c for c in CHECKPOINTS if c.startswith(("first-start", "gc"))]
KILLS = (
    [("patch", c) for c in PATCH_POINTS]
    + [("full", c) for c in FULL_POINTS]
    + [("start", c) for c in START_POINTS]
)
OLD, NEW = "1.1.0", "1.2.0"


# --- the independent checker (tests/updater/checker.py) ----------------------------------


def check_state(data: Path, cd: Path, rids: dict[str, str]) -> str:
    """The version in force (OLD or NEW), asserting the pointer's release is whole, its
    ``previous`` right and no completion record lies."""
    assert lies(data) == []
    pointer = pointer_in_force(data)
    assert pointer is not None, "no valid pointer record"
    version = next((v for v, rid in rids.items() if rid == pointer.release), None)
    assert version in (OLD, NEW), pointer
    if version == NEW:
        assert pointer.previous == rids[OLD], pointer
    assert release_problems(data, cd, pointer.release, PLATFORM, version) == []
    choice = boot.choose(cd, data, count_start=False, platform=PLATFORM)
    assert (choice.version, choice.degraded) == (version, False), choice.reason
    return version


def _store_ids(data: Path) -> set[str]:
    return {p.name.split(".")[0] for p in (data / "store").iterdir() if p.name[0] != "."}


def _assert_finished(repo, data: Path, rids: dict[str, str]) -> None:
    """NEW in force and good; the store holds exactly NEW's non-CD components."""
    pointer = pointer_in_force(data)
    assert pointer is not None
    assert (pointer.release, pointer.good) == (rids[NEW], True)
    assert check_state(data, repo.cd, rids) == NEW
    cd_ids = set(component_ids(repo.cd).values())
    assert _store_ids(data) == set(component_ids(repo.bundles[NEW]).values()) - cd_ids
    assert {p.name for p in (data / "releases").iterdir()} == {
        f"{rids[NEW]}.json",
        f"{rids[NEW]}.sig",
    }


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def running_old(repo, tmp_path):
    """1.1.0 running and good (app from the store); 1.2.0 published (app and deps
    changed: two components to write)."""
    data = tmp_path / "data"
    first = update(repo, data, "0.9.0")
    mark_good(data, running=first)
    repo.publish(OLD, tmp_path)
    old = update(repo, data, "1.0.0", running=first)
    mark_good(data, running=old)
    repo.publish(NEW, tmp_path, deps="2")
    rids = {OLD: old, NEW: _release_id(repo, NEW)}
    return data, rids


def _release_id(repo, version: str) -> str:
    path = repo.project.root / "repository" / "targets" / f"demo-bank-{version}.release"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _finish(repo, data: Path, rids: dict[str, str]) -> None:
    """What the next starts do: update if the old release runs, start, mark good."""
    choice = boot.choose(repo.cd, data, platform=PLATFORM)
    if choice.version == OLD:
        update(repo, data, OLD, running=choice.release)
        choice = boot.choose(repo.cd, data, platform=PLATFORM)
    confirm_started(data, running=choice.release)
    _assert_finished(repo, data, rids)


# --- SIGKILL ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "checkpoint"), KILLS, ids=[f"{m}-{c}" for m, c in KILLS])
def test_sigkill_at_checkpoint_leaves_old_or_new_then_completes(
    repo, running_old, mode, checkpoint
):
    """Killed at the checkpoint, the key runs exactly the old or the new release, whole;
    the next starts finish the update and collect the garbage."""
    data, rids = running_old
    if mode == "full":  # a patch that does not apply: the app comes as a full archive
        new, old = component_ids(repo.bundles[NEW])["app"], component_ids(repo.bundles[OLD])["app"]
        serve_target(repo, f"demo-bank-c-{new}.from-{old}.patch", b"not a patch container")
    if mode == "start":
        update(repo, data, OLD, running=rids[OLD])  # 1.2.0 installed, on trial
    child = "start" if mode == "start" else "update"
    args = [child, str(data), repo.url, str(repo.cd), OLD, rids[OLD]]
    env = {"ESECURE_TEST_CRASH_AT": checkpoint, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, timeout=120, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    version = check_state(data, repo.cd, rids)
    if checkpoint in ("pointer.written",) or mode == "start":
        assert version == NEW
    elif checkpoint.startswith(("download", "install", "staging", "component", "release")):
        assert version == OLD
    _finish(repo, data, rids)


def test_kill_points_cover_every_phase():
    """Every phase of the update has kill points, the new ones of the store included."""
    for point in ("component.written", "release.written", "pointer.written", "gc.begin"):
        assert any(c == point for _m, c in KILLS), point
    for phase in ("download", "staging", "component", "first-start", "gc"):
        assert sum(1 for _m, c in KILLS if c.startswith(phase)) >= 2, phase
    assert len(KILLS) >= 25


# --- power cuts ---------------------------------------------------------------------------


# The power-cut model (tests/updater/powercut.py) under the client's disk: cut at each
# checkpoint of the real client over HTTP, both torn variants, then the next run completes
# the update. (Every call, not only the checkpoints, is cut by the sweeps below.)

TORN_POINTS = [c for c in PATCH_POINTS if not c.startswith("download")]


def _cut_at(checkpoint: str, disk: PowerCutDisk) -> Checkpoints:
    def cut(name: str) -> None:
        if name == checkpoint:
            disk.power_off()
            raise PowerCut(name)

    return Checkpoints(cut)


@pytest.mark.parametrize("tear", TEARS)
@pytest.mark.parametrize("checkpoint", TORN_POINTS)
def test_power_cut_at_checkpoint_leaves_old_or_new(repo, running_old, checkpoint, tear):
    """Cut at the checkpoint, what was not synced lost or torn: still exactly the old or
    the new release, whole; then the update completes."""
    data, rids = running_old
    disk = PowerCutDisk(data)
    with pytest.raises(PowerCut):
        update(repo, data, OLD, running=rids[OLD], disk=disk, checkpoints=_cut_at(checkpoint, disk))
    disk.restore(tear, seed=checkpoint)
    check_state(data, repo.cd, rids)
    _finish(repo, data, rids)


@pytest.mark.parametrize("tear", TEARS)
def test_power_cut_during_garbage_collection_leaves_the_new_release_whole(repo, running_old, tear):
    """Cut after the first component removed: the new release runs, whole; the next
    mark good collects the rest."""
    data, rids = running_old
    update(repo, data, OLD, running=rids[OLD])
    disk = PowerCutDisk(data)
    with pytest.raises(PowerCut):
        mark_good(
            data, running=rids[NEW], disk=disk, checkpoints=_cut_at("gc.component-removed", disk)
        )
    disk.restore(tear)
    assert check_state(data, repo.cd, rids) == NEW
    _finish(repo, data, rids)


# --- a cut after every call (tests/updater/scenarios.py) ---------------------------------

SCENARIOS = (install_over_running, install_over_damaged, first_install, first_start, roll_back)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    """Releases whose app component has a few files: every cut of every scenario."""
    with world_at(tmp_path_factory.mktemp("world")) as made:
        yield made


@pytest.fixture(scope="module")
def big_world(tmp_path_factory):
    """Releases of the test bundle's full size (60 modules in app)."""
    with world_at(tmp_path_factory.mktemp("world"), files=60) as made:
        yield made


def _every_cut(world, make, work: Path) -> tuple[int, list[str]]:
    scenario = make(world)
    total = len(calls(scenario, work).ops)
    return total, [str(f) for f in sweep(scenario, work, range(total + 1))]


@pytest.mark.parametrize("make", SCENARIOS, ids=lambda f: f.__name__)
def test_every_cut_leaves_old_or_new(small_world, tmp_path, make):
    """A cut after every disk call, both torn variants: the checker accepts each state."""
    total, failures = _every_cut(small_world, make, tmp_path / "work")
    assert total >= 10
    assert failures == [], "\n".join(failures[:10])


@pytest.mark.slow
@pytest.mark.parametrize("make", SCENARIOS, ids=lambda f: f.__name__)
def test_every_cut_leaves_old_or_new_full_size(big_world, tmp_path, make):
    """The same with the full-size bundle (hundreds of calls per install)."""
    _total, failures = _every_cut(big_world, make, tmp_path / "work")
    assert failures == [], "\n".join(failures[:10])
