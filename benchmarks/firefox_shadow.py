"""Cost of starting Firefox from the data area through a shadow directory (issue 8, item 4).

Copies Debian's /usr/lib/firefox-esr twice with `cp -rL` into a temporary directory: one
copy keeps its modes (a Firefox that runs in place: the baseline), the other gets 0644 on
every file and 0755 on every folder (what a showexec FAT mount shows). Then measures:

* build: `prepare_firefox` with no shadow yet (ELF headers read, programs hashed, copied,
  links made, stamp written, renamed into place);
* reuse: `prepare_firefox` finding the shadow valid (programs hashed on both sides);
* start: `firefox-esr --headless --no-remote --profile P --screenshot out.png URL` on a
  page served from 127.0.0.1 until the process exits, fresh profile each run, in place
  (baseline) and through the shadow (`prepare_firefox` included), runs alternating.

The page cache is warm (the copies were just written); on a key the programs are also read
from the USB stick: that transfer is computed at 30 MB/s (USB 2 in practice), not measured.

Usage: .venv/bin/python benchmarks/firefox_shadow.py [--runs 7]
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from esecure_onkey.browser import SHADOW_NAME, prepare_firefox

DEBIAN = Path("/usr/lib/firefox-esr")
USB2 = 30e6  # bytes/s


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><html><body><h1>e-secure</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _screenshot(argv_of: Callable[[list[str]], list[str]], work: Path, url: str) -> float:
    profile = Path(tempfile.mkdtemp(dir=work, prefix="profile-"))
    (profile / "user.js").write_text('user_pref("browser.shell.checkDefaultBrowser", false);\n')
    shot = profile.with_suffix(".png")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work / "home"), "MOZ_HEADLESS": "1",
           "MOZ_CRASHREPORTER_DISABLE": "1", "TMPDIR": str(work / "home")}  # fmt: skip
    start = time.perf_counter()
    argv = argv_of(["--headless", "--no-remote", "--profile", str(profile), "--screenshot",
                    str(shot), url])  # fmt: skip
    subprocess.run(argv, env=env, check=True, timeout=60, capture_output=True)
    elapsed = time.perf_counter() - start
    if not shot.is_file():
        raise SystemExit(f"no screenshot from {argv[0]}")
    shutil.rmtree(profile)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        (work / "home").mkdir()
        in_place, showexec = work / "exec" / "firefox", work / "showexec" / "firefox"
        for target in (in_place, showexec):
            target.parent.mkdir()
            subprocess.run(["cp", "-rL", str(DEBIAN), str(target)], check=True)
        for path in [showexec, *showexec.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        scratch = work / "scratch"

        builds = []
        for _ in range(runs):
            shutil.rmtree(scratch, ignore_errors=True)
            began = time.perf_counter()
            prepare_firefox(showexec, "linux", scratch=scratch)
            builds.append(time.perf_counter() - began)
        build_s = statistics.median(builds)
        reuse_s = _median(lambda: prepare_firefox(showexec, "linux", scratch=scratch), runs)
        start = prepare_firefox(showexec, "linux", scratch=scratch)
        shadow = scratch / SHADOW_NAME
        copies = sorted(p.name for p in shadow.iterdir() if not p.is_symlink())
        links = sum(1 for p in shadow.iterdir() if p.is_symlink())

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        exe = str(in_place / "firefox-esr")

        def firefox_argv(args: list[str]) -> list[str]:
            return list(prepare_firefox(showexec, "linux", scratch=scratch, args=args).argv)

        def first_start(args: list[str]) -> list[str]:
            shutil.rmtree(scratch, ignore_errors=True)
            return firefox_argv(args)

        _screenshot(lambda a: [exe, *a], work, url)  # warm both once
        _screenshot(firefox_argv, work, url)
        base, shadowed, first = [], [], []
        for _ in range(runs):
            base.append(_screenshot(lambda a: [exe, *a], work, url))
            shadowed.append(_screenshot(firefox_argv, work, url))
            first.append(_screenshot(first_start, work, url))
        server.shutdown()
        server.server_close()

    b = statistics.median(base)
    rows = [
        ("shadow build (`prepare_firefox`, no shadow yet)", f"{build_s * 1000:.1f} ms", "", ""),
        ("shadow reuse (`prepare_firefox`, shadow valid)", f"{reuse_s * 1000:.1f} ms", "", ""),
        ("start + screenshot, in place (0755 copy)", f"{b:.2f} s", "baseline", "1.00x"),
        ("start + screenshot, shadow reused", f"{statistics.median(shadowed):.2f} s", "",
         f"{statistics.median(shadowed) / b:.2f}x"),
        ("start + screenshot, shadow built first", f"{statistics.median(first):.2f} s", "",
         f"{statistics.median(first) / b:.2f}x"),
    ]  # fmt: skip
    print(f"runs: {runs}; load average: {os.getloadavg()[0]:.2f}")
    programs = [c for c in copies if not c.startswith(".")]
    print(f"copied: {start.copied_bytes:,} bytes, {len(programs)} programs; {links} links")
    print(f"programs: {', '.join(programs)}")
    print(f"programs read from USB 2 at 30 MB/s (computed): {start.copied_bytes / USB2:.2f} s")
    print("| measure | median | baseline | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
