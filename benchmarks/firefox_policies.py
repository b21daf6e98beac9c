"""Firefox's start with issue 11's lock-down beside issue 8's (docs/performance.md,
section "Firefox lock-down").

Links Debian's /usr/lib/firefox-esr twice into a temporary directory (hard links: same
file system, else `cp -rL`), each with its own ``distribution/policies.json``: "before"
is today's ``policies()`` without the policies issue 11 added (and with the two issue 8
had that ESR 153 ignores), "after" is today's. Then, alternating, on a fresh profile from
``user_js()`` each run: ``firefox-esr --headless --no-remote --profile P --screenshot
out.png about:blank`` until the process exits (start, first paint, shutdown with its
sanitizing). Median of ``--runs`` each.

Usage: .venv/bin/python benchmarks/firefox_policies.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from esecure.bundle.firefox import BrowserSettings, policies, user_js

DEBIAN = Path("/usr/lib/firefox-esr")
SETTINGS = BrowserSettings(site="https://127.0.0.1:8443/")
ADDED = (
    "SanitizeOnShutdown",
    "DisableFormHistory",
    "DisableSafeMode",
    "DisableFirefoxAccounts",
    "DisableSystemAddonUpdate",
    "PromptForDownloadLocation",
    "Permissions",
    "SSLVersionMin",
    "Proxy",
    "DNSOverHTTPS",
    "BlockAboutAddons",
)


def _before() -> dict[str, object]:
    table = {k: v for k, v in policies(SETTINGS).items() if k not in ADDED}
    table["DisablePocket"] = True
    table["Handlers"] = {
        "mimeTypes": {"application/pdf": {"action": "handleInternally", "ask": False}}
    }
    return table


def _install(dest: Path, table: dict[str, object]) -> Path:
    try:
        subprocess.run(["cp", "-al", str(DEBIAN), str(dest)], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        subprocess.run(["cp", "-rL", str(DEBIAN), str(dest)], check=True)
    distribution = dest / "distribution"
    if distribution.is_symlink():  # Debian's points into /etc: replace the link, not its target
        distribution.unlink()
    shutil.rmtree(distribution, ignore_errors=True)
    (dest / "distribution").mkdir()
    (dest / "distribution" / "policies.json").write_text(json.dumps({"policies": table}))
    return dest / "firefox-esr"


def _run(firefox: Path, base: Path, n: int) -> float:
    profile = base / f"profile-{n}"
    profile.mkdir()
    (profile / "user.js").write_bytes(user_js(SETTINGS))
    home = base / f"home-{n}"
    home.mkdir()
    start = time.perf_counter()
    subprocess.run(
        [
            str(firefox),
            "--headless",
            "--no-remote",
            "--profile",
            str(profile),
            "--screenshot",
            str(base / f"shot-{n}.png"),
            "about:blank",
        ],
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "MOZ_CRASHREPORTER_DISABLE": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        before = _install(base / "before", _before())
        after = _install(base / "after", policies(SETTINGS))
        _run(after, base, -1)  # warm the page cache
        times: dict[str, list[float]] = {"before": [], "after": []}
        for n in range(runs):
            times["before"].append(_run(before, base, 2 * n))
            times["after"].append(_run(after, base, 2 * n + 1))
    for name, values in times.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name}: median {statistics.median(values):.2f} s ({shown})")
    ratio = statistics.median(times["after"]) / statistics.median(times["before"])
    print(f"after / before: {ratio:.2f}")


if __name__ == "__main__":
    main()
