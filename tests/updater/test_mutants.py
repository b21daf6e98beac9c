"""The crash harness can fail: each ordering or durability mistake in the installer is caught.

How a mutant is applied: a patched copy of ``esecure/updater/_install.py`` — its source
text with the named lines removed or moved (each edit must match exactly once, so a
refactored installer fails here loudly instead of testing nothing), compiled into a
module of its own — is what the install scenario calls instead of the real installer.
The harness is the one tests/updater/test_crash.py runs: the power-cut model under the
``Disk`` seam, a cut after every call of the switch phase plus a seeded sample of the
staging phase, both torn variants, and the independent checker as judge. The copy with no
edit must pass, so that what fails is the mutation, not the copying.

What each mutant breaks, and what the harness sees:

* ``a-no-file-fsync``: the staging files are never synced before staging is renamed to the
  slot. Their directories are synced, so after the switch the slot's files are durable
  names over torn contents: the checker finds the completion record lying (a file's size
  or SHA-256 differs) and the new pointer's slot incomplete.
* ``b-no-staging-dir-fsync``: the staging directories' entries are never synced. The slot
  renamed into place is durable but empty inside: every file missing under a valid record.
* ``b-no-slots-dir-fsync``: ``slots/`` is never synced after the record's removal, the old
  slot's removal, the rename and the new record. Every one of them is undone at a cut, so
  the new pointer (synced in the data area's root) names a slot still holding 1.0.0.
* ``c-pointer-first``: the pointer record is written before the completion record. A cut
  between the two leaves the new pointer in force over a slot with no completion record: a
  degraded start, which the checker refuses.
* ``d-no-record-invalidation``: the completion record of the slot being replaced is not
  removed first. Once the old slot is removed (or replaced by staging) the old record still
  says "complete 1.0.0": the checker finds a record that lies.

The bootstrap's own writes are under the same harness (``choose`` takes the model as its
``ops``), and two mutants of ``esecure_onkey/boot.py``, applied the same way, show it:

* ``e-count-not-durable``: the start counter's directory is not synced after the counter
  file is created. A cut once the start has returned (the application runs) loses the
  count: the checker, told the start was acknowledged, finds 0 counted starts.
* ``f-pointer-before-report``: the switch back writes its pointer before its report. A cut
  between them leaves the switch without ``boot/rollback.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from esecure.updater import _install
from esecure_onkey import boot
from tests.updater.powercut import calls, choose_cuts, sweep
from tests.updater.scenarios import build_world, first_start, install_over_two_slots, roll_back

SOURCE = Path(_install.__file__).read_text(encoding="utf-8")

RECORD_BLOCK = """    disk.write_synced(
        completion_path(data_dir, slot), encode_completion(Completion(version, files))
    )
    disk.sync_dir(slots)
    cp("switch.record-written")
