"""Start to site (issue 10): from exec of `e-secure` to the portal login page's load event
in Firefox, nothing to update and a valid certificate, beside Firefox's own cold start on
the same profile, policies and page.

The key is the end-to-end test's (src/esecure/demo/key.py): the demo image rebuilt
against a running `esecure serve` on 127.0.0.1 (src/esecure/demo/images.py; the frozen launcher of a
first demo build reused), its CD-ROM extracted, a data area made by `esecure personalize
--data-images`, then one start that updates to 1.0.1 and enrols (not measured). Then, in
turns, ``--runs`` times each:

* **e-secure**: the frozen bootstrap of the CD tree, ``--no-gui``, Firefox headless with a
  WebDriver BiDi port (ESECURE_FIREFOX_ARGS);
* **firefox**: the key's own Firefox (the CD-ROM's, its policies) started directly with
  the same arguments the launcher gives it (``--headless --remote-debugging-port=P
  -no-remote -profile <data>/profile <site>``) and the same environment.

Each time is from just before ``Popen`` (wall clock) to the page's
``performance.timing.loadEventEnd``, read over BiDi once the login page shows; Firefox is
then closed over BiDi and the next run starts from a stopped Firefox (the page cache
stays warm: a "cold" start here is a new Firefox process, not an empty page cache).

Usage: .venv/bin/python benchmarks/bench_start_to_site.py [--runs 10]
(results go into docs/performance.md by hand).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from esecure.demo.images import extract, run_build, served_image  # noqa: E402
from esecure.demo.key import IDENTIFIER, Key, Launcher, personalised_key  # noqa: E402
from esecure.scaffold import InitOptions, init_project  # noqa: E402
from esecure_onkey.browser import find_executable  # noqa: E402

LOGIN = "document.body && document.body.dataset.page === 'login'"
LOADED = "performance.timing.loadEventEnd > 0"


def _timed(key: Key, *args: str, alone: bool = False) -> float:
    """Seconds from exec to the login page's load event (the launcher, or Firefox alone)."""

    def firefox(port: int) -> list[str]:
        exe = find_executable(key.cd / "firefox" / "linux", "linux")
        assert exe is not None
        site = key.served.url
        profile = str(key.data / "profile")
        headless = ["--headless", f"--remote-debugging-port={port}"]
        return [str(exe), *headless, "-no-remote", "-profile", profile, site]

    started = time.time()
    run = Launcher(key, *args, program=firefox if alone else None)
    try:
        browser = run.firefox()
        try:
            browser.wait_until(LOGIN)
            browser.wait_until(LOADED)
            loaded = float(browser.evaluate("performance.timing.loadEventEnd")) / 1000
        finally:
            browser.close()
        run.wait()
    finally:
        run.stop()
    return loaded - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    started = time.time()
    base = Path(tempfile.mkdtemp(prefix="bench-site-"))
    try:
        project = base / "project"
        init_project(project, InitOptions(demo=True), passphrase=None)
        print("building the demo image (PyInstaller, Firefox) …", flush=True)
        first = run_build(project, base / "out", base)
        launcher = extract(first.cdrom, base / "cd")
        shutil.rmtree(base / "out")
        (base / "served").mkdir()
        print("building the image served by esecure serve …", flush=True)
        with served_image(project, launcher, base / "served") as served:
            (base / "key").mkdir()
            key = personalised_key(served, base / "key")
            print("first start: update, restart, enrolment …", flush=True)
            _timed(key, "--identifier", IDENTIFIER, "--activation-code", key.code)
            _timed(key)  # the first everyday start (the profile's first merge), not counted
            times: dict[str, list[float]] = {"e-secure": [], "firefox": []}
            for n in range(args.runs):  # bounded: each run's waits are (esecure.demo.key)
                times["e-secure"].append(_timed(key))
                times["firefox"].append(_timed(key, alone=True))
                print(
                    f"run {n + 1}: e-secure {times['e-secure'][-1] * 1000:.0f} ms, "
                    f"firefox {times['firefox'][-1] * 1000:.0f} ms",
                    flush=True,
                )
    finally:
        shutil.rmtree(base, ignore_errors=True)
        for runtime in Path(tempfile.gettempdir()).glob("e2e-*"):  # the key's socket dir
            if runtime.is_dir() and runtime.stat().st_mtime >= started:
                shutil.rmtree(runtime, ignore_errors=True)
    print(f"\nmedians of {args.runs} (ms), min-max:")
    for name, values in times.items():
        print(
            f"  {name:9} {statistics.median(values) * 1000:6.0f}   "
            f"{min(values) * 1000:.0f}-{max(values) * 1000:.0f}"
        )
    overhead = statistics.median(times["e-secure"]) - statistics.median(times["firefox"])
    print(f"  launcher overhead (median difference): {overhead * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
