"""End to end, headless: the key as a user meets it, from the image to the bank's site.

The session's served image (tests/conftest.py ``served``: the demo image rebuilt against a
running `esecure serve` on 127.0.0.1, 1.0.1 published) is the CD-ROM tree; the data area
is the FAT image `esecure personalize --data-images` made for one serial, copied out with
mtools; the customer, the key's binding and the activation code come from `esecure admin`.
The frozen bootstrap `e-secure` of the CD tree runs as a user would start it, with
``--no-gui`` and its answers on the command line; ESECURE_FIREFOX_ARGS makes its Firefox
headless with a WebDriver BiDi port, through which the test looks at what Firefox shows.

First start: the update to 1.0.1 is applied, the key restarts into it, enrols, and Firefox
shows the portal's login page; "Access with certificate" leads to the keypad, which the
portal shows only to a matching certificate. Second start: nothing to update, the
certificate valid: straight to the site. The CD tree is byte-identical afterwards, with
no new file (CI runs as root: a read-only mode would prove nothing).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from esecure.cli import cli
from tests.firefox_bidi import Browser
from tests.images import Served

pytestmark = pytest.mark.slow

IDENTIFIER = "alice.martin"
SITE_TIMEOUT = 240.0  # update, restart, enrolment and Firefox's start, on a loaded machine
EXIT_TIMEOUT = 60.0
# What the terminal says (the demo project speaks French first).
UPDATE_OFFERED = "Mise à jour disponible : version "
ENROLLING = "Téléchargement et installation du certificat"


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


def _cli(*args: str) -> str:
    result = CliRunner().invoke(cli, ["--lang", "en", *args])
    assert result.exit_code == 0, result.output
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


@pytest.fixture(scope="module")
def key(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Key]:
    """One personalised key for the served image, its customer registered by `esecure
    admin` with a fresh activation code."""
    base = tmp_path_factory.mktemp("e2e")
    image_dir = base / "image"
    image_dir.mkdir()
    (image_dir / "build-report.json").write_bytes(served.build_report.read_bytes())
    out = base / "personalized"
    project = str(served.project)
    _cli("personalize", project, "--out", str(out), "--count", "1", "--data-images",
         "--image-dir", str(image_dir))  # fmt: skip
    (registry,) = sorted((out / "registry").glob("*.csv"))
    (image,) = sorted(out.glob("data-*.img"))
    serial = image.name.removeprefix("data-").removesuffix(".img")
    data = base / "data"  # the FAT volume's files, as the mounted key shows them
    data.mkdir()
    subprocess.run(
        ["mcopy", "-s", "-n", "-i", str(image), "::/*", str(data)],
        check=True,
        timeout=60,
        env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
    )
    image.unlink()  # the data partition's size
    assert json.loads((data / "identity.json").read_text())["serial"] == serial
    _cli("admin", "--project", project, "add-user", IDENTIFIER)
    _cli("admin", "--project", project, "import-keys", str(registry))
    _cli("admin", "--project", project, "assign", serial, IDENTIFIER)
    letter = _cli("admin", "--project", project, "issue-code", IDENTIFIER)
    code = next(
        line.split(":", 1)[1].strip()
        for line in letter.splitlines()
        if line.startswith("Activation code:")
    )
    runtime = Path(tempfile.mkdtemp(prefix="e2e-", dir="/tmp"))  # short: a Unix socket's path
    yield Key(served, served.cd, data, serial, code, base / "home", runtime)
    subprocess.run(["rm", "-rf", str(runtime)], check=False, timeout=60)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Launcher:
    """The frozen bootstrap of the CD tree, started as a user would, output collected."""

    def __init__(self, key: Key, *args: str) -> None:
        self.port = _free_port()
        key.home.mkdir(exist_ok=True)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(key.home),
            "LANG": "C.UTF-8",
            "ESECURE_DATA_DIR": str(key.data),
            "XDG_RUNTIME_DIR": str(key.runtime),
            "XDG_CACHE_HOME": str(key.home / "cache"),
            "MOZ_HEADLESS": "1",
            "MOZ_CRASHREPORTER_DISABLE": "1",
            "ESECURE_FIREFOX_ARGS": f"--headless --remote-debugging-port={self.port}",
        }
        self.lines: collections.deque[str] = collections.deque(maxlen=400)
        self.process = subprocess.Popen(
            [str(key.cd / "e-secure"), "--no-gui", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def firefox(self) -> Browser:
        """A BiDi session on the launcher's Firefox, once its port answers (bounded)."""
        deadline = time.monotonic() + SITE_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the launcher ended:\n{self.output}"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                time.sleep(0.25)
                continue
            return Browser.attach(f"ws://127.0.0.1:{self.port}", tail=lambda: self.output)
        raise AssertionError(f"no Firefox within {SITE_TIMEOUT:.0f} s:\n{self.output}")

    def wait(self) -> int:
        """The launcher's exit code once the session ended (Firefox closed)."""
        try:
            code = self.process.wait(timeout=EXIT_TIMEOUT)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, 9)
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
                os.killpg(with_group, 15)
                self.process.wait(timeout=EXIT_TIMEOUT)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(with_group, 9)