"""
POINTER_BLOCK = (
    SOURCE[
        SOURCE.index("    previous = CD_SLOT\n") : SOURCE.index(
            '    cp("switch.pointer-written")\n'
        )
    ]
    + '    cp("switch.pointer-written")\n'
)

MUTANTS: dict[str, list[tuple[str, str]]] = {
    "a-no-file-fsync": [
        ("        list(pool.map(disk.sync, [staging / n for n in files]))\n", ""),
    ],
    "b-no-staging-dir-fsync": [
        ("        list(pool.map(disk.sync_dir, sorted(made)))\n", ""),
    ],
    "b-no-slots-dir-fsync": [
        (
            '    disk.sync_dir(slots)\n    cp("switch.record-removed")\n',
            '    cp("switch.record-removed")\n',
        ),
        (
            '    disk.sync_dir(slots)\n    cp("switch.old-slot-removed")\n',
            '    cp("switch.old-slot-removed")\n',
        ),
        ('    disk.sync_dir(slots)\n    cp("switch.renamed")\n', '    cp("switch.renamed")\n'),
        (RECORD_BLOCK, RECORD_BLOCK.replace("    disk.sync_dir(slots)\n", "")),
    ],
    "c-pointer-first": [
        (POINTER_BLOCK, ""),
        (RECORD_BLOCK, POINTER_BLOCK + RECORD_BLOCK),
    ],
    "d-no-record-invalidation": [
        ("    disk.remove(completion_path(data_dir, slot))\n", ""),
    ],
}


REPORT = "                write_synced(rollback_path(data_dir), json.dumps(report).encode(), ops)\n"
SWITCH = "                write_pointer(data_dir, back, ops)\n"
BOOT_MUTANTS: dict[str, list[tuple[str, str]]] = {
    "e-count-not-durable": [
        (
            '    ops.append(path, b".")\n    ops.sync(path)\n    ops.sync_dir(path.parent)\n',
            '    ops.append(path, b".")\n    ops.sync(path)\n',
        ),
    ],
    "f-pointer-before-report": [
        (REPORT + SWITCH, SWITCH + REPORT),
    ],
}


def mutant(name: str, edits: list[tuple[str, str]], original: ModuleType = _install) -> ModuleType:
    """A copy of ``original`` with ``edits`` applied to its source, as its own module."""
    source = before = Path(original.__file__).read_text(encoding="utf-8")
    for old, new in edits:
        assert source.count(old) == 1, f"{name}: {original.__name__} no longer has {old!r} once"
        source = source.replace(old, new)
    assert (source == before) == (not edits), f"{name}: the edits changed nothing"
    module = ModuleType(f"{original.__name__}_{name.replace('-', '_')}")
    module.__file__ = f"<{name} copy of {original.__file__}>"
    code = compile(source, module.__file__, "exec")
    sys.modules[module.__name__] = module  # dataclasses look their module up while made
    try:
        exec(code, module.__dict__)  # noqa: S102 - our own source, one line changed
    finally:
        del sys.modules[module.__name__]
    return module


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three published releases and a CD-ROM root, built once for this module."""
    return build_world(tmp_path_factory.mktemp("world"))


def _failures(world, installer: ModuleType, work: Path) -> list[str]:
    """The harness's failures for ``installer``: every switch cut and a staging sample."""
    scenario = install_over_two_slots(world, installer)
    disk = calls(scenario, work)
    total = len(disk.ops)
    cuts = choose_cuts(total, [range(disk.marks["switch.begin"], total + 1)], sample=8, seed=3)
    return [str(f) for f in sweep(scenario, work, cuts)]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_caught(world, tmp_path, name):
    """The crash harness reports a failure for the mutated installer."""
    failures = _failures(world, mutant(name, MUTANTS[name]), tmp_path / "work")
    assert failures, f"{name} passed every cut"


def test_unmutated_copy_passes_the_same_harness(world, tmp_path):
    """The installer copied without an edit passes: the failures above are the mutations'."""
    assert _failures(world, mutant("none", []), tmp_path / "work") == []


BOOT_SCENARIOS = {"e-count-not-durable": first_start, "f-pointer-before-report": roll_back}


def _boot_failures(world, make, bootstrap: ModuleType, work: Path) -> list[str]:
    """The harness's failures for ``bootstrap``: a cut after every call of the starts."""
    scenario = make(world, bootstrap)
    total = len(calls(scenario, work).ops)
    return [str(f) for f in sweep(scenario, work, range(total + 1))]


@pytest.mark.parametrize("name", sorted(BOOT_MUTANTS))
def test_bootstrap_mutant_is_caught(world, tmp_path, name):
    """The crash harness reports a failure for the mutated bootstrap."""
    bootstrap = mutant(name, BOOT_MUTANTS[name], boot)
    failures = _boot_failures(world, BOOT_SCENARIOS[name], bootstrap, tmp_path / "work")
    assert failures, f"{name} passed every cut"


@pytest.mark.parametrize("make", [first_start, roll_back], ids=lambda f: f.__name__)
def test_unmutated_bootstrap_copy_passes(world, tmp_path, make):
    """The bootstrap copied without an edit passes the same starts."""
    assert _boot_failures(world, make, mutant("none", [], boot), tmp_path / "work") == []
