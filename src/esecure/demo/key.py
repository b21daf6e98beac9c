"""The key of the demo and of the end-to-end test (and benchmarks/bench_start_to_site.py):
a personalised key for a served image, "inserted" (the CD-ROM's files as a mounted,
read-only medium shows them, the data partition's files as its data area), and the frozen
`e-secure` of its CD tree started as a user would, its Firefox reachable over WebDriver
BiDi (headless, or in real windows on a display)."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from esecure.demo import DemoError, check
from esecure.demo.bidi import Browser, spawn
from esecure.demo.images import Served

__all__ = [
    "EXIT_TIMEOUT",
    "IDENTIFIER",
    "Key",
    "Launcher",
    "admin_cli",
    "free_port",
    "key_env",
    "personalised_key",
    "tree_digest",
]

IDENTIFIER = "alice.martin"
SITE_TIMEOUT = 240.0  # update, restart, enrolment and Firefox's start, on a loaded machine
EXIT_TIMEOUT = 60.0


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and directory under ``root``: SHA-256 of a file, "dir" or a link's target."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[rel] = "link:" + str(path.readlink())
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def admin_cli(*args: str) -> str:
    """`esecure ARGS` in this process, as the bank's operator types it: its output."""
    from esecure.cli import cli  # noqa: PLC0415 - the CLI imports this package lazily

    result = CliRunner().invoke(cli, ["--lang", "en", *args])
    check(result.exit_code == 0, f"esecure {' '.join(args[:2])} failed:\n{result.output}")
    return result.output


@dataclass(frozen=True)
class Key:
    """The key: its CD tree, data area, serial, customer and the environment it runs in."""

    served: Served
    cd: Path
    data: Path
    serial: str
    code: str
    home: Path
    runtime: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


DISPLAY_VARIABLES = ("DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY")


def key_env(key: Key, port: int, display: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a start: a private HOME and runtime directory, the data area,
    Firefox with its WebDriver BiDi port (ESECURE_FIREFOX_ARGS); headless unless
    ``display`` (DISPLAY and its friends) is given."""
    key.home.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(key.home),
        "LANG": "C.UTF-8",
        "ESECURE_DATA_DIR": str(key.data),
        "XDG_RUNTIME_DIR": str(key.runtime),
        "XDG_CACHE_HOME": str(key.home / "cache"),
        "MOZ_CRASHREPORTER_DISABLE": "1",
    }
    if display:
        return {**env, **display, "ESECURE_FIREFOX_ARGS": f"--remote-debugging-port={port}"}
    return {
        **env,
        "MOZ_HEADLESS": "1",
        "ESECURE_FIREFOX_ARGS": f"--headless --remote-debugging-port={port}",
    }


class Launcher:
    """The frozen bootstrap of the CD tree, started as a user would (``--no-gui`` unless
    ``gui``, and ``args``), output collected (and each line given to ``echo``);
    ``program(port)``: another command line in its place (the benchmark's Firefox alone);
    ``display``: Firefox (and the windows) on that display instead of headless."""

    def __init__(
        self,
        key: Key,
        *args: str,
        program: Callable[[int], list[str]] | None = None,
        display: dict[str, str] | None = None,
        gui: bool = False,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.port = free_port()
        self._echo = echo
        env = key_env(key, self.port, display)
        own = [str(key.cd / "e-secure"), *(() if gui else ("--no-gui",)), *args]
        argv = own if program is None else program(self.port)
        self.lines: collections.deque[str] = collections.deque(maxlen=400)
        self.process, self._reader = spawn(argv, env, self._line, merge=True)

    def _line(self, line: str) -> None:
        self.lines.append(line)
        if self._echo is not None:
            self._echo(line)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def firefox(self) -> Browser:
        """A BiDi session on the launcher's Firefox, once its port answers (bounded)."""
        deadline = time.monotonic() + SITE_TIMEOUT
        while time.monotonic() < deadline:
            check(self.process.poll() is None, f"the launcher ended:\n{self.output}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.25)
                continue
            return Browser.attach(f"ws://127.0.0.1:{self.port}", tail=lambda: self.output)
        raise DemoError(f"no Firefox within {SITE_TIMEOUT:.0f} s:\n{self.output}")

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        """The launcher's exit code once the session ended (Firefox closed)."""
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=EXIT_TIMEOUT)
            self._reader.join(timeout=EXIT_TIMEOUT)
            if self.process.stdout is not None:
                self.process.stdout.close()
        return code

    def stop(self) -> None:
        """End whatever is left (after a failure): the launcher's whole process group."""
        if self.process.poll() is None:
            with_group = self.process.pid
            try:
                os.killpg(with_group, signal.SIGTERM)  # the launcher closes its Firefox
                self.process.wait(timeout=EXIT_TIMEOUT)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(with_group, signal.SIGKILL)


def personalised_key(served: Served, base: Path) -> Key:
    """One key for the served image in ``base``: its data area made by `esecure personalize
    --data-images` (the FAT image's files copied out with mtools), its customer registered
    by `esecure admin` with a fresh activation code."""
    image_dir = base / "image"
    image_dir.mkdir()
    (image_dir / "build-report.json").write_bytes(served.build_report.read_bytes())
    out = base / "personalized"
    project = str(served.project)
    admin_cli("personalize", project, "--out", str(out), "--count", "1", "--data-images",
         "--image-dir", str(image_dir))  # fmt: skip
    (registry,) = sorted((out / "registry").glob("*.csv"))
    (image,) = sorted(out.glob("data-*.img"))
    serial = image.name.removeprefix("data-").removesuffix(".img")
    data = base / "data"  # the FAT volume's files, as the mounted key shows them
    data.mkdir()
    subprocess.run(
        ["mcopy", "-s", "-n", "-i", str(image), "::/*", str(data)],  # noqa: S607 - mtools
        check=True,
        timeout=60,
        env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
    )
    image.unlink()  # the data partition's size
    check(
        json.loads((data / "identity.json").read_text())["serial"] == serial,
        f"{data / 'identity.json'} does not name the serial {serial}",
    )
    admin_cli("admin", "--project", project, "add-user", IDENTIFIER)
    admin_cli("admin", "--project", project, "import-keys", str(registry))
    admin_cli("admin", "--project", project, "assign", serial, IDENTIFIER)
    letter = admin_cli("admin", "--project", project, "issue-code", IDENTIFIER)
    code = next(
        line.split(":", 1)[1].strip()
        for line in letter.splitlines()
        if line.startswith("Activation code:")
    )
    runtime = Path(tempfile.mkdtemp(prefix="e2e-", dir="/tmp"))  # short: a Unix socket's path
    return Key(served, served.cd, data, serial, code, base / "home", runtime)
