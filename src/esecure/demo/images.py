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
import tempfile
import threading
from collections.abc import Callable, Iterator
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
    echo: Callable[[str], None] | None = None,
) -> Built:
    """`esecure build` in a child process (its own cwd, TMPDIR, umask and time zone); its
    progress lines handed to ``echo`` as they come, if given."""
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
    argv = [sys.executable, "-c", code, "build", str(project), "--out", str(out), *args]
    if echo is None:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd=cwd,
            env=env,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    else:
        returncode, stdout, stderr = _streamed(argv, cwd, env, echo)
    check(returncode == 0, "esecure build failed:\n" + stderr[-3000:])
    return Built(project, out, out / "cdrom.iso", out / "data.img", stdout, stderr)


def _streamed(
    argv: list[str], cwd: Path, env: dict[str, str], echo: Callable[[str], None]
) -> tuple[int, str, str]:
    """Run ``argv``, each line of its stderr (its progress) handed to ``echo`` as it comes;
    (exit code, stdout, stderr). Bounded by BUILD_TIMEOUT; killed on any exception."""
    with tempfile.TemporaryFile() as sink:
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=sink, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
        timer = threading.Timer(BUILD_TIMEOUT, process.kill)
        timer.start()
        lines: list[str] = []
        try:
            for raw in process.stderr or ():
                line = raw.decode("utf-8", "replace").rstrip()
                lines.append(line)
                echo(line)
            returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()
        sink.seek(0)
        stdout = sink.read().decode("utf-8", "replace")
    return returncode, stdout, "\n".join(lines) + "\n"


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


def build_served(
    project: Path,
    base: Path,
    launcher: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> tuple[Path, Path]:
    """Build ``project`` (the frozen launcher of the CD tree ``launcher`` reused: no second
    PyInstaller run) and extract it: (the CD-ROM tree, a copy of build-report.json)."""
    args = () if launcher is None else ("--launcher-dir", f"linux={launcher}")
    built = run_build(project, base / "out", base, args=args, echo=echo)
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