def _on_the_site(browser: Browser, key: Key) -> str:
    """Firefox shows the portal's login page; "Access with certificate" with the
    identifier reaches the page the portal shows only to a matching certificate."""
    browser.wait_until("document.body && document.body.dataset.page === 'login'")
    assert browser.url.startswith(key.served.url), browser.url
    browser.type("#identifier", IDENTIFIER)
    with browser.expect_load():
        browser.click("#login-submit")
    page = browser.attribute("body", "data-page")
    return str(page)


def _run(key: Key, *args: str) -> tuple[str, str, int]:
    """Start the key; on the site, log in with the certificate, close Firefox; (the page
    after login, the launcher's output, its exit code)."""
    launcher = Launcher(key, *args)
    try:
        browser = launcher.firefox()
        try:
            page = _on_the_site(browser, key)
        finally:
            browser.close()  # the user closes Firefox: the session ends
        code = launcher.wait()
    finally:
        launcher.stop()
    return page, launcher.output, code


def _version(key: Key) -> str:
    """What `e-secure --version` says about the release the bootstrap picks."""
    got = subprocess.run(
        [str(key.cd / "e-secure"), "--version"],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(key.home), "ESECURE_DATA_DIR": str(key.data)},
    )
    return got.stdout.strip()


@pytest.fixture(scope="module")
def cd_before(key: Key) -> dict[str, str]:
    return tree_digest(key.cd)


def test_first_start_updates_restarts_enrols_and_opens_the_site(key, cd_before):
    """Update to 1.0.1, restart into it, enrol, and the portal accepts the certificate."""
    page, output, code = _run(
        key, "--identifier", IDENTIFIER, "--activation-code", key.code, "--update", "now"
    )
    assert page == "code", output  # the keypad: the certificate matched the identifier
    assert code == 0, output
    assert UPDATE_OFFERED in output, output
    assert ENROLLING in output, output
    assert output.count("[  2%]") == 2, output  # started again after the update
    version = _version(key)
    assert version.endswith(f"(version {key.served.update} from the data area)"), version
    assert (key.data / "pki" / "credential.pem").is_file()
    log = (key.data / "logs" / "e-secure.log").read_text()
    assert key.code not in log and key.code not in output
    assert tree_digest(key.cd) == cd_before


def test_second_start_goes_straight_to_the_site(key, cd_before):
    """Nothing to update, a valid certificate: no enrolment, no update, the site."""
    record = (key.data / "pki" / "certificate.json").read_bytes()
    page, output, code = _run(key)
    assert page == "code", output
    assert code == 0, output
    assert UPDATE_OFFERED not in output, output
    assert ENROLLING not in output, output
    assert output.count("[  2%]") == 1, output  # no restart
    assert _version(key).endswith(f"(version {key.served.update} from the data area)")
    assert (key.data / "pki" / "certificate.json").read_bytes() == record  # no new enrolment
    assert tree_digest(key.cd) == cd_before
