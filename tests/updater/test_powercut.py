"""The power-cut model's rules, one per test, and the harness's own guarantees."""

from __future__ import annotations

import pytest

from tests.updater.powercut import (
    DONE,
    PowerCut,
    PowerCutDisk,
    Scenario,
    calls,
    choose_cuts,
    snapshot,
    sweep,
)


@pytest.fixture
def root(tmp_path):
    """A tree with one durable file (old.bin) and one durable directory (d)."""
    area = tmp_path / "area"
    (area / "d").mkdir(parents=True)
    (area / "old.bin").write_bytes(b"old contents")
    return area


def test_unsynced_contents_are_truncated(root):
    """A durable entry over unsynced contents keeps a strict prefix of what was written."""
    disk = PowerCutDisk(root)
    disk.write(root / "new.bin", b"x" * 100)
    disk.sync_dir(root)
    assert disk.restore("truncated", seed=1) == ["new.bin"]
    data = (root / "new.bin").read_bytes()
    assert len(data) < 100
    assert data == b"x" * len(data)


def test_unsynced_contents_can_be_stale_at_the_same_size(root):
    """The stale variant keeps the size written, with the file's old bytes or garbage."""
    disk = PowerCutDisk(root)
    disk.write(root / "old.bin", b"new contents, longer")
    disk.restore("stale", seed=1)
    data = (root / "old.bin").read_bytes()
    assert len(data) == len(b"new contents, longer")
    assert data != b"new contents, longer"


def test_synced_contents_and_entry_survive(root):
    """Contents synced and the directory synced: the file is there, whole."""
    disk = PowerCutDisk(root)
    disk.write(root / "d" / "f", b"kept")
    disk.sync(root / "d" / "f")
    disk.sync_dir(root / "d")
    assert disk.restore("truncated") == []
    assert (root / "d" / "f").read_bytes() == b"kept"


def test_new_entry_vanishes_until_its_directory_is_synced(root):
    """A file synced but not its directory's entry is gone after the cut."""
    disk = PowerCutDisk(root)
    disk.write(root / "d" / "f", b"lost")
    disk.sync(root / "d" / "f")
    disk.restore("truncated")
    assert not (root / "d" / "f").exists()


def test_new_directory_vanishes_with_its_contents(root):
    """mkdir is a pending entry: everything under it goes when it does."""
    disk = PowerCutDisk(root)
    disk.mkdir(root / "n" / "m")
    disk.write(root / "n" / "m" / "f", b"x")
    disk.sync(root / "n" / "m" / "f")
    disk.sync_dir(root / "n" / "m")
    disk.sync_dir(root / "n")
    disk.restore("truncated")
    assert not (root / "n").exists()


def test_pending_removal_comes_back_with_its_bytes(root):
    """A removal whose directory was not synced is undone, contents and all."""
    disk = PowerCutDisk(root)
    disk.remove(root / "old.bin")
    disk.remove(root / "d")
    disk.restore("truncated")
    assert (root / "old.bin").read_bytes() == b"old contents"
    assert (root / "d").is_dir()


def test_synced_removal_is_gone(root):
    """A removal whose directory was synced stays done."""
    disk = PowerCutDisk(root)
    disk.remove(root / "old.bin")
    disk.sync_dir(root)
    disk.restore("stale")
    assert not (root / "old.bin").exists()


def test_pending_rename_is_undone(root):
    """A rename whose directory was not synced: the old name is back, the new one gone."""
    disk = PowerCutDisk(root)
    disk.replace(root / "old.bin", root / "moved.bin")
    disk.restore("truncated")
    assert snapshot(root) == {"d": None, "old.bin": b"old contents"}


def test_unsynced_file_follows_its_directory_through_a_rename(root):
    """Written, not synced, then its directory renamed and synced: torn at the new path."""
    disk = PowerCutDisk(root)
    disk.mkdir(root / "staging")
    disk.write(root / "staging" / "f", b"y" * 64)
    disk.sync_dir(root / "staging")
    disk.replace(root / "staging", root / "slot")
    disk.sync_dir(root)
    assert disk.restore("truncated", seed=2) == ["slot/f"]
    assert len((root / "slot" / "f").read_bytes()) < 64
    assert not (root / "staging").exists()


def test_append_never_tears_what_was_durable(root):
    """An unsynced append can lose what it added, never the synced bytes before it."""
    for seed in range(20):  # bounded: a few cut points
        disk = PowerCutDisk(root)
        disk.append(root / "old.bin", b"+" * 30)
        disk.restore("truncated", seed=seed)
        assert (root / "old.bin").read_bytes().startswith(b"old contents")
        disk.restore("stale", seed=seed)
        assert (root / "old.bin").read_bytes().startswith(b"old contents")


def test_tearing_is_reproducible(root):
    """The same seed tears the same way."""
    outcomes = []
    for _ in range(2):
        disk = PowerCutDisk(root)
        disk.write(root / "old.bin", bytes(range(256)) * 4)
        disk.restore("stale", seed="s")
        outcomes.append((root / "old.bin").read_bytes())
    assert outcomes[0] == outcomes[1]


def test_cut_after_k_calls_refuses_every_later_call(root):
    """cut_after=2: two calls run, the third raises PowerCut and changes nothing, as do all."""
    disk = PowerCutDisk(root, cut_after=2)
    disk.write(root / "a", b"1")
    disk.sync(root / "a")
    with pytest.raises(PowerCut):
        disk.write(root / "b", b"2")
    with pytest.raises(PowerCut):
        disk.sync_dir(root)
    assert not (root / "b").exists()
    assert disk.ops == ["write a", "sync a"]


def test_writes_outside_the_tree_are_refused(root, tmp_path):
    """The model covers one tree: a write elsewhere is an error, not a silent bypass."""
    with pytest.raises(ValueError, match="outside"):
        PowerCutDisk(root).write(tmp_path / "elsewhere", b"x")


def _scenario(root, run, check=lambda _data, _reached: []):
    return Scenario("t", root, run, check)


def test_harness_reports_a_write_around_the_model(root, tmp_path):
    """calls() fails when the scenario writes without the Disk (it could not be cut)."""

    def run(data, disk):
        disk.write(data / "through", b"x")
        (data / "around").write_bytes(b"x")

    with pytest.raises(AssertionError, match="around"):
        calls(_scenario(root, run), tmp_path / "work")


def test_harness_cuts_after_each_call_and_marks_the_completed_run(root, tmp_path):
    """sweep runs afresh for each cut; only the uncut run is reported done."""
    seen = []

    def run(data, disk):
        disk.write(data / "f", b"1")
        disk.sync(data / "f")
        disk.sync_dir(data)

    def check(data, reached):
        seen.append(((data / "f").exists(), DONE in reached))
        return []

    assert list(sweep(_scenario(root, run, check), tmp_path / "work", range(4))) == []
    assert seen == [(False, False)] * 2 * 3 + [(True, True)] * 2


def test_choose_cuts_keeps_the_dense_ranges_and_the_ends():
    """Every cut of the dense range, 0 and N, and the sample size asked for."""
    cuts = choose_cuts(100, [range(90, 101)], sample=5, seed=1)
    assert set(range(90, 101)) | {0} <= set(cuts)
    assert len(cuts) == 11 + 1 + 5
    assert choose_cuts(3) == [0, 1, 2, 3]
