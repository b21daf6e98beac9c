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
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from esecure.updater._disk import CHECKPOINTS, Checkpoints, Disk
from esecure.updater.client import confirm_started, mark_good
from esecure_onkey import boot

from .conftest import PLATFORM, component_ids, serve_target, update

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


# --- the independent checker ---------------------------------------------------------------


def _unseal(path: Path) -> dict | None:
    try:
        outer = json.loads(path.read_bytes())
        body = outer["body"]
        if hashlib.sha256(body.encode()).hexdigest() != outer["sha256"]:
            return None
        return json.loads(body)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pointer(data: Path) -> dict:
    records = [_unseal(data / f"pointer-{i}") for i in (0, 1)]
    valid = [r for r in records if r is not None]
    assert valid, "no valid pointer record"
    return max(valid, key=lambda r: r["seq"])


def _complete(data: Path, cd: Path, name: str, cid: str) -> bool:
    """Component ``cid`` is the CD-ROM's, or complete in the store file by file."""
    cd_record = json.loads((cd / "release.json").read_bytes())
    if cd_record["components"].get(name) == cid:
        return True
    store = data / "store"
    done = _unseal(store / f"{cid}.complete")
    if done is None or done.get("component") != cid:
        return False
    listed = (store / f"{cid}.list").read_bytes()
    if hashlib.sha256(listed).hexdigest() != cid:
        return False
    for entry in json.loads(listed)["files"]:
        path = store / cid / entry["path"]
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            return False
    return True


def check_state(data: Path, cd: Path, rids: dict[str, str]) -> str:
    """The version in force (OLD or NEW), asserting the pointer's release is whole and
    its ``previous`` is right."""
    pointer = _pointer(data)
    version = next((v for v, rid in rids.items() if rid == pointer["release"]), None)
    assert version in (OLD, NEW), pointer
    if version == NEW:
        assert pointer["previous"] == rids[OLD], pointer
    record_bytes = (data / "releases" / f"{pointer['release']}.json").read_bytes()
    assert hashlib.sha256(record_bytes).hexdigest() == pointer["release"]
    record = json.loads(record_bytes)
    assert record["version"] == version
    for name in ("app", f"deps-{PLATFORM}", f"firefox-{PLATFORM}", "profile", "trust"):
        assert _complete(data, cd, name, record["components"][name]), name
    choice = boot.choose(cd, data, count_start=False, platform=PLATFORM)
    assert (choice.version, choice.degraded) == (version, False), choice.reason
    return version


def _store_ids(data: Path) -> set[str]:
    return {p.name.split(".")[0] for p in (data / "store").iterdir() if p.name[0] != "."}


def _assert_finished(repo, data: Path, rids: dict[str, str]) -> None:
    """NEW in force and good; the store holds exactly NEW's non-CD components."""
    pointer = _pointer(data)
    assert (pointer["release"], pointer["good"]) == (rids[NEW], True)
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


class PowerCut(BaseException):
    """Raised at the chosen checkpoint; BaseException so no handler of the updater eats it."""


