"""Key images built with real PyInstaller and Debian's Firefox, extracted with xorriso, and
served: `esecure serve` on 127.0.0.1 with releases published. The demo makes one per run;
the slow tests one per session (tests/conftest.py's fixtures)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from esecure.demo import DemoError, check

EPOCH = "1700000000"
FIREFOX = Path("/usr/lib/firefox-esr")
BUILD_TIMEOUT = 900


@dataclass(frozen=True)
class Built:
    """A built image and where it came from."""

    project: Path
    out: Path
    cdrom: Path
    data: Path
    stdout: str
    stderr: str


def run_build(
    project: Path,
    out: Path,
    cwd: Path,
    *,
    extra_env: dict[str, str] | None = None,
    umask: int = 0o022,
    args: tuple[str, ...] = (),
) -> Built:
    """`esecure build` in a child process (its own cwd, TMPDIR, umask and time zone)."""
    tmpdir = cwd / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": EPOCH,
        "TMPDIR": str(tmpdir),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **(extra_env or {}),
    }
    code = f"import os, sys; os.umask({umask}); from esecure.cli import main; main(sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, "build", str(project), "--out", str(out), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    check(proc.returncode == 0, "esecure build failed:\n" + proc.stderr[-3000:])
    return Built(project, out, out / "cdrom.iso", out / "data.img", proc.stdout, proc.stderr)


def extract(iso: Path, dest: Path) -> Path:
    """Extract an ISO with xorriso (an independent reader), Rock Ridge names and modes."""
    proc = subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    check(proc.returncode == 0, f"xorriso could not extract {iso}:\n" + proc.stderr[-2000:])
    # xorriso restores the read-only modes of the medium; the tests flip bytes in place.
    for directory, _dirs, _files in os.walk(dest):
        Path(directory).chmod(0o755)
    return dest


def copy_project(project: Path, dest: Path) -> Path:
    """The same project in another directory (same keys, same bytes)."""
    shutil.copytree(project, dest, symlinks=False)
    return dest


@dataclass(frozen=True)
class Served:
    """An image whose [urls] name a running `esecure serve`, with an update published."""

    project: Path  # the project the image was built from (its keys, registry, repository)
    url: str  # https://127.0.0.1:PORT/
    cd: Path  # the image's CD-ROM, extracted
    build_report: Path  # the build's build-report.json (for `personalize --data-images`)
    update: str  # the version published after the build


class ServeProcess:
    """`esecure serve PROJECT --port 0` in a child process; its URL read from its output."""

    def __init__(self, project: Path, log: Path, *, timeout: float = 60) -> None:
        self.log = log
        self._sink = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "esecure", "serve", str(project), "--port", "0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._sink,
            env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
        )
        self.url = self._listening(timeout)

    def _listening(self, timeout: float) -> str:
        found: queue.Queue[str] = queue.Queue()

        def read() -> None:
            for raw in self.process.stdout or ():
                line = raw.decode("utf-8", "replace")
                if line.startswith("Listening on "):
                    found.put(line.removeprefix("Listening on ").strip())
            found.put("")

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        try:
            url = found.get(timeout=timeout)
        except queue.Empty:
            url = ""
        if not url:
            self.stop()
            raise DemoError("esecure serve did not start:\n" + self.log.read_text()[-3000:])
        return url

    def stop(self) -> None:
        """SIGTERM (serve stops cleanly), then SIGKILL after a bound."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
        self._reader.join(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._sink.close()


UPDATE_MOUNTS = ("app", "lib/linux", "firefox/linux", "profile", "trust")


def release_root(cd: Path, dest: Path, version: str) -> Path:
    """A release tree made of the CD-ROM's components (hard links: no copy of Firefox) with
    only the app changed (its product.json's version)."""
    for mount in UPDATE_MOUNTS:
        shutil.copytree(cd / mount, dest / mount, copy_function=os.link)
    product = dest / "app" / "product.json"
    data = json.loads(product.read_text())
    product.unlink()  # a hard link: the CD-ROM's file must stay as it is
    product.write_text(json.dumps({**data, "version": version}))
    return dest


_LOOPBACK_URL = re.compile(r"https://127\.0\.0\.1:\d+/")
AUTOMATION = 'host_policies = "warn"\nautomation = true\n'


def serve_project(project: Path, base: Path) -> ServeProcess:
    """`esecure serve` for ``project`` (its TUF keys made first if it has none), and the
    project's [urls] pointed at it and its Firefox made drivable ([firefox] automation,
    for test and demo images only)."""
    from esecure.bundle.build import TUF_ROOT  # noqa: PLC0415
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import init_keys  # noqa: PLC0415

    if not (project / TUF_ROOT).exists():
        init_keys(load_project(project), say=lambda _m: None)
    server = ServeProcess(project, base / "serve.log")
    toml = project / "esecure.toml"
    text = _LOOPBACK_URL.sub(server.url, toml.read_text())
    if "automation = true" not in text:
        text = text.replace('host_policies = "warn"\n', AUTOMATION)
    check("automation = true" in text, f"{toml}: no [firefox] host_policies line to extend")
    toml.write_text(text)
    return server


def build_served(project: Path, base: Path, launcher: Path | None = None) -> tuple[Path, Path]:
    """Build ``project`` (the frozen launcher of the CD tree ``launcher`` reused: no second
    PyInstaller run) and extract it: (the CD-ROM tree, a copy of build-report.json)."""
    args = () if launcher is None else ("--launcher-dir", f"linux={launcher}")
    built = run_build(project, base / "out", base, args=args)
    check(
        "warning: [firefox] automation = true" in built.stderr,  # the engineer is told
        "the build did not warn about [firefox] automation",
    )
    cd = extract(built.cdrom, base / "cd")
    report = base / "build-report.json"
    shutil.copyfile(built.out / "build-report.json", report)
    shutil.rmtree(built.out)  # ~0.5 GB
    return cd, report


def publish_release(project: Path, cd: Path, base: Path, version: str) -> None:
    """Publish ``version``: the CD-ROM's components with the app's version changed."""
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import publish  # noqa: PLC0415

    bundle = release_root(cd, base / f"bundle-{version}", version)
    try:
        publish(load_project(project), version, bundle, say=lambda _m: None)
    finally:
        shutil.rmtree(bundle)


@contextlib.contextmanager
def served_image(project: Path, launcher: Path, base: Path) -> Iterator[Served]:
    """``project`` (copied, with update keys) served by `esecure serve`, built into an
    image whose [urls] name that server and whose Firefox may be driven, (reusing the
    frozen launcher in ``launcher``), extracted, and 1.0.1 (a changed app) published."""
    project = copy_project(project, base / "project")
    server = serve_project(project, base)
    try:
        cd, report = build_served(project, base, launcher)
        publish_release(project, cd, base, "1.0.1")
        yield Served(project, server.url, cd, report, "1.0.1")
    finally:
        server.stop()
