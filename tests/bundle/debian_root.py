"""A Debian 13 (trixie) root for the portability test, made by debootstrap and cached
outside the checkout between test runs.

Its libraries differ from Debian 12's (``libvpx.so.9``, no NSPR, the 64-bit time_t
rebuilds), and it holds the desktop base the key assumes of a host: GTK 3, ALSA, X11's
client libraries and a font. ``dbus-x11`` is included because minbase does not resolve
dconf-service's "default-dbus-session-bus | dbus-session-bus" dependency (GTK's settings
backend needs it), and debootstrap then fails to configure GTK.

The root is made under a temporary name and renamed once complete; its stamp (what it
was made from) is written last, so a root without the expected stamp is made again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
INCLUDE = ("libgtk-3-0t64", "libasound2t64", "libx11-xcb1", "fonts-dejavu-core", "dbus-x11")
DEBOOTSTRAP_TIMEOUT = 1500  # seconds; about 3 minutes here
STAMP = ".e-secure-root.json"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/e-secure`` (``~/.cache/e-secure``): outside any checkout."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "e-secure"


def _stamp() -> bytes:
    doc = {"suite": SUITE, "variant": "minbase", "include": list(INCLUDE), "format": 1}
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


def _command(target: Path) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(INCLUDE)}",
        SUITE,
        str(target),
        MIRROR,
    ]


def debian13_root(cache: Path | None = None) -> Path:
    """The cached root, made first when missing or made from other packages. Raises
    RuntimeError (with debootstrap's last lines) when it cannot be made."""
    cache = cache or cache_dir()
    root = cache / "debian13-root"
    stamp = root / STAMP
    if stamp.is_file() and stamp.read_bytes() == _stamp():
        return root
    if shutil.which("debootstrap") is None and not Path("/usr/sbin/debootstrap").is_file():
        raise RuntimeError("debootstrap is missing: run build_scripts/install-system-deps.sh")
    if os.geteuid() != 0:
        raise RuntimeError("debootstrap and chroot need root: run the slow tests as root")
    cache.mkdir(parents=True, exist_ok=True)
    for stale in cache.glob("debian13-root.*"):  # left by an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    building = cache / f"debian13-root.building-{os.getpid()}"
    env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"}
    try:
        proc = subprocess.run(
            _command(building),
            capture_output=True,
            text=True,
            timeout=DEBOOTSTRAP_TIMEOUT,
            check=False,
            env=env,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {(proc.stdout + proc.stderr)[-2000:]}")
        (building / STAMP).write_bytes(_stamp())
        if root.exists():
            old = cache / f"debian13-root.old-{os.getpid()}"
            root.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        building.rename(root)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return root
