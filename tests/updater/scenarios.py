"""The crash harness's scenarios over the component store: releases, prepared data areas,
the calls each scenario makes and the states the judge allows.

Built once per test module (publishing takes a few seconds): a demo project whose
repository is served over HTTP on 127.0.0.1, its key's CD-ROM (0.9.0), 1.1.0 (app
changed) and 1.2.0 (app and Firefox changed) published; data areas prepared with the real
client and ``Disk``. Each install was checked and downloaded once, while preparing: a run
under the model only installs (the client's ``install`` with the model as its disk), so
that every run makes the same calls.
"""

from __future__ import annotations

import copy
import functools
import http.server
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType

from esecure.updater import _install, client
from esecure.updater._disk import Checkpoints
from esecure.updater.client import Downloaded, Offer, UpdateClient, mark_good
from esecure_onkey import boot
from tests.updater.checker import CD, State, check, lies
from tests.updater.conftest import PLATFORM, Repo, _Handler, component_ids, make_repo
from tests.updater.powercut import DONE, PowerCutDisk, Scenario

OLD, NEW = "1.1.0", "1.2.0"
FILES = 6  # modules of the app component: few, so that every cut can be made


@dataclass(frozen=True)
class Prepared:
    """A data area where an update was checked and downloaded (not installed)."""

    area: Path
    offer: Offer
    downloaded: Downloaded


@dataclass
class World:
    """The published releases, the key's CD-ROM, and data areas made once."""

    root: Path
    repo: Repo
    rids: dict[str, str] = field(default_factory=dict)
    prepared: dict[str, Prepared] = field(default_factory=dict)

    @property
    def cd(self) -> Path:
        """The key's CD-ROM root."""
        return self.repo.cd

    def client(self, data: Path, **kw: object) -> UpdateClient:
        """An update client of the key over ``data``."""
        return self.repo.client(data, **kw)  # type: ignore[arg-type]

    def prepare(
        self, name: str, steps: Callable[[Path], None], current: str, running: str
    ) -> Prepared:
        """A data area made by ``steps`` (real disk), then checked and downloaded."""
        if name not in self.prepared:
            data = self.root / "areas" / name
            data.mkdir(parents=True)
            steps(data)
            c = self.client(data, download_dir=self.root / "downloads" / name)
            offer = c.check(current, running=running)
            assert offer is not None, name
            self.prepared[name] = Prepared(data, offer, c.download(offer))
        return self.prepared[name]

    def install(
        self,
        prepared: Prepared,
        data: Path,
        disk: PowerCutDisk,
        installer: ModuleType = _install,
    ) -> str:
        """The client's install of what ``prepared`` downloaded, into ``data`` through
        ``disk``, with ``installer`` (the real one unless a mutant is given)."""
        done = Downloaded(prepared.downloaded.directory, owned=False)
        done.components = [copy.copy(f) for f in prepared.downloaded.components]
        done.close = lambda: None  # type: ignore[method-assign] # the next run needs them
        c = self.client(data, disk=disk, checkpoints=Checkpoints(disk.mark))
        real = client._install
        client._install = installer  # type: ignore[attr-defined]
        try:
            return c.install(prepared.offer, done)
        finally:
            client._install = real  # type: ignore[attr-defined]

    # --- data areas ---------------------------------------------------------------------

    def running_old(self) -> Prepared:
        """1.1.0 running and good (app from the store); 1.2.0 checked and downloaded."""

        def steps(data: Path) -> None:
            shutil.copytree(self.root / "areas-base" / "running-old", data, dirs_exist_ok=True)

        return self.prepare("running-old", steps, OLD, self.rids[OLD])

    def empty(self) -> Prepared:
        """Nothing installed yet (the CD-ROM's 0.9.0 runs); 1.2.0 checked and downloaded."""
        return self.prepare("empty", lambda _data: None, "0.9.0", CD)

    def damaged(self) -> Prepared:
        """1.1.0 running; 1.2.0's app component left in the store by an earlier attempt,
        complete, then damaged (a file lost): the install rewrites it."""

        def steps(data: Path) -> None:
            shutil.copytree(self.running_old().area, data, dirs_exist_ok=True)
            new_app = component_ids(self.repo.bundles[NEW])["app"]
            store = self.on_trial() / "store"
            for name in (f"{new_app}.list", f"{new_app}.sig", f"{new_app}.complete"):
                shutil.copyfile(store / name, data / "store" / name)
            shutil.copytree(store / new_app, data / "store" / new_app)
            (data / "store" / new_app / "product.json").unlink()

        return self.prepare("damaged", steps, OLD, self.rids[OLD])

    def on_trial(self) -> Path:
        """1.1.0 good, then 1.2.0 installed: on trial, never started."""
        data = self.root / "areas" / "on-trial"
        if not data.exists():
            shutil.copytree(self.running_old().area, data)
            c = self.client(data)
            offer = c.check(OLD, running=self.rids[OLD])
            assert offer is not None
            c.install(offer, c.download(offer))
        return data

    # --- the states -----------------------------------------------------------------------

    def old(self) -> State:
        """1.1.0 in force and good (installed over the CD-ROM's release)."""
        return State(self.rids[OLD], OLD, CD, good=True)

    def trial(self, starts: tuple[int, ...] | None = None) -> State:
        """1.2.0 in force on trial, 1.1.0 before it (whole: the fallback)."""
        return State(
            self.rids[NEW], NEW, self.rids[OLD], good=False, previous_whole=True, starts=starts
        )

    def judge(
        self, old: list[State], new: list[State], tolerated: tuple[str, ...] = ()
    ) -> Callable[[Path, frozenset[str]], list[str]]:
        """The checker with the old and new states: only the new once every call ran, and
        no lie at all then."""

        def judge(data: Path, reached: frozenset[str]) -> list[str]:
            if DONE in reached:
                return check(data, self.cd, new, PLATFORM)
            return check(data, self.cd, [*old, *new], PLATFORM, tolerated)

        return judge


