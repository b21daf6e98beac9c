"""Crash tests: SIGKILL at named checkpoints, and power cuts that lose unsynced writes.

After each crash the next start must run a complete version (the old or the new one, all
files matching its completion record), and a later run must complete the update.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from esecure.updater._disk import CHECKPOINTS, Checkpoints, Disk
from esecure.updater.client import UpdateClient, confirm_started
from esecure_onkey import boot

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


def _assert_complete_choice(cd: Path, data: Path) -> boot.Choice:
    """The next start runs a complete version: every file as its completion record says."""
    choice = boot.choose(cd, data, count_start=False)
    assert choice.slot is not None, choice.reason
    record, why = boot.check_slot(data, choice.slot, full=True)
    assert record is not None, why
    assert record.version in {"1.1.0", "1.2.0"}
    product = (data / "slots" / choice.slot / "product.json").read_text()
    assert product == f'{{"version": "{record.version}"}}\n'
    return choice


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "checkpoint"), KILLS, ids=[f"{m}-{c}" for m, c in KILLS])
def test_sigkill_at_checkpoint_leaves_a_complete_version(
    repo, two_slots, tmp_path, mode, checkpoint
):
    """Killed at the checkpoint, the key still starts a complete version, then updates."""
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

    choice = _assert_complete_choice(tmp_path, data)
    running_version = boot.check_slot(data, choice.slot)[0].version
    if mode != "start":
        _update(repo, data, running_version, choice.slot)
    boot.choose(tmp_path, data)
    confirm_started(data)
    pointer = boot.read_pointer(data)
    assert (pointer.version, pointer.good) == ("1.2.0", True)
    assert boot.check_slot(data, pointer.active, full=True)[0] is not None


class PowerCut(BaseException):
    """Raised at the chosen checkpoint; BaseException so no handler of the updater eats it."""


class TornDisk(Disk):
    """A disk that, at a power cut, tears every write not yet synced and undoes renames
    whose directory was not synced (what FAT on a yanked key may do)."""

    def __init__(self) -> None:
        self.unsynced: set[Path] = set()
        self.renames: list[tuple[Path, Path]] = []
        self.torn: list[Path] = []

    def write(self, path: Path, data: bytes) -> None:
        super().write(path, data)
        self.unsynced.add(path)

    def sync(self, path: Path) -> None:
        super().sync(path)
        self.unsynced.discard(path)

    def sync_dir(self, directory: Path) -> None:
        super().sync_dir(directory)
        self.renames = [(s, d) for s, d in self.renames if d.parent != directory]

    def replace(self, src: Path, dst: Path) -> None:
        super().replace(src, dst)
        self.unsynced = {dst if p == src else p for p in self.unsynced}
        self.renames.append((src, dst))

    def power_cut(self) -> None:
        for path in sorted(self.unsynced):
            if path.is_file():
                with path.open("r+b") as f:
                    f.truncate(path.stat().st_size // 2)
                self.torn.append(path)
        for src, dst in reversed(self.renames):
            if dst.exists() and not src.exists():
                dst.replace(src)


TORN_POINTS = [c for c in PATCH_POINTS if c.startswith(("staging", "switch", "patch"))]


@pytest.mark.parametrize("checkpoint", TORN_POINTS)
def test_power_cut_at_checkpoint_leaves_a_complete_version(repo, two_slots, tmp_path, checkpoint):
    """Unsynced writes torn at the checkpoint: still a complete version, then the update."""
    data = two_slots
    disk = TornDisk()

    def cut(name: str) -> None:
        if name == checkpoint:
            raise PowerCut(name)

    with pytest.raises(PowerCut):
        _update(repo, data, "1.1.0", "B", disk=disk, checkpoints=Checkpoints(cut))
    disk.power_cut()
    choice = _assert_complete_choice(tmp_path, data)
    running = boot.check_slot(data, choice.slot)[0].version
    _update(repo, data, running, choice.slot)
    confirm_started(data)
    assert boot.read_pointer(data).version == "1.2.0"


def test_torn_layer_really_tears_unsynced_writes(tmp_path):
    """The test layer itself: an unsynced write is cut, a synced one survives."""
    disk = TornDisk()
    disk.write(tmp_path / "a", b"x" * 100)
    disk.write_synced(tmp_path / "b", b"y" * 100)
    disk.power_cut()
    assert (tmp_path / "a").stat().st_size == 50
    assert (tmp_path / "b").stat().st_size == 100


def test_torn_pointer_record_keeps_the_previous_version(repo, two_slots, tmp_path):
    """A pointer write torn by a power cut leaves the previous pointer, hence 1.1.0, in force."""
    data = two_slots
    disk = TornDisk()
    real = disk.write_synced

    def torn_pointer(path: Path, data_: bytes) -> None:
        if path.name.startswith("pointer-"):
            disk.write(path, data_)
            raise PowerCut(path.name)
        real(path, data_)

    disk.write_synced = torn_pointer  # type: ignore[method-assign]
    with pytest.raises(PowerCut):
        _update(repo, data, "1.1.0", "B", disk=disk)
    disk.power_cut()
    choice = _assert_complete_choice(tmp_path, data)
    assert boot.check_slot(data, choice.slot)[0].version == "1.1.0"


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
