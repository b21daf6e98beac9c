"""Crash tests: SIGKILL at named checkpoints, and power cuts after every disk call.

The judge is tests/updater/checker.py (its own reader of the key's files): after any
crash the key is *exactly* in the old state or the new one — the pointer in force names
a complete slot holding its release, every valid completion record tells the truth — and
never in a degraded start (the bootstrap falling back because the active slot is
incomplete fails the test). A SIGKILL keeps the page cache, so it shows what a process
kill leaves; the power-cut model (tests/updater/powercut.py) shows what a yanked key
leaves, cut after each call of the install, of a first start and ``mark_good``, and of a
switch back after two failed starts. tests/updater/test_mutants.py proves the harness
fails for an installer with its ordering or durability broken.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import shutil
import signal
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from esecure.updater import _install
from esecure.updater._disk import CHECKPOINTS, Checkpoints, Disk
from esecure.updater.client import UpdateClient, confirm_started
from esecure_onkey import boot
from tests.updater.checker import Release, State, check, newest_pointer
from tests.updater.powercut import PowerCut, PowerCutDisk, calls, choose_cuts, sweep
from tests.updater.scenarios import (
    build_world,
    failed_starts,
    first_install,
    first_start,
    install_over_two_slots,
)

APP = "demo-bank"

CHILD = r"""
import sys
from pathlib import Path
from esecure_onkey import boot
from esecure.updater._disk import Checkpoints
from esecure.updater.client import UpdateClient, confirm_started

mode, data, url, root, current, running = sys.argv[1:7]
cp = Checkpoints.from_env()
data = Path(data)
if mode == "update":
    c = UpdateClient(data, url, "demo-bank", initial_root=Path(root),
        image_key=Path(root).parent / "trust" / "image-signing.pub.pem", timeout=10, checkpoints=cp)
    offer = c.check(current)
    c.install(offer, c.download(offer), running_slot=running or None)
else:
    boot.choose(Path(root).parent, data, checkpoint=cp)
    confirm_started(data, cp)
"""

PATCH_POINTS = [
    c for c in CHECKPOINTS if not c.startswith("first-start") and c != "download.archive-fetched"
]
FULL_POINTS = [
    "download.archive-fetched",
    "patch.begin",
    "patch.verified",
    "staging.file-10",
    "switch.renamed",
    "switch.pointer-written",
]
START_POINTS = [c for c in CHECKPOINTS if c.startswith("first-start")]
KILLS = (
    [("patch", c) for c in PATCH_POINTS]
    + [("full", c) for c in FULL_POINTS]
    + [("start", c) for c in START_POINTS]
)


def _client(repo, data, **kw):
    return UpdateClient(
        data,
        repo.url,
        APP,
        initial_root=repo.initial_root,
        image_key=repo.image_key,
        timeout=10,
        **kw,
    )


def _update(repo, data, current, running, **kw):
    c = _client(repo, data, **kw)
    offer = c.check(current)
    if offer is None:
        return None
    return c.install(offer, c.download(offer), running_slot=running)


@pytest.fixture
def two_slots(repo, tmp_path):
    """A: 1.0.0, B: 1.1.0 running and good; 1.2.0 published (A will be replaced)."""
    data = tmp_path / "data"
    _update(repo, data, "0.9.0", None)
    confirm_started(data)
    repo.publish("1.1.0", tmp_path)
    _update(repo, data, "1.0.0", "A")
    confirm_started(data)
    repo.publish("1.2.0", tmp_path)
    return data


def _releases(repo) -> list[Release]:
    """Every published release, read from the project's archives (what the client gets)."""
    targets = repo.project.root / "repository" / "targets"
    out = []
    for archive in sorted(targets.glob(f"{APP}-*.tar.gz")):
        version = archive.name.removeprefix(f"{APP}-").removesuffix(".tar.gz")
        out.append(Release.from_tar(version, gzip.decompress(archive.read_bytes())))
    return out


def _install_states(releases: list[Release]) -> list[State]:
    """Installing 1.2.0 while 1.1.0 runs from B: old (A may be invalidated) or new."""
    r = {x.version: x for x in releases}
    return [
        State("B", r["1.1.0"], previous="A", good=True),
        State("A", r["1.2.0"], previous="B", previous_holds=r["1.1.0"], good=False),
    ]


def _start_states(releases: list[Release]) -> list[State]:
    """A first start of 1.2.0 (from A, previous B): still on trial, or marked good."""
    r = {x.version: x for x in releases}
    return [State("A", r["1.2.0"], "B", r["1.1.0"], good=g) for g in (False, True)]


