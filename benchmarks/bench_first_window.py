"""First window: from exec of the launcher to pywebview's ``shown`` event, under Xvfb.

Three programs, each started as a fresh ``python`` process (the same interpreter and venv)
on one Xvfb display, in turns, ``--runs`` times each:

* **e-secure**: the launcher's entry (``esecure.launcher.app.main([])``, what the
  bootstrap calls) on a small signed key (the flow tests' key: CD-ROM, data area with
  identity.json, no certificate): argument parsing, the release choice, the flow's
  modules, then the windows;
* **ui.run**: the windows' entry alone (``esecure.launcher.ui.gui.run``) with a flow that
  does nothing: what the UI costs by itself;
* **hello**: a hello-world pywebview window (``webview.create_window`` + ``start``): the
  floor.

Each process reports the moment ``shown`` fires (``time.monotonic``, shared by all
processes of the machine) and exits at once; the time counts from just before the
parent's ``Popen``. Then ``e-secure --version`` (warm, ``app.main(["--version"])``) beside
``python -c pass``.

Usage: .venv/bin/python benchmarks/bench_first_window.py [--runs 10]
(needs Xvfb; results go into docs/performance.md by hand).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOOK = textwrap.dedent(
    """\
    import importlib.abc, importlib.machinery, os, sys, time

    class _Shown(importlib.abc.MetaPathFinder):
        # When webview is imported, every window it creates reports its `shown` event.
        def find_spec(self, name, path, target=None):
            if name != "webview":  # also asked by the launcher's "can windows open?"
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                create = module.create_window

                def create_window(*args, **kwargs):
                    window = create(*args, **kwargs)

                    def shown():
                        print(f"shown {time.monotonic():.6f}", flush=True)
                        os._exit(0)

                    window.events.shown += shown
                    return window

                module.create_window = create_window

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Shown())
    """
)
PROGRAMS = {
    "e-secure": HOOK + "from esecure.launcher.app import main\nmain([])\n",
    "ui.run": HOOK
    + textwrap.dedent(
        """\
        from esecure.launcher.flow.presenter import PresenterContext
        from esecure.launcher.ui.gui import run
        run(lambda presenter: 0, PresenterContext({}, "en", None))
        """
    ),
    "hello": HOOK
    + textwrap.dedent(
        """\
        import webview
        webview.create_window("hello", html="<p>hello</p>")
        webview.start(gui="gtk")
        """
    ),
}
TIMEOUT = 60.0


def _display(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """An Xvfb of our own; its display name."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "xvfb.log").open("wb"),
    )
    os.close(write)
    with os.fdopen(read) as stream:
        number = stream.readline().strip()
    if not number:
        raise SystemExit("Xvfb did not start")
    return xvfb, f":{number}"


def _key(tmp: Path) -> dict[str, str]:
    """A small signed key (the flow tests' own), its environment for the launcher."""
    from tests.launcher.flow.keyfix import make_key  # noqa: PLC0415

    from esecure.scaffold import InitOptions, init_project  # noqa: PLC0415

    project = tmp / "project"
    init_project(project, InitOptions(demo=True), passphrase=None)
    key = make_key(tmp / "key", ca_pem=(project / "trust" / "ca.pem").read_bytes())
    return {"ESECURE_CD_ROOT": str(key.cd), "ESECURE_DATA_DIR": str(key.data)}


def _first_window(program: str, env: dict[str, str]) -> float:
    """Seconds from just before exec to the window's shown event."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", program],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("shown ")]
    if not lines:
        raise SystemExit(f"no shown event (exit {done.returncode}): {done.stderr[-2000:]}")
    return float(lines[0].split()[1]) - start


def _run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, check=True, timeout=TIMEOUT, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    """Time the first window of each program, then --version; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        xvfb, display = _display(tmp)
        try:
            env = {
                **os.environ,
                **_key(tmp),
                "DISPLAY": display,
                "NO_AT_BRIDGE": "1",
                "HOME": str(tmp),
                "XDG_RUNTIME_DIR": str(tmp),
                "PYTHONPATH": str(ROOT),
            }
            env.pop("WAYLAND_DISPLAY", None)
            times: dict[str, list[float]] = {name: [] for name in PROGRAMS}
            for program in PROGRAMS.values():  # one warm-up each: the page cache
                _first_window(program, env)
            for _ in range(args.runs):
                for program_name, program in PROGRAMS.items():
                    times[program_name].append(_first_window(program, env))
        finally:
            xvfb.terminate()
            xvfb.wait(timeout=10)
        version = [
            sys.executable,
            "-c",
            "from esecure.launcher.app import main; main(['--version'])",
        ]
        _run(version, env)
        version_s = [_run(version, env) for _ in range(args.runs)]
        python_s = [_run([sys.executable, "-c", "pass"], env) for _ in range(args.runs)]
    print(f"runs: {args.runs}; Python {sys.version.split()[0]}; load {os.getloadavg()[0]:.2f}")
    print("| measure | median | min | max |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(
            f"| first window, {name} | {statistics.median(values) * 1000:.0f} ms "
            f"| {min(values) * 1000:.0f} ms | {max(values) * 1000:.0f} ms |"
        )
    for name, values in (("e-secure --version (warm)", version_s), ("python -c pass", python_s)):
        print(
            f"| {name} | {statistics.median(values) * 1000:.0f} ms "
            f"| {min(values) * 1000:.0f} ms | {max(values) * 1000:.0f} ms |"
        )


if __name__ == "__main__":
    main()
