"""Key images for the slow tests: built with real PyInstaller and Debian's Firefox, each
once per test session (tests/conftest.py's fixtures), extracted with xorriso."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Built(project, out, out / "cdrom.iso", out / "data.img", proc.stdout, proc.stderr)


def extract(iso: Path, dest: Path) -> Path:
    """Extract an ISO with xorriso (an independent reader), Rock Ridge names and modes."""
    proc = subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # xorriso restores the read-only modes of the medium; the tests flip bytes in place.
    for directory, _dirs, _files in os.walk(dest):
        Path(directory).chmod(0o755)
    return dest


def standin_distribution(lib: Path, name: str, files: dict[str, bytes]) -> None:
    """A Python distribution laid out in a stand-in ``lib/<platform>``: its files, and the
    .dist-info the build's SBOM reads (METADATA, RECORD, a licence text)."""
    info = lib / f"{name}-1.0.dist-info"
    (info / "licenses").mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\n")
    (info / "licenses" / "LICENSE").write_text("stand-in licence\n")
    for rel, data in files.items():
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_bytes(data)
    record = [*files, f"{info.name}/METADATA", f"{info.name}/licenses/LICENSE"]
    (info / "RECORD").write_text("".join(f"{r},,\n" for r in record))


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
            assert self.process.stdout is not None
            for raw in self.process.stdout:
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
            raise AssertionError("esecure serve did not start:\n" + self.log.read_text()[-3000:])
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


@contextlib.contextmanager
def served_image(project: Path, launcher: Path, base: Path) -> Iterator[Served]:
    """``project`` (copied, with update keys) served by `esecure serve`, built into an
    image whose [urls] name that server and whose Firefox tests may drive ([firefox]
    automation) (reusing the frozen launcher in ``launcher``: no
    second PyInstaller run), extracted, and 1.0.1 (a changed app) published."""
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import init_keys, publish  # noqa: PLC0415

    project = copy_project(project, base / "project")
    init_keys(load_project(project), say=lambda _m: None)
    server = ServeProcess(project, base / "serve.log")
    try:
        toml = project / "esecure.toml"
        text = toml.read_text().replace("https://127.0.0.1:8443/", server.url)
        text = text.replace(
            'host_policies = "warn"\n', 'host_policies = "warn"\nautomation = true\n'
        )
        assert "automation = true" in text  # Firefox may be driven over WebDriver BiDi
        toml.write_text(text)
        built = run_build(project, base / "out", base, args=("--launcher-dir", f"linux={launcher}"))
        assert "warning: [firefox] automation = true" in built.stderr  # the engineer is told
        cd = extract(built.cdrom, base / "cd")
        report = base / "build-report.json"
        shutil.copyfile(built.out / "build-report.json", report)
        shutil.rmtree(built.out)  # ~0.5 GB
        bundle = release_root(cd, base / "bundle-1.0.1", "1.0.1")
        publish(load_project(project), "1.0.1", bundle, say=lambda _m: None)
        shutil.rmtree(bundle)
        yield Served(project, server.url, cd, report, "1.0.1")
    finally:
        server.stop()