def _assert_exactly(cd: Path, data: Path, states: list[State], releases: list[Release]) -> None:
    """The checker finds one of ``states``, and the bootstrap's own reader agrees: the same
    pointer in force, whose slot it would start (not degraded). Read-only: ``choose`` itself
    would count a start or switch back."""
    problems = check(data, states, releases)
    assert not problems, problems
    pointer, theirs = newest_pointer(data), boot.read_pointer(data)
    assert (pointer and (pointer.seq, pointer.active)) == (theirs and (theirs.seq, theirs.active))
    if pointer is not None:
        record, why = boot.usable_slot(data, pointer.active, cd)
        assert record is not None, why


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "checkpoint"), KILLS, ids=[f"{m}-{c}" for m, c in KILLS])
def test_sigkill_at_checkpoint_leaves_the_old_or_the_new_state(
    repo, two_slots, tmp_path, mode, checkpoint
):
    """Killed at the checkpoint: exactly the old or new state, not degraded; then it updates."""
    data = two_slots
    if mode == "full":
        (data / "updates" / "cache" / f"{APP}-1.1.0.tar").unlink()
    if mode == "start":
        _update(repo, data, "1.1.0", "B")  # 1.2.0 installed, on trial
    child_mode = "start" if mode == "start" else "update"
    args = [child_mode, str(data), repo.url, str(repo.initial_root), "1.1.0", "B"]
    env = {"ESECURE_TEST_CRASH_AT": checkpoint, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, timeout=120, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    releases = _releases(repo)
    states = _start_states(releases) if mode == "start" else _install_states(releases)
    _assert_exactly(tmp_path, data, states, releases)
    pointer = newest_pointer(data)
    if mode != "start":
        _update(repo, data, pointer.version, pointer.active)
    boot.choose(tmp_path, data)
    confirm_started(data)
    _assert_exactly(tmp_path, data, [_start_states(releases)[1]], releases)


# --- power cuts after each disk call ------------------------------------------------------------

STAGING_SAMPLE = 24  # cuts drawn among the staging calls in the default run (all: slow)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three published releases and a CD-ROM root, built once for this module."""
    return build_world(tmp_path_factory.mktemp("world"))


def _switch_and_sample(scenario, work: Path) -> list[int]:
    """Every cut from the switch on (the installer's 'switch.begin' checkpoint), 0, the end,
    and a seeded sample of the staging phase."""
    disk = calls(scenario, work)
    total = len(disk.ops)
    return choose_cuts(
        total, [range(disk.marks["switch.begin"], total + 1)], sample=STAGING_SAMPLE, seed=8
    )


def _failures(scenario, work: Path, cuts: list[int]) -> list[str]:
    return [str(f) for f in sweep(scenario, work, cuts)]


def test_install_cut_at_every_switch_call_leaves_the_old_or_the_new_state(world, tmp_path):
    """Installing 1.2.0 over A: a cut after each switch call (and a sample) is old or new."""
    scenario = install_over_two_slots(world)
    cuts = _switch_and_sample(scenario, tmp_path / "work")
    assert len(cuts) >= 40
    assert _failures(scenario, tmp_path / "work", cuts) == []


def test_first_install_cut_at_every_switch_call_leaves_the_cd_or_the_new_state(world, tmp_path):
    """The first install into an empty area: a cut leaves no pointer or the new one."""
    scenario = first_install(world)
    cuts = _switch_and_sample(scenario, tmp_path / "work")
    assert _failures(scenario, tmp_path / "work", cuts) == []


@pytest.mark.slow
@pytest.mark.parametrize("make", [install_over_two_slots, first_install], ids=lambda f: f.__name__)
def test_install_cut_after_every_call_leaves_the_old_or_the_new_state(world, tmp_path, make):
    """Exhaustive: a cut after each of the install's calls (about 170), both torn variants."""
    scenario = make(world)
    total = len(calls(scenario, tmp_path / "work").ops)
    assert _failures(scenario, tmp_path / "work", range(total + 1)) == []


def test_first_start_and_mark_good_cut_after_every_call(world, tmp_path):
    """The counted first start and mark_good: a cut after each call is on trial or good."""
    scenario = first_start(world)
    total = len(calls(scenario, tmp_path / "work").ops)
    assert total >= 6  # counter (mkdir, entry, append, sync) and the good pointer
    assert _failures(scenario, tmp_path / "work", range(total + 1)) == []


def test_next_install_completes_after_a_cut_in_the_switch(world, tmp_path):
    """After a cut at each named step of the switch, the next install completes."""
    scenario = install_over_two_slots(world)
    work = tmp_path / "work"
    marks = calls(scenario, work).marks
    r = world.releases
    new = State("A", r["1.2.0"], previous="B", previous_holds=r["1.1.0"], good=False)
    for cut in sorted({n for name, n in marks.items() if name.startswith("switch.")}):
        shutil.rmtree(work)
        shutil.copytree(scenario.template, work)
        cut_disk = PowerCutDisk(work, cut_after=cut)
        with contextlib.suppress(PowerCut):
            scenario.run(work, cut_disk)
        cut_disk.restore("stale", seed=cut)
        pointer = newest_pointer(work)
        if (pointer.version, pointer.active) == ("1.1.0", "B"):
            world.install(work, "1.2.0", "B", Disk())
        assert check(work, [new], list(r.values())) == [], cut


def test_torn_pointer_record_keeps_the_previous_version(world, tmp_path):
    """Cut after the new pointer record is written, before its sync: 1.1.0 stays in force."""
    scenario = install_over_two_slots(world)
    work = tmp_path / "work"
    ops = calls(scenario, work).ops
    cut = max(i for i, op in enumerate(ops, 1) if op.startswith("write pointer-"))
    for tear in ("truncated", "stale"):
        (failure,) = list(sweep(scenario, work, [cut], tears=[tear])) or [None]
        assert failure is None, failure
        assert newest_pointer(work).version == "1.1.0"


def _files_only(tar_bytes: bytes) -> bytes:
    """The same archive without its directory members (a valid, if unusual, release)."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as source,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for member in source.getmembers():
            if member.isfile():
                tar.addfile(member, source.extractfile(member))
    return out.getvalue()


def test_directories_the_archive_omits_are_synced_too(world, tmp_path):
    """An archive listing files only: every directory made for them is durable at the end."""
    data = tmp_path / "data"
    shutil.copytree(world.two_slots(), data)
    disk = PowerCutDisk(data)
    _install.install(
        data,
        _files_only(world.tars["1.2.0"]),
        image_key=world.image_key,
        app=world.app,
        version="1.2.0",
        running_slot="B",
        disk=disk,
        cp=Checkpoints(),
    )
    disk.restore("truncated")
    r = world.releases
    new = State("A", r["1.2.0"], previous="B", previous_holds=r["1.1.0"], good=False)
    assert check(data, [new], list(r.values())) == []


# --- two failed starts after a real install (the client, the repository over HTTP) -------------


@pytest.fixture
def trial(repo, tmp_path):
    """1.0.0 in A (good), then 1.1.0 installed into B by the real client: on trial."""
    data = tmp_path / "data"
    _update(repo, data, "0.9.0", None)
    confirm_started(data)
    repo.publish("1.1.0", tmp_path)
    assert _update(repo, data, "1.0.0", "A") == "B"
    return data


def _rollback_states(releases: list[Release]) -> tuple[State, State]:
    r = {x.version: x for x in releases}
    on_trial = State("B", r["1.1.0"], "A", r["1.0.0"], good=False)
    back = State("A", r["1.0.0"], previous="cd", good=True, report=True)
    return on_trial, back


def test_two_failed_starts_after_a_real_install_roll_back(repo, trial, tmp_path):
    """Started twice without mark_good, 1.1.0 gives way to 1.0.0 at the third start."""
    on_trial, back = _rollback_states(_releases(repo))
    for n in (1, 2):
        assert boot.choose(tmp_path, trial).slot == "B"
        _assert_exactly(tmp_path, trial, [replace(on_trial, starts=(n,))], _releases(repo))
    third = boot.choose(tmp_path, trial)
    assert (third.slot, third.rolled_back) == ("A", True), third.reason
    _assert_exactly(tmp_path, trial, [back], _releases(repo))


def test_rollback_cut_after_every_call_leaves_trial_or_rolled_back(repo, trial, tmp_path):
    """A cut after each call of the three starts (counter, report, pointer) is old or new."""
    releases = _releases(repo)
    on_trial, back = _rollback_states(releases)
    scenario = failed_starts(tmp_path, trial, on_trial, back, releases)
    work = tmp_path / "work"
    total = len(calls(scenario, work).ops)
    assert total >= 12  # two counted starts, then the report and the pointer
    assert _failures(scenario, work, range(total + 1)) == []


def test_kill_count_is_at_least_thirty():
    """The brief asks for at least 30 kill points, 3 or more in each phase."""
    assert len(KILLS) >= 30
    for phase in ("download", "patch", "staging", "switch", "first-start"):
        assert sum(1 for _m, c in KILLS if c.startswith(phase)) >= 3, phase


def test_corrupted_slot_at_start_uses_the_other_slot(two_slots, tmp_path):
    """A truncated file in the active slot: the next start runs the other complete slot."""
    data = two_slots
    active = boot.read_pointer(data).active
    victim = next(p for p in (data / "slots" / active).rglob("*.py"))
    victim.write_bytes(victim.read_bytes()[:10])
    choice = boot.choose(tmp_path, data)
    assert choice.slot not in (None, active)
    shutil.rmtree(data / "slots" / choice.slot / "lib")
    assert boot.choose(tmp_path, data).slot is None