class TornDisk(Disk):
    """A disk that, at a power cut, tears every write not yet synced (half its length, or
    the same length of stale bytes) and undoes renames whose directory was not synced,
    following unsynced files through the renames of their directories."""

    def __init__(self, *, stale: bool = False) -> None:
        super().__init__()
        self.stale = stale
        self.unsynced: set[Path] = set()
        self.renames: list[tuple[Path, Path]] = []
        self.torn: list[Path] = []

    def write(self, path: Path, data: bytes) -> None:
        super().write(path, data)
        self.unsynced.add(path)

    def write_stream(self, path, chunks):
        size = super().write_stream(path, chunks)
        self.unsynced.add(path)
        return size

    def sync(self, path: Path) -> None:
        super().sync(path)
        self.unsynced.discard(path)

    def sync_dir(self, directory: Path) -> None:
        super().sync_dir(directory)
        self.renames = [(s, d) for s, d in self.renames if d.parent != directory]

    def replace(self, src: Path, dst: Path) -> None:
        super().replace(src, dst)
        moved = set()
        for path in self.unsynced:
            if path == src or src in path.parents:
                moved.add(dst / path.relative_to(src) if path != src else dst)
            else:
                moved.add(path)
        self.unsynced = moved
        self.renames.append((src, dst))

    def power_cut(self) -> None:
        for path in sorted(self.unsynced):
            if path.is_file():
                size = path.stat().st_size
                with path.open("r+b") as f:
                    if self.stale:  # FAT may leave the clusters' old bytes, same length
                        f.write(b"\0" * size)
                    else:
                        f.truncate(size // 2)
                self.torn.append(path)
        for src, dst in reversed(self.renames):
            if dst.exists() and not src.exists():
                dst.replace(src)


TORN_POINTS = [c for c in PATCH_POINTS if not c.startswith("download")]


@pytest.mark.parametrize("stale", [False, True], ids=["truncated", "stale"])
@pytest.mark.parametrize("checkpoint", TORN_POINTS)
def test_power_cut_at_checkpoint_leaves_old_or_new(repo, running_old, checkpoint, stale):
    """Unsynced writes torn at the checkpoint: still exactly the old or the new release,
    whole; then the update completes."""
    data, rids = running_old
    disk = TornDisk(stale=stale)

    def cut(name: str) -> None:
        if name == checkpoint:
            raise PowerCut(name)

    with pytest.raises(PowerCut):
        update(repo, data, OLD, running=rids[OLD], disk=disk, checkpoints=Checkpoints(cut))
    disk.power_cut()
    check_state(data, repo.cd, rids)
    _finish(repo, data, rids)


def test_torn_layer_really_tears_unsynced_writes(tmp_path):
    """The test layer itself: an unsynced write is cut, a synced one survives, a file
    written in a directory then renamed is followed."""
    disk = TornDisk()
    disk.write(tmp_path / "a", b"x" * 100)
    disk.write_synced(tmp_path / "b", b"y" * 100)
    (tmp_path / "d").mkdir()
    disk.write(tmp_path / "d" / "c", b"z" * 100)
    disk.replace(tmp_path / "d", tmp_path / "e")
    disk.sync_dir(tmp_path)
    disk.power_cut()
    assert (tmp_path / "a").stat().st_size == 50
    assert (tmp_path / "b").stat().st_size == 100
    assert (tmp_path / "e" / "c").stat().st_size == 50


def test_torn_pointer_record_keeps_the_previous_release(repo, running_old):
    """A pointer write torn by a power cut leaves the previous pointer, hence 1.1.0, in
    force; the components already written wait for the next run."""
    data, rids = running_old
    disk = TornDisk()
    real = disk.write_synced

    def torn_pointer(path: Path, data_: bytes) -> None:
        if path.name.startswith("pointer-"):
            disk.write(path, data_)
            raise PowerCut(path.name)
        real(path, data_)

    disk.write_synced = torn_pointer  # type: ignore[method-assign]
    with pytest.raises(PowerCut):
        update(repo, data, OLD, running=rids[OLD], disk=disk)
    disk.power_cut()
    assert check_state(data, repo.cd, rids) == OLD
    _finish(repo, data, rids)


def test_power_cut_during_garbage_collection_leaves_the_new_release_whole(repo, running_old):
    """Cut after the first component removed: the new release runs, whole; the next
    mark good collects the rest."""
    data, rids = running_old
    update(repo, data, OLD, running=rids[OLD])
    disk = TornDisk()

    def cut(name: str) -> None:
        if name == "gc.component-removed":
            raise PowerCut(name)

    with pytest.raises(PowerCut):
        mark_good(data, running=rids[NEW], disk=disk, checkpoints=Checkpoints(cut))
    disk.power_cut()
    assert check_state(data, repo.cd, rids) == NEW
    _finish(repo, data, rids)