@contextmanager
def _server(directory: Path) -> Iterator[str]:
    handler = functools.partial(_Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def world_at(root: Path, files: int = FILES) -> Iterator[World]:
    """The demo project served, its CD-ROM, 1.1.0 installed and good in a base area,
    1.2.0 published (app and Firefox changed)."""
    served = root / "served"
    served.mkdir(parents=True)
    with _server(served) as url:
        repo = make_repo(root, served, url, files=files)
        world = World(root, repo)
        repo.publish(OLD, root, files=files)
        base = root / "areas-base" / "running-old"
        c = repo.client(base)
        offer = c.check("0.9.0")
        assert offer is not None
        world.rids[OLD] = c.install(offer, c.download(offer))
        assert mark_good(base, running=world.rids[OLD])
        repo.publish(NEW, root, files=files, firefox="2")
        world.rids[NEW] = world.running_old().offer.release
        yield world


# --- the scenarios ------------------------------------------------------------------------------


def install_over_running(world: World, installer: ModuleType = _install) -> Scenario:
    """Install 1.2.0 (app and Firefox into the store) while 1.1.0 runs."""
    prepared = world.running_old()

    def run(data: Path, disk: PowerCutDisk) -> None:
        assert world.install(prepared, data, disk, installer) == world.rids[NEW]

    name = f"install-{installer.__name__.rpartition('.')[2]}"
    return Scenario(name, prepared.area, run, world.judge([world.old()], [world.trial()]))


def install_over_damaged(world: World, installer: ModuleType = _install) -> Scenario:
    """Install 1.2.0 where an earlier attempt left its app component complete but damaged:
    the component is invalidated, then rewritten."""
    prepared = world.damaged()

    def run(data: Path, disk: PowerCutDisk) -> None:
        assert world.install(prepared, data, disk, installer) == world.rids[NEW]

    damage = tuple(lies(prepared.area))  # the lost file, under a valid completion record
    assert len(damage) == 1, damage
    name = f"install-damaged-{installer.__name__.rpartition('.')[2]}"
    judge = world.judge([world.old()], [world.trial()], damage)
    return Scenario(name, prepared.area, run, judge)


def first_install(world: World, installer: ModuleType = _install) -> Scenario:
    """Install 1.2.0 into an empty data area (the CD-ROM's application runs)."""
    prepared = world.empty()
    new = State(world.rids[NEW], NEW, CD, good=False)

    def run(data: Path, disk: PowerCutDisk) -> None:
        assert world.install(prepared, data, disk, installer) == world.rids[NEW]

    name = f"first-install-{installer.__name__.rpartition('.')[2]}"
    return Scenario(name, prepared.area, run, world.judge([State(CD)], [new]))


def first_start(world: World, bootstrap: ModuleType = boot) -> Scenario:
    """The first start of 1.2.0 (counted), then ``mark_good`` once its UI is up, which
    collects 1.1.0's components. Once the start returned (the application runs), its
    count must survive a cut; once every call ran, the garbage is gone."""
    good = replace(world.trial(), good=True, previous_whole=False)

    def run(data: Path, disk: PowerCutDisk) -> None:
        choice = bootstrap.choose(world.cd, data, ops=disk, platform=PLATFORM)
        assert (choice.release, choice.degraded) == (world.rids[NEW], False), choice.reason
        disk.mark("started")
        assert mark_good(
            data, running=choice.release, disk=disk, checkpoints=Checkpoints(disk.mark)
        )

    def judge(data: Path, reached: frozenset[str]) -> list[str]:
        if DONE in reached:
            return check(data, world.cd, [replace(good, collected=True)], PLATFORM)
        trial = world.trial((1,) if "started" in reached else (0, 1))
        return check(data, world.cd, [trial, good], PLATFORM)

    return Scenario(f"first-start-{bootstrap.__name__}", world.on_trial(), run, judge)


def roll_back(world: World, bootstrap: ModuleType = boot) -> Scenario:
    """Two failed starts of 1.2.0 (each count durable once its start returned), then the
    third start switches back to 1.1.0, with its report."""
    back = State(world.rids[OLD], OLD, world.rids[NEW], good=True, report=True)

    def run(data: Path, disk: PowerCutDisk) -> None:
        for n in (1, 2):
            choice = bootstrap.choose(world.cd, data, ops=disk, platform=PLATFORM)
            assert choice.release == world.rids[NEW], choice.reason
            disk.mark(f"started-{n}")
        third = bootstrap.choose(world.cd, data, ops=disk, platform=PLATFORM)
        assert (third.release, third.rolled_back) == (world.rids[OLD], True), third.reason

    def judge(data: Path, reached: frozenset[str]) -> list[str]:
        if DONE in reached:
            return check(data, world.cd, [back], PLATFORM)
        counted = 2 if "started-2" in reached else 1 if "started-1" in reached else 0
        return check(data, world.cd, [world.trial(tuple(range(counted, 3))), back], PLATFORM)

    return Scenario(f"roll-back-{bootstrap.__name__}", world.on_trial(), run, judge)
