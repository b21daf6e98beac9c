"""The crash harness can fail: each ordering or durability mistake in the store installer
is caught.

How a mutant is applied: a patched copy of ``esecure/updater/_install.py`` — its source
text with the named lines removed or moved (each edit must match exactly once, so a
refactored installer fails here loudly instead of testing nothing), compiled into a
module of its own — is what the client's ``install`` calls instead of the real installer.
The harness is the one tests/updater/test_crash.py runs: the power-cut model under the
``Disk`` seam, a cut after every call of the install, both torn variants, and the
independent checker as judge. The copy with no edit must pass, so that what fails is the
mutation, not the copying.

What each mutant breaks, and what the harness sees:

* ``a-no-file-fsync``: the staging files are never synced before staging is renamed to
  ``store/<id>``. Their directories are synced, so once the completion record is durable
  the component's files are durable names over torn contents: the checker finds the
  completion record lying (a file's size or SHA-256 differs), then the new pointer's
  release incomplete.
* ``b-no-staging-dir-fsync``: the staging directories' entries are never synced. The
  directory renamed to ``store/<id>`` is durable but empty inside (or missing
  subdirectories): every file missing under a valid completion record. (Removing the
  installer's own ``sync_dir(store)`` calls is an equivalent mutant, not listed: the
  next record's atomic write, ``Disk.write_atomic``, syncs ``store/`` in the same order.)
* ``c-pointer-before-release-record``: the pointer is written before the release record
  it names. A cut between the two leaves the new pointer in force naming a record that
  is not on the key: a degraded start (the bootstrap falls back), which the checker
  refuses.
* ``d-no-invalidation``: *invalidation* in the store is the removal (synced) of
  ``store/<id>.complete`` before ``store/<id>`` is rewritten: a component an earlier
  attempt left complete that no longer checks (the ``install_over_damaged`` scenario: a
  file lost) stops being complete before its directory is removed and replaced by
  staging. Without it, a cut once the old directory's removal is durable leaves the
  completion record vouching for a missing directory: the checker finds the lie changed
  from the damage the key had ("product.json is missing") to "its directory is missing"
  (a later install would trust the record and skip the component; the bootstrap, which
  hashes only part of Firefox, could run torn files).

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
from tests.updater.powercut import calls, sweep
from tests.updater.scenarios import (
    first_install,
    first_start,
    install_over_damaged,
    install_over_running,
    roll_back,
    world_at,
)

SOURCE = Path(_install.__file__).read_text(encoding="utf-8")


def _block(first: str, last: str) -> str:
    """The lines of the installer from ``first`` (once) to the next ``last`` included."""
    assert SOURCE.count(first) == 1, first
    start = SOURCE.index(first)
    return SOURCE[start : SOURCE.index(last, start) + len(last)]


COMMIT = _block(
    '    disk.write_atomic(release_file(data_dir, rid, ".json"), record)\n',
    '    cp("pointer.written")\n',
)
RELEASE_BLOCK, POINTER_BLOCK = COMMIT.split('    cp("release.written")\n')
RELEASE_BLOCK += '    cp("release.written")\n'

MUTANTS: dict[str, list[tuple[str, str]]] = {
    "a-no-file-fsync": [
        ("        list(pool.map(disk.sync, files))\n", "        pass\n"),
    ],
    "b-no-staging-dir-fsync": [
        (
            "    for directory in sorted(directories, key=lambda d: len(d.parts), reverse=True):\n"
            "        disk.sync_dir(directory)\n",
            "",
        ),
    ],
    "c-pointer-before-release-record": [
        (RELEASE_BLOCK + POINTER_BLOCK, POINTER_BLOCK + RELEASE_BLOCK),
    ],
    "d-no-invalidation": [
        (
            "    if complete.exists():  # an earlier copy that no longer checks: it stops being"
            " complete\n        disk.remove(complete)\n        disk.sync_dir(store)\n",
            "",
        ),
    ],
}
SCENARIOS = (install_over_running, install_over_damaged, first_install)

REPORT = "        write_synced(rollback_path(data_dir), json.dumps(report).encode(), ops)\n"
SWITCH = "        write_pointer(data_dir, new, ops)\n"
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
    """The published releases, the CD-ROM and the prepared data areas, once per module."""
    with world_at(tmp_path_factory.mktemp("world")) as made:
        yield made


def _sweep(scenario, work: Path) -> list[str]:
    total = len(calls(scenario, work).ops)
    return [str(f) for f in sweep(scenario, work, range(total + 1))]


def _failures(world, installer: ModuleType, work: Path) -> list[str]:
    """The harness's failures for ``installer``: a cut after every call of each install."""
    return [f for make in SCENARIOS for f in _sweep(make(world, installer), work)]


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
    return _sweep(make(world, bootstrap), work)


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
