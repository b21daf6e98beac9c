"""Firefox's start with the key's bundled libraries beside Debian's own (issue 11, item 1).

Copies Debian's /usr/lib/firefox-esr with `cp -rL` into a temporary directory and bundles
its libraries there exactly as the build does (`esecure.bundle.elfdeps.bundle_libraries`:
bundled-libs/ with NSPR, libevent, libvpx, libffi). Then measures the whole
`firefox-esr --headless -no-remote -profile P --screenshot out.png URL` on a page served
from 127.0.0.1 until the process exits, fresh profile each run, runs alternating:

* key's libraries: argv and environment of `prepare_firefox` (bundled-libs/ first on
  LD_LIBRARY_PATH), on this Debian 12 machine;
* Debian's own: the same copy, without LD_LIBRARY_PATH (the loader takes /usr/lib's);
* with ``--debian13``: the key's libraries inside the cached Debian 13 root of the
  portability test (bubblewrap; its start-up, ~10 ms, is included), where Debian's own
  cannot start at all.

Usage: .venv/bin/python benchmarks/firefox_libraries.py [--runs 5] [--debian13]
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from esecure.bundle.elfdeps import bundle_libraries
from esecure_onkey.browser import LIBRARY_PATH, prepare_firefox

DEBIAN = Path("/usr/lib/firefox-esr")
ROOT = Path.home() / ".cache" / "e-secure" / "debian13-root"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from firefox_shadow import Page  # noqa: E402 - a sibling script, as bench_start_bytes does

Start = Callable[[list[str], Mapping[str, str]], tuple[list[str], Mapping[str, str]]]


def _screenshot(start: Start, work: Path, url: str) -> float:
    profile = Path(tempfile.mkdtemp(dir=work, prefix="profile-"))
    (profile / "user.js").write_text('user_pref("browser.shell.checkDefaultBrowser", false);\n')
    shot = profile.with_suffix(".png")
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(work / "home"),
               "MOZ_CRASHREPORTER_DISABLE": "1", "TMPDIR": str(work / "home")}  # fmt: skip
    args = ["--headless", "-no-remote", "-profile", str(profile), "--screenshot", str(shot), url]
    began = time.perf_counter()
    argv, env = start(args, environ)
    subprocess.run(argv, env=dict(env), check=True, timeout=60, capture_output=True)
    elapsed = time.perf_counter() - began
    if not shot.is_file():
        raise SystemExit(f"no screenshot from {argv[0]}")
    shutil.rmtree(profile)
    shot.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--debian13", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        (work / "home").mkdir()
        firefox = work / "firefox"
        subprocess.run(["cp", "-rL", str(DEBIAN), str(firefox)], check=True)
        plan = bundle_libraries(firefox, image_prefix="firefox/linux")
        scratch = work / "scratch"

        def keys(
            args: list[str], environ: Mapping[str, str]
        ) -> tuple[list[str], Mapping[str, str]]:
            start = prepare_firefox(firefox, "linux", scratch=scratch, args=args, environ=environ)
            assert LIBRARY_PATH in start.env
            return list(start.argv), start.env

        def debians(
            args: list[str], environ: Mapping[str, str]
        ) -> tuple[list[str], Mapping[str, str]]:
            return [str(firefox / "firefox-esr"), *args], environ

        def in_root(
            args: list[str], environ: Mapping[str, str]
        ) -> tuple[list[str], Mapping[str, str]]:
            argv, env = keys(args, environ)
            bwrap = ["bwrap", "--ro-bind", str(ROOT), "/", "--tmpfs", "/tmp",  # noqa: S108
                     "--bind", str(work), str(work), "--proc", "/proc", "--dev", "/dev",
                     "--tmpfs", "/dev/shm", "--die-with-parent", "--"]  # noqa: S108  # fmt: skip
            return [*bwrap, *argv], env

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        kinds: dict[str, Start] = {"key's libraries": keys, "Debian's own": debians}
        if options.debian13:
            kinds["key's libraries in Debian 13 (bubblewrap)"] = in_root
        for start in kinds.values():
            _screenshot(start, work, url)  # warm each once
        times: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(options.runs):
            for name, start in kinds.items():
                times[name].append(_screenshot(start, work, url))
        server.shutdown()
        server.server_close()

    base = statistics.median(times["Debian's own"])
    print(f"runs: {options.runs}; load average: {os.getloadavg()[0]:.2f}")
    names = ", ".join(f"{b.name} ({b.size:,})" for b in plan.bundled)
    print(f"bundled: {len(plan.bundled)} libraries, {plan.bundled_bytes:,} bytes: {names}")
    print("| start + screenshot | median | all runs | ratio |")
    print("|---|---|---|---|")
    for name, values in times.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} s | {runs} | {median / base:.2f}x |")


if __name__ == "__main__":
    main()
