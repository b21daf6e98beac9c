"""The Windows launcher, frozen once per session under Wine, and a Wine prefix to run it.

* ``windows_launcher``: :func:`esecure.bundle.winfreeze.freeze_windows_launcher` into a
  temporary directory, with the real cache (``~/.cache/e-secure/wine``: the prefix, the
  CPython and the wheels are made once per machine, then reused).
* ``test_prefix``: a prefix of the tests' own (never the build's), with the test-only
  ``bcryptprimitives.dll`` stub (Wine 8 lacks it; see bcryptprimitives.c) in system32.
* ``windows_image``: the demo image with Windows enabled, built by `esecure build` (which
  freezes ``e-secure.exe`` itself), the mingw stand-in Windows Firefox
  (tests/windows_firefox.py) pinned by its tree hash; extracted.
* ``windows_served``: the demo project served by `esecure serve` on 127.0.0.1 and built
  for Windows against it (the session's frozen launchers reused), its stand-in Firefox
  carrying a real Windows NSS; extracted. Nothing is published after the build.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.windows.wineprefix import TestPrefix
from tests.windows_firefox import windows_firefox

from esecure.bundle.winfreeze import freeze_windows_launcher
from esecure.demo.images import (
    EPOCH,
    Built,
    Served,
    copy_project,
    extract,
    run_build,
    serve_project,
)

HERE = Path(__file__).resolve().parent
STUB_SOURCE = HERE / "bcryptprimitives.c"


@pytest.fixture(scope="session")
def windows_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The Windows launcher directory, frozen under Wine with the tests' SOURCE_DATE_EPOCH."""
    if shutil.which("wine") is None:
        pytest.fail("wine is missing: run build_scripts/install-system-deps.sh")
    out = tmp_path_factory.mktemp("win-launcher") / "launcher"
    yield freeze_windows_launcher(out, launcher_name="e-secure", epoch=int(EPOCH), log=print)
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="session")
def test_prefix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestPrefix]:
    """A new prefix with the bcryptprimitives.dll stub; stopped at the end of the session."""
    base = tmp_path_factory.mktemp("wine-test")
    prefix = TestPrefix(base / "prefix")
    boot = prefix.run("wineboot", "-i")
    assert boot.returncode == 0, boot.stderr[-2000:]
    system32 = prefix.path / "drive_c" / "windows" / "system32"
    stub = subprocess.run(
        [
            "x86_64-w64-mingw32-gcc",
            "-shared",
            "-O2",
            "-o",
            str(system32 / "bcryptprimitives.dll"),
            str(STUB_SOURCE),
            "-ladvapi32",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert stub.returncode == 0, stub.stderr
    yield prefix
    prefix.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def windows_image(
    demo_image: Built,
    extracted: Path,
    windows_launcher: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Built, Path]]:
    """The demo project built for Linux and Windows by `esecure build`, which freezes the
    Windows launcher under Wine (the Linux launcher is the demo image's), and its CD-ROM
    extracted. ``windows_launcher`` is asked for first: the cache is then warm."""
    del windows_launcher
    base = tmp_path_factory.mktemp("windows-image")
    firefox, pin = windows_firefox(base / "firefox-win")
    project = copy_project(demo_image.project, base / "project")
    config = project / "esecure.toml"
    config.write_text(
        config.read_text()
        .replace('windows = ""', f'windows = "{firefox}"')
        .replace('windows_sha256 = ""', f'windows_sha256 = "{pin}"')
    )
    built = run_build(
        project,
        base / "out",
        base,
        args=("--launcher-dir", f"linux={extracted}"),
    )
    cd = extract(built.cdrom, base / "cd")
    yield built, cd
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def windows_served(
    demo_image: Built,
    extracted: Path,
    windows_launcher: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """The demo project copied, served by `esecure serve` on 127.0.0.1 for the session, and
    built for Linux and Windows against it (both frozen launchers reused: no freeze), its
    stand-in Windows Firefox carrying a real Windows NSS; the CD-ROM extracted."""
    base = tmp_path_factory.mktemp("windows-served")
    firefox, pin = windows_firefox(base / "firefox-win", nss=True)
    project = copy_project(demo_image.project, base / "project")
    server = serve_project(project, base)
    try:
        config = project / "esecure.toml"
        config.write_text(
            config.read_text()
            .replace('windows = ""', f'windows = "{firefox}"')
            .replace('windows_sha256 = ""', f'windows_sha256 = "{pin}"')
        )
        launchers = {"linux": extracted, "windows": windows_launcher}
        args = tuple(a for p, d in launchers.items() for a in ("--launcher-dir", f"{p}={d}"))
        built = run_build(project, base / "out", base, args=args)
        cd = extract(built.cdrom, base / "cd")
        report = base / "build-report.json"
        shutil.copyfile(built.out / "build-report.json", report)
        shutil.rmtree(built.out)  # ~0.5 GB
        yield Served(project, server.url, cd, report, "")
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
