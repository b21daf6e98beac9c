"""The crash harness's scenarios over today's A/B layout: releases, prepared data areas,
the calls each scenario makes and the states the judge allows.

Built once per test module (publishing three releases takes a few seconds): a demo
project's real published archives, a CD-ROM root with its image-signing key, and data
areas prepared with the real installer. The archives are the project's own
``targets/<id>-<version>.tar.gz``, uncompressed: the bytes the client downloads and
verifies (the client itself is exercised by the tests that use the ``repo`` fixture).
"""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import pytest

from esecure.config import load_project
from esecure.scaffold import InitOptions, init_project
from esecure.updater import _install
from esecure.updater._disk import Checkpoints, Disk
from esecure.updater.publish import app_name, init_keys, publish
from esecure_onkey import boot
from esecure_onkey.layout import IMAGE_KEY
from tests.updater.checker import Release, State, check
from tests.updater.conftest import make_bundle
from tests.updater.powercut import DONE, PowerCutDisk, Scenario

VERSIONS = ("1.0.0", "1.1.0", "1.2.0")


def _quiet(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class World:
    """Published releases and a key's CD-ROM root, for building data areas."""

    root: Path  # a scratch directory of the module
    cd: Path  # trust/image-signing.pub.pem and product.json (version 0.9.0)
    app: str
    tars: dict[str, bytes]
    releases: dict[str, Release]

    @property
    def image_key(self) -> bytes:
        """The CD-ROM's image-signing public key (PEM)."""
        return (self.cd / IMAGE_KEY).read_bytes()

    def install(
        self,
        data: Path,
        version: str,
        running: str | None,
        disk: Disk,
        *,
        installer: ModuleType = _install,
        hook: Callable[[str], None] | None = None,
    ) -> str:
        """Install ``version`` with ``installer`` (the real one unless a mutant is given)."""
        result: str = installer.install(
            data,
            self.tars[version],
            image_key=self.image_key,
            app=self.app,
            version=version,
            running_slot=running,
            disk=disk,
            cp=Checkpoints(hook),
        )
        return result

    def area(self, name: str, steps: Callable[[Path], None]) -> Path:
        """A prepared data area (made once per module): ``steps`` run with the real disk."""
        data = self.root / "areas" / name
        if not data.exists():
            data.mkdir(parents=True)
            steps(data)
        return data

    def two_slots(self) -> Path:
        """A: 1.0.0, B: 1.1.0 running and good (the pointer's previous is A)."""

        def steps(data: Path) -> None:
            self.install(data, "1.0.0", None, Disk())
            _install.mark_good(data)
            self.install(data, "1.1.0", "A", Disk())
            _install.mark_good(data)

        return self.area("two-slots", steps)

    def on_trial(self) -> Path:
        """Two slots, then 1.2.0 installed into A: on trial, never started."""

        def steps(data: Path) -> None:
            shutil.rmtree(data)
            shutil.copytree(self.two_slots(), data)
            self.install(data, "1.2.0", "B", Disk())

        return self.area("on-trial", steps)

    def empty(self) -> Path:
        """A data area with nothing installed yet."""
        return self.area("empty", lambda _data: None)

    def judge(
        self, old: list[State], new: list[State]
    ) -> Callable[[Path, frozenset[str]], list[str]]:
        """The checker with the old and new states: only the new once every call ran."""
        return old_or_new(old, new, list(self.releases.values()))


def old_or_new(
    old: list[State], new: list[State], releases: list[Release]
) -> Callable[[Path, frozenset[str]], list[str]]:
    """A judge allowing ``old`` or ``new`` states, only ``new`` once every call ran."""

    def judge(data: Path, reached: frozenset[str]) -> list[str]:
        return check(data, new if DONE in reached else [*old, *new], releases)

    return judge


def build_world(root: Path) -> World:
    """A demo project with 1.0.0, 1.1.0 and 1.2.0 published, and its CD-ROM root."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        mp.delenv("ESECURE_PASSPHRASE", raising=False)
        init_project(root / "project", InitOptions(demo=True), passphrase=None)
        project = load_project(root / "project")
        init_keys(project, say=_quiet)
        for version in VERSIONS:
            publish(project, version, make_bundle(root / f"bundle-{version}", version), say=_quiet)
    cd = root / "cd"
    (cd / "trust").mkdir(parents=True)
    shutil.copyfile(project.trust.image_signing_public_key, cd / IMAGE_KEY)
    (cd / "product.json").write_text('{"version": "0.9.0"}\n')
    app = app_name(project)
    targets = root / "project" / "repository" / "targets"
    tars = {v: gzip.decompress((targets / f"{app}-{v}.tar.gz").read_bytes()) for v in VERSIONS}
    releases = {v: Release.from_tar(v, tar) for v, tar in tars.items()}
    return World(root, cd, app, tars, releases)


# --- the scenarios ------------------------------------------------------------------------------


def install_over_two_slots(world: World, installer: ModuleType = _install) -> Scenario:
    """Install 1.2.0 while 1.1.0 runs from B: A (1.0.0, the previous) is replaced."""
    r = world.releases
    old = [State("B", r["1.1.0"], previous="A", good=True)]  # A may be invalidated
    new = [State("A", r["1.2.0"], previous="B", previous_holds=r["1.1.0"], good=False)]

    def run(data: Path, disk: PowerCutDisk) -> None:
        world.install(data, "1.2.0", "B", disk, installer=installer, hook=disk.mark)

    name = f"install-1.2.0-{installer.__name__.rpartition('.')[2]}"
    return Scenario(name, world.two_slots(), run, world.judge(old, new))


def first_install(world: World, installer: ModuleType = _install) -> Scenario:
    """Install 1.0.0 into an empty data area (the CD-ROM's application runs)."""
    new = [State("A", world.releases["1.0.0"], previous="cd", good=False)]

    def run(data: Path, disk: PowerCutDisk) -> None:
        world.install(data, "1.0.0", None, disk, installer=installer, hook=disk.mark)

    name = f"first-install-{installer.__name__.rpartition('.')[2]}"
    return Scenario(name, world.empty(), run, world.judge([State(None)], new))


def first_start(world: World, bootstrap: ModuleType = boot) -> Scenario:
    """The first start of 1.2.0 (counted), then ``mark_good`` once its UI is up. Once the
    start returned (the application runs), its count must survive a cut."""
    r = world.releases

    def trial(starts: tuple[int, ...]) -> State:
        return State("A", r["1.2.0"], "B", r["1.1.0"], good=False, starts=starts)

    good = State("A", r["1.2.0"], "B", r["1.1.0"], good=True)
    releases = list(r.values())

    def run(data: Path, disk: PowerCutDisk) -> None:
        choice = bootstrap.choose(world.cd, data, ops=disk)
        assert (choice.slot, choice.degraded) == ("A", False), choice.reason
        disk.mark("started")
        assert _install.mark_good(data, disk=disk)

    def judge(data: Path, reached: frozenset[str]) -> list[str]:
        if DONE in reached:
            return check(data, [good], releases)
        return check(data, [trial((1,) if "started" in reached else (0, 1)), good], releases)

    return Scenario(f"first-start-{bootstrap.__name__}", world.on_trial(), run, judge)


def failed_starts(
    cd: Path,
    template: Path,
    on_trial: State,
    back: State,
    releases: list[Release],
    *,
    bootstrap: ModuleType = boot,
) -> Scenario:
    """Three starts without ``mark_good``: two counted (each count durable once its start
    returned), the third switches back to the previous slot (with its report)."""

    def run(data: Path, disk: PowerCutDisk) -> None:
        for n in (1, 2):
            assert bootstrap.choose(cd, data, ops=disk).slot == on_trial.active
            disk.mark(f"started-{n}")
        third = bootstrap.choose(cd, data, ops=disk)
        assert (third.slot, third.rolled_back) == (back.active, True), third.reason

    def judge(data: Path, reached: frozenset[str]) -> list[str]:
        if DONE in reached:
            return check(data, [back], releases)
        counted = 2 if "started-2" in reached else 1 if "started-1" in reached else 0
        trial = replace(on_trial, starts=tuple(range(counted, 3)))
        return check(data, [trial, back], releases)

    return Scenario(f"roll-back-{bootstrap.__name__}", template, run, judge)


def roll_back(world: World, bootstrap: ModuleType = boot) -> Scenario:
    """Two failed starts of 1.2.0 (on trial in A), then the switch back to 1.1.0 in B."""
    r = world.releases
    on_trial = State("A", r["1.2.0"], "B", r["1.1.0"], good=False)
    back = State("B", r["1.1.0"], previous="cd", good=True, report=True)
    releases = list(r.values())
    return failed_starts(world.cd, world.on_trial(), on_trial, back, releases, bootstrap=bootstrap)
