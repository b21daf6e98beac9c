"""The data partition sized from the plan: `esecure check` refuses a size below what it
can measure, `esecure build` prints the budget, uses its minimum, and refuses an explicit
size below it before writing anything.

Firefox and the launcher are stand-ins with large sparse files (no PyInstaller, no copy of
Debian's 300 MB Firefox): their sizes, hence the budget, are exact and the same everywhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from esecure.bundle.build import plan_launchers
from esecure.config import load_project
from esecure.demo.images import standin_distribution
from esecure.errors import ConfigError

from .test_fat import minfo

MIB = 1024 * 1024
EPOCH = "1700000000"


def _sparse(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)


def standin_firefox(directory: Path, mib: int) -> Path:
    """A Linux "Firefox": its program, application.ini and a sparse libxul of ``mib`` MiB."""
    directory.mkdir(parents=True)
    (directory / "firefox").write_bytes(b"#!/bin/sh\necho stand-in\n")
    (directory / "firefox").chmod(0o755)
    (directory / "application.ini").write_text("[App]\nVersion=128.0-standin\n")
    _sparse(directory / "libxul.so", mib * MIB)
    return directory


def standin_launcher(directory: Path, deps_mib: int) -> Path:
    """A frozen Linux launcher directory: bootstrap, runtime, lib/linux with esecure and a
    sparse third-party package of ``deps_mib`` MiB."""
    (directory / "runtime-linux").mkdir(parents=True)
    (directory / "e-secure").write_bytes(b"#!/bin/sh\n")
    (directory / "e-secure").chmod(0o755)
    (directory / "runtime-linux" / "libpython.so").write_bytes(b"runtime stand-in")
    app = directory / "lib" / "linux" / "esecure" / "launcher" / "app.py"
    app.parent.mkdir(parents=True)
    app.write_text("# stand-in\n")
    (directory / "lib" / "linux" / "esecure" / "__init__.py").write_text("")
    lib = directory / "lib" / "linux"
    standin_distribution(lib, "bigdep", {"bigdep/data.bin": b""})
    _sparse(lib / "bigdep" / "data.bin", deps_mib * MIB)
    return directory


def _project(demo_project: Path, firefox: Path, size: int | None) -> Path:
    toml = demo_project / "esecure.toml"
    text = toml.read_text().replace('linux = "/usr/lib/firefox-esr"', f'linux = "{firefox}"')
    if size is not None:
        text = text.replace("# data_size_mib = 2048", f"data_size_mib = {size}")
    toml.write_text(text)
    return toml


def _line(toml: Path, fragment: str) -> int:
    return next(n for n, line in enumerate(toml.read_text().splitlines(), 1) if fragment in line)


def esecure(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m esecure ARGS` in a child process, with a fixed SOURCE_DATE_EPOCH."""
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": EPOCH,
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(cwd),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    return subprocess.run(
        [sys.executable, "-m", "esecure", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
        check=False,
    )


CAUSE_AND_ACTION = (
    "  cause: [image] data_size_mib is below the minimum of the data partition's budget: "
    "every component of every platform updated once, a new version being written and its "
    "download, the live profile, logs, reports, keys and update metadata, a 10 % margin and "
    "the FAT32 overhead (never below 257 MiB, the smallest FAT32 volume with 4 KiB "
    "clusters).\n"
    "  action: Remove [image] data_size_mib so that `esecure build` sizes the partition from "
    "the plan, or set it to at least the minimum the message gives.\n"
)


def test_check_refuses_64_mib_with_both_numbers(demo_project, tmp_path):
    """64 MiB against a plan whose Firefox alone needs more: ES957, exit 2, both sizes and
    the fix; the minimum counts Firefox three times (in force, staging, download)."""
    toml = _project(demo_project, standin_firefox(tmp_path / "ff", 100), 64)
    proc = esecure("check", str(demo_project), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    # (3 x 100 MiB + 97 MiB of allowances) + 10 % = 436.8 MiB, + 1 MiB of FATs -> 438
    assert proc.stderr == (
        "error ES957: The key's data partition would be too small to hold its updates.\n"
        f"  {toml}:{_line(toml, 'data_size_mib = 64')}: [image] data_size_mib: expected at "
        "least 438 MiB, this plan's minimum before lib/ is counted; `esecure build` adds it "
        "and checks again, found 64 MiB. Fix: remove data_size_mib so that `esecure build` "
        "sizes the data partition from the plan, or set it to at least 438\n" + CAUSE_AND_ACTION
    )


def test_check_says_what_it_could_size(demo_project, tmp_path):
    """Unset: check passes and says the size comes from the plan, with its lower bound."""
    _project(demo_project, standin_firefox(tmp_path / "ff", 100), None)
    proc = esecure("check", str(demo_project), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (
        "data partition: from the plan for linux; at least 438 MiB before lib/ is counted "
        "(`esecure build` prints the whole budget)\n"
    ) in proc.stdout


def _printed_minimum(stderr: str) -> int:
    """The budget's minimum as `esecure build` prints it (it moves with the size of lib/,
    which grows with the package: the tests check that every place agrees with it)."""
    found = re.search(r"^    minimum +([0-9]+) MiB$", stderr, re.M)
    assert found, stderr
    return int(found.group(1))


@pytest.mark.slow
def test_build_refuses_a_size_below_the_exact_minimum_before_writing(demo_project, tmp_path):
    """260 MiB passes check (257 before lib/) but not the build's budget (~276 with lib/):
    ES957 with both numbers, the budget printed, no image and no report written."""
    toml = _project(demo_project, standin_firefox(tmp_path / "ff", 40), 260)
    launcher = standin_launcher(tmp_path / "launcher", 30)
    out = tmp_path / "out"
    proc = esecure(
        "build",
        str(demo_project),
        "--out",
        str(out),
        "--launcher-dir",
        f"linux={launcher}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    least = _printed_minimum(proc.stderr)
    assert 260 < least < 300
    assert (
        "error ES957: The key's data partition would be too small to hold its updates.\n"
        f"  {toml}:{_line(toml, 'data_size_mib = 260')}: [image] data_size_mib: expected at "
        f"least {least} MiB, the minimum of this plan's data partition budget, found 260 MiB. "
        "Fix: remove data_size_mib so that `esecure build` sizes the data partition from the "
        f"plan, or set it to at least {least}\n" + CAUSE_AND_ACTION
    ) in proc.stderr
    assert "  data partition budget, by this rule:\n" in proc.stderr
    assert "    deps-linux (4 files, 4 folders)" in proc.stderr  # with its .dist-info
    assert sorted(p.name for p in out.iterdir()) == []


@pytest.mark.slow
def test_build_prints_and_uses_the_budget(demo_project, tmp_path):
    """Unset: data.img is the budget's minimum, printed term by term and recorded in the
    report; minfo reads 4 KiB clusters with the data on 1 MiB. An explicit larger size wins."""
    toml = _project(demo_project, standin_firefox(tmp_path / "ff", 40), None)
    launcher = standin_launcher(tmp_path / "launcher", 30)
    args = ("--launcher-dir", f"linux={launcher}")
    proc = esecure("build", str(demo_project), "--out", str(tmp_path / "a"), *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    least = _printed_minimum(proc.stderr)
    assert 260 < least < 300
    report = json.loads((tmp_path / "a" / "build-report.json").read_text())
    data = report["data_partition"]
    assert (data["size_mib"], data["from"], data["budget"]["minimum_mib"]) == (
        least,
        "the plan's budget",
        least,
    )
    assert sum(t["bytes"] for t in data["budget"]["terms"]) == least * MIB
    assert set(data["budget"]["components"]) == {
        "app",
        "deps-linux",
        "firefox-linux",
        "profile",
        "trust",
    }
    image = tmp_path / "a" / "data.img"
    assert image.stat().st_size == least * MIB
    geometry = minfo(image)
    assert geometry["cluster sectors"] * geometry["sector size"] == 4096
    assert (geometry["reserved"] + 2 * geometry["fat sectors"]) * 512 % MIB == 0
    for line in (
        "  data partition budget, by this rule:",
        "    in force: every component of linux replaced once",
        "    staging: a new firefox-linux being written",
        "    download of that firefox-linux (at most its size)",
        "    live Firefox profile (profile/)                                 64.0 MiB",
        "    margin 10 %",
    ):
        assert line in proc.stderr, line
    assert (
        f"  data partition: {least} MiB, from the plan's budget (the plan's minimum: {least} MiB)\n"
    ) in proc.stdout
    toml.write_text(toml.read_text().replace("# data_size_mib = 2048", "data_size_mib = 300"))
    proc = esecure("build", str(demo_project), "--out", str(tmp_path / "b"), *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b" / "data.img").stat().st_size == 300 * MIB
    assert (
        f"  data partition: 300 MiB, from [image] data_size_mib (the plan's minimum: {least} MiB)\n"
    ) in proc.stdout


def test_a_launcher_dir_outside_the_plan_is_refused(demo_project, tmp_path):
    """--launcher-dir windows=DIR with [image] platforms = ["linux"]: ES901 at that line."""
    toml = demo_project / "esecure.toml"
    toml.write_text(
        toml.read_text().replace('# platforms = ["linux", "windows"]', 'platforms = ["linux"]')
    )
    with pytest.raises(ConfigError) as info:
        plan_launchers(load_project(demo_project), {"windows": tmp_path})
    assert [p.render() for p in info.value.problems] == [
        f"{toml}:{_line(toml, 'platforms = [')}: [image] platforms: expected every platform "
        'given with --launcher-dir, found ["linux"] without "windows". Fix: add \'windows\' '
        "to [image] platforms (and its [firefox] installation), or leave out --launcher-dir "
        "windows=…"
    ]


def test_a_platform_of_the_plan_without_its_launcher_is_refused(demo_project, tmp_path):
    """The plan carries windows, this Linux host cannot freeze it and no --launcher-dir
    gives it: ES916 naming the option to pass."""
    firefox = tmp_path / "ff-win"
    firefox.mkdir()
    toml = demo_project / "esecure.toml"
    toml.write_text(toml.read_text().replace('windows = ""', f'windows = "{firefox}"'))
    project = load_project(demo_project)
    assert project.image.platforms == ("linux", "windows")
    assert plan_launchers(project, {"windows": tmp_path}) == {"linux": None, "windows": tmp_path}
    with pytest.raises(ConfigError) as info:
        plan_launchers(project, {})
    assert info.value.code == "ES916"
    assert [p.render() for p in info.value.problems] == [
        f"{toml}:{_line(toml, 'windows = ')}: [firefox] windows: expected a windows launcher "
        "for the windows the plan carries (this linux machine can freeze only the linux "
        "launcher), found no --launcher-dir windows=DIR. Fix: pass --launcher-dir windows=DIR "
        '(a launcher frozen on windows), or set [firefox] windows = "" (the plan then leaves '
        "windows out)"
    ]
    both = 'platforms = ["linux", "windows"]'
    toml.write_text(toml.read_text().replace(f"# {both}", both))
    with pytest.raises(ConfigError) as info:
        plan_launchers(load_project(demo_project), {})
    where = f"{toml}:{_line(toml, 'platforms = [')}: [image] platforms"
    assert info.value.problems[0].where == where
    assert info.value.problems[0].fix.endswith("or remove windows from [image] platforms")
