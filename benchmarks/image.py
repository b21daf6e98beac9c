"""Image builder benchmarks: ISO writing vs xorriso, build time without PyInstaller,
personalisation throughput, launcher start from the image.

    .venv/bin/python benchmarks/image.py [--runs 5]

Prints medians and ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from esecure.bundle import iso
from esecure.bundle.build import BuildOptions, build_image
from esecure.bundle.freeze import freeze_launcher
from esecure.bundle.personalize import PersonalizeOptions, personalize
from esecure.bundle.tree import walk_files
from esecure.scaffold import InitOptions, init_project

EPOCH = 1_700_000_000


def extract_iso(image: Path, cd: Path) -> Path:
    """The ISO's tree extracted by xorriso (an independent reader), Rock Ridge modes kept."""
    subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(image), "-extract", "/", str(cd)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return cd


def median(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(name: str, value: float, baseline_name: str, baseline: float, unit: str = "s") -> None:
    """One line of the table."""
    print(
        f"| {name} | {value:.3f} {unit} | {baseline_name} | {baseline:.3f} {unit} | "
        f"{value / baseline:.2f}x |"
    )


def _start_times(cd: Path, runs: int) -> tuple[float, float, float]:
    """Warm --version and --self-check of the extracted launcher, and a bare interpreter."""
    exe = str(cd / "e-secure")
    env = {"PATH": "/usr/bin:/bin"}
    subprocess.run([exe, "--version"], check=True, capture_output=True, env=env, timeout=60)
    version_s = median(
        lambda: subprocess.run(
            [exe, "--version"], check=True, capture_output=True, env=env, timeout=60
        ),
        max(runs, 10),
    )
    python_s = median(
        lambda: subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60),
        max(runs, 10),
    )
    selfcheck_s = median(
        lambda: subprocess.run(
            [exe, "--self-check"], check=True, capture_output=True, env=env, timeout=60
        ),
        runs,
    )
    return version_s, python_s, selfcheck_s


def main() -> None:
    """Run every benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    base = Path(tempfile.mkdtemp(prefix="esecure-bench-"))
    try:
        project = base / "project"
        init_project(project, InitOptions(demo=True), passphrase=None)
        start = time.perf_counter()
        launcher = freeze_launcher(base / "launcher", launcher_name="e-secure", epoch=EPOCH)
        freeze_s = time.perf_counter() - start
        counter = iter(range(1000))

        def build() -> None:
            build_image(
                project,
                BuildOptions(
                    out=base / f"out{next(counter)}", launcher_dirs={"linux": launcher}, epoch=EPOCH
                ),
            )

        build_s = median(build, min(runs, 3))
        copy_s = median(
            lambda: subprocess.run(
                ["cp", "-rL", "/usr/lib/firefox-esr", str(base / f"ff{next(counter)}")],
                check=True,
                timeout=300,
            ),
            min(runs, 3),
        )
        cd = extract_iso(base / "out0" / "cdrom.iso", base / "cd")
        files = walk_files(cd)
        plan = iso.plan_iso(files, frozenset(f for f in files if (cd / f).stat().st_mode & 0o100))
        size = sum((cd / f).stat().st_size for f in files)
        pycdlib_s = median(
            lambda: iso.write_iso(cd, base / "p.iso", plan, volume_label="E_SECURE", epoch=EPOCH),
            runs,
        )
        xorriso_s = median(
            lambda: subprocess.run(
                [
                    "xorriso",
                    "-as",
                    "mkisofs",
                    "-quiet",
                    "-R",
                    "-J",
                    "-V",
                    "E_SECURE",
                    "-o",
                    str(base / "x.iso"),
                    str(cd),
                ],
                check=True,
                timeout=300,
                capture_output=True,
            ),
            runs,
        )

        def person() -> None:
            personalize(
                project,
                "demo-bank",
                PersonalizeOptions(out=base / f"p{next(counter)}", count=10_000),
            )

        person_s = median(person, 3)

        def plain_files() -> None:
            out = base / f"plain{next(counter)}"
            out.mkdir()
            for i in range(10_000):
                (out / f"{i:014d}.json").write_bytes(b'{"format": 1, "serial": "X"}\n' * 3)

        plain_s = median(plain_files, 3)
        version_s, python_s, selfcheck_s = _start_times(cd, runs)
        print(f"tree: {len(files)} files, {size / 1e6:.0f} MB; PyInstaller freeze {freeze_s:.1f} s")
        print("| measure | median | baseline | baseline median | ratio |")
        print("|---|---|---|---|---|")
        row("ISO write (pycdlib)", pycdlib_s, "xorriso -as mkisofs -R -J", xorriso_s)
        row("image build without PyInstaller", build_s, "cp -rL firefox-esr", copy_s)
        row("personalise 10,000 keys", person_s, "10,000 plain files", plain_s)
        print(f"|  → throughput | {10_000 / person_s:,.0f} keys/s | | | |")
        row("e-secure --version from the image", version_s, "python -c pass", python_s)
        row("e-secure --self-check from the image", selfcheck_s, "python -c pass", python_s)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
