"""`esecure demo`: the whole life of a key on 127.0.0.1, each step timed and checked.

:func:`prepare` makes the bank's side: a demo key project (kept in the work directory),
its TUF keys and CA, `esecure serve` (EST, portal, repository; SQLite), the key image
built against that server and extracted, 1.0.0 then 1.1.0 published. :func:`key_life`
is the key's: personalised for the demo customer, "inserted" (the CD-ROM's files
read-only, the data partition's files as its data area), the launcher started: it updates
to 1.1.0 and starts again into it, enrols with the demo identifier and activation code,
prepares the profile and starts Firefox, where the first-connection journey is driven to
the client area over WebDriver BiDi (or left to the user: ``interactive``). Each outcome
is then checked on both sides: the release served and installed, the certificate issued
for the key's serial and present in Firefox's NSS database, the login recorded by the
portal.

Every process started is stopped when a step fails or on Ctrl-C (an :class:`ExitStack`
holds them). The end-to-end test runs :func:`key_life` on the test session's served image.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from esecure.demo import DemoError, check
from esecure.demo.bidi import BidiError, Browser
from esecure.demo.images import (
    Served,
    ServeProcess,
    build_served,
    publish_release,
    serve_project,
)
from esecure.demo.journey import Tour, first_connection
from esecure.demo.key import (
    DISPLAY_VARIABLES,
    EXIT_TIMEOUT,
    IDENTIFIER,
    Key,
    Launcher,
    admin_cli,
    personalised_key,
    tree_digest,
)

__all__ = [
    "ENROLLING",
    "FIRST_STEP",
    "MARKER",
    "PERSONAL_CODE",
    "RELEASES",
    "UPDATE_OFFERED",
    "Life",
    "Options",
    "Progress",
    "Step",
    "key_life",
    "key_version",
    "nss_certificate",
    "prepare",
    "run_demo",
]

Say = Callable[[str], None]

MARKER = ".esecure-demo"  # a work directory the demo made (and may empty again)
RELEASES = ("1.0.0", "1.1.0")  # the image's own release, then the update the key finds
PERSONAL_CODE = "271828"  # the portal code the demo customer chooses
EMAIL, PHONE = "alice.martin@example.com", "01 23 45 67 89"
INTERACTIVE_TIMEOUT = 3600.0  # the user's own time in the portal
# What the launcher's terminal says (the demo project speaks French first).
UPDATE_OFFERED = "Mise à jour disponible : version "
ENROLLING = "Téléchargement et installation du certificat"
FIRST_STEP = "[  2%]"  # printed once per start of the launcher


@dataclass(frozen=True)
class Options:
    """How the demo runs: Firefox on ``display`` (DISPLAY and friends) or headless; the
    portal driven, or left to the user (``interactive``)."""

    display: dict[str, str] | None = None
    interactive: bool = False

    @classmethod
    def from_environment(cls, *, interactive: bool = False) -> Options:
        """Real windows when this session has a display, else headless."""
        display = {name: os.environ[name] for name in DISPLAY_VARIABLES if name in os.environ}
        return cls(display if "DISPLAY" in display or "WAYLAND_DISPLAY" in display else None,
                   interactive)  # fmt: skip


@dataclass
class Step:
    """One step of the demo: its name, time, and what it left to look at."""

    name: str
    seconds: float = 0.0
    artefacts: list[str] = field(default_factory=list)
    ok: bool = False


@dataclass
class Progress:
    """The steps so far, each announced on ``say`` when it starts and ends."""

    say: Say
    steps: list[Step] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Time a step; it is green only if its block ends without an exception."""
        current = Step(name)
        self.steps.append(current)
        self.say(f"[{len(self.steps):2d}] {name} …")
        start = time.monotonic()
        try:
            yield current
        finally:
            current.seconds = time.monotonic() - start
        current.ok = True
        self.say(f"     ok ({current.seconds:.1f} s)")
        for artefact in current.artefacts:
            self.say(f"     {artefact}")

    def summary(self) -> str:
        """The table of steps: status, time, name, artefacts."""
        lines = ["", "Summary of the demo:"]
        for n, done in enumerate(self.steps, start=1):
            mark = "ok  " if done.ok else "FAIL"
            lines.append(f"  {mark} {n:2d}. {done.name:<52} {done.seconds:7.1f} s")
            lines.extend(f"{'':12}{artefact}" for artefact in done.artefacts)
        total = sum(s.seconds for s in self.steps)
        lines.append(f"  total {total:.1f} s")
        return "\n".join(lines)


@dataclass(frozen=True)
class Life:
    """What the key's life showed, for the summary and the end-to-end test."""

    key: Key
    launcher_output: str
    exit_code: int
    page: str  # the portal page reached (area when driven)
    published: tuple[str, ...]  # the releases the server's repository offers
    version: str  # what `e-secure --version` says afterwards
    certificate_serial: str  # hex, issued by the EST service for the key's serial
    in_firefox: bool  # that certificate in the profile's NSS database
    registered_serial: str  # the certificate the portal recorded at the first connection
    logins: int  # portal logins audited for the identifier
    cd_unchanged: bool
    screenshots: list[Path]


def prepare_work(work: Path) -> None:
    """An empty work directory: a new one, or one a previous demo made (emptied)."""
    if work.exists() and any(work.iterdir()):
        if not (work / MARKER).is_file():
            raise DemoError(
                f"{work} is not empty and was not made by `esecure demo`: name another "
                "directory (esecure demo DIRECTORY) or empty it"
            )
        for path in work.iterdir():  # a CD tree left read-only: writable again first
            if path.is_dir() and not path.is_symlink():
                _modes(path, 0o755)
                shutil.rmtree(path)
            else:
                path.unlink()
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).write_text("made by `esecure demo`; emptied by its next run\n")


def prepare(work: Path, progress: Progress, stack: contextlib.ExitStack) -> Served:
    """The bank's side: project, keys, CA, server, image, the releases published."""
    from esecure.scaffold import InitOptions, init_project  # noqa: PLC0415

    project = work / "project"
    with progress.step("demo key project (esecure init --demo): CA, keys, users") as step:
        init_project(project, InitOptions(demo=True), passphrase=None, report=lambda _m: None)
        step.artefacts.append(f"project: {project}/esecure.toml")
    with progress.step("reference server (esecure serve): EST, portal, updates") as step:
        server: ServeProcess = serve_project(project, work)
        stack.callback(server.stop)
        step.artefacts += [
            f"listening on {server.url} (127.0.0.1 only)",
            f"registry: {project}/server/registry.db (SQLite); log: {server.log}",
            f"update keys: {project}/keys/tuf/ (TUF root v1)",
        ]
    with progress.step("build the key image (esecure build), extract the CD-ROM") as step:
        cd, report = build_served(project, work, echo=_build_progress(progress.say))
        step.artefacts += [f"CD-ROM tree: {cd}", f"build report: {report}"]
    for version in RELEASES:
        with progress.step(f"publish {version} (esecure publish)") as step:
            publish_release(project, cd, work, version)
            step.artefacts.append(f"repository: {project}/repository")
    return Served(project, server.url, cd, report, RELEASES[-1])


def _build_progress(say: Say) -> Callable[[str], None]:
    """The build's steps as they start and end ("  freeze the linux launcher …", then
    "  freeze the linux launcher: 13.1 s")."""
    finished = re.compile(r"^  \S.*(: \d+\.\d s| …)$")

    def echo(line: str) -> None:
        if finished.match(line):
            say(f"     build |{line}")

    return echo


def _modes(tree: Path, mode: int) -> None:
    """Every directory of ``tree`` to ``mode`` (its files stay as xorriso restored them)."""
    for directory, _dirs, _files in os.walk(tree):
        Path(directory).chmod(mode)


def _mail_code(project: Path) -> str:
    """The portal code the bank posts the customer (`esecure admin mail-code`)."""
    letter = admin_cli("admin", "--project", str(project), "mail-code", IDENTIFIER)
    return next(
        line.split(":", 1)[1].strip() for line in letter.splitlines() if "Secret code:" in line
    )


def _drive(browser: Browser, served: Served, mail: str, shots: Path) -> tuple[str, list[Path]]:
    """The first-connection journey in the launcher's Firefox: the client area reached."""
    tour = Tour(browser, served.url, shots)
    browser.wait_until("document.body && document.body.dataset.page === 'login'")
    check(browser.url.startswith(served.url), f"Firefox opened {browser.url}, not the portal")
    tour.shot("login")
    first_connection(tour, IDENTIFIER, mail, PERSONAL_CODE, email=EMAIL, phone=PHONE)
    tour.follow("#to-area", "area")
    return tour.page(), sorted(shots.glob("*.png"))


def nss_certificate(profile: Path, serial: int) -> bool:
    """Whether the profile's NSS database holds a certificate with ``serial``."""

    def certutil(*args: str) -> bytes:
        done = subprocess.run(
            ["certutil", "-d", f"sql:{profile}", *args],  # noqa: S607 - libnss3-tools
            capture_output=True,
            timeout=60,
            check=False,
        )
        check(done.returncode == 0, f"certutil cannot read {profile}: {done.stderr[-500:]!r}")
        return done.stdout

    table = certutil("-L").decode("utf-8", "replace").splitlines()
    nicknames = [
        line[: line.rstrip().rindex(" ")].strip()
        for line in table[4:]  # after the header: "nickname    trust attributes"
        if line.strip() and " " in line.strip()
    ]
    for nickname in nicknames:
        pem = certutil("-L", "-n", nickname, "-a")
        if any(c.serial_number == serial for c in x509.load_pem_x509_certificates(pem)):
            return True
    return False


def key_version(key: Key) -> str:
    """What `e-secure --version` says about the release the bootstrap picks."""
    got = subprocess.run(
        [str(key.cd / "e-secure"), "--version"],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(key.home), "ESECURE_DATA_DIR": str(key.data)},
    )
    return got.stdout.strip()


def _published(project: Path) -> tuple[str, ...]:
    """The releases in the project's signed repository (what `esecure serve` offers)."""
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.updater.publish import published_versions  # noqa: PLC0415

    return tuple(str(version) for version, _required in published_versions(load_project(project)))


def _server_side(served: Served, key: Key) -> tuple[str, str, int]:
    """(the certificate issued for the key's serial, the one the portal registered, the
    identifier's audited portal logins), from the server's registry."""
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.server.portal.store import PortalStore  # noqa: PLC0415
    from esecure.server.registry import Registry  # noqa: PLC0415
    from esecure.server.serve import default_db_url  # noqa: PLC0415

    registry = Registry.open(default_db_url(load_project(served.project)))
    try:
        issued = [c for c in registry.certificates() if c.key_serial == key.serial]
        user = PortalStore(registry).user(IDENTIFIER)
        logins = sum(
            1
            for _at, _endpoint, who, status, outcome in registry.audit_log()
            if who == IDENTIFIER and status == 200 and outcome == "certificate ok"
        )
    finally:
        registry.close()
    check(issued, f"the registry has no certificate for the key {key.serial}")
    registered = "" if user is None or user.cert_serial is None else str(user.cert_serial)
    return issued[-1].serial_number, registered, logins


def key_life(
    served: Served,
    work: Path,
    progress: Progress,
    stack: contextlib.ExitStack,
    options: Options,
) -> Life:
    """The key's side, from personalisation to the client area, then both sides checked."""
    with progress.step("personalise a key; the demo customer and letters") as step:
        base = work / "key"
        base.mkdir()
        key = personalised_key(served, base)
        stack.callback(shutil.rmtree, key.runtime, ignore_errors=True)
        mail = _mail_code(served.project)
        step.artefacts += [
            f"key serial {key.serial}; data area: {key.data}",
            f"customer {IDENTIFIER}: activation code {key.code}, portal mail code {mail}",
        ]
    with progress.step("insert the key: the CD-ROM read-only, the data area") as step:
        _modes(key.cd, 0o555)
        stack.callback(_modes, key.cd, 0o755)  # the key removed: the tree is ours again
        cd_before = tree_digest(key.cd)
        step.artefacts.append(f"{len(cd_before)} files and directories on the CD-ROM")
    shots = work / "screenshots"
    where = "on your display" if options.display else "headless"
    with progress.step(f"start the key: update, restart, enrol, Firefox ({where})") as step:
        answers = () if options.interactive else (
            "--identifier", IDENTIFIER, "--activation-code", key.code, "--update", "now"
        )  # fmt: skip
        launcher = Launcher(
            key,
            *answers,
            display=options.display,
            gui=options.interactive and options.display is not None,
            echo=lambda line: progress.say(f"     key | {line}"),
        )
        stack.callback(launcher.stop)
        if options.interactive:
            progress.say(
                f"     type identifier {IDENTIFIER} and activation code {key.code} when "
                f"asked; in the portal, the mail code {mail}; close Firefox to finish"
            )
        else:
            browser = launcher.firefox()
            stack.callback(browser.close)
        step.artefacts.append(f"launcher log: {key.data}/logs/e-secure.log")
    page = ""
    taken: list[Path] = []
    if options.interactive:
        with progress.step("the portal is yours: close Firefox to finish"):
            code = launcher.wait(INTERACTIVE_TIMEOUT)
    else:
        with progress.step("first connection in the portal, to the client area") as step:
            try:
                page, taken = _drive(browser, served, mail, shots)
            except BidiError as exc:
                raise DemoError(f"the portal journey failed: {exc}") from None
            step.artefacts.append(f"{len(taken)} screenshots in {shots}")
        with progress.step("close Firefox: the launcher ends"):
            browser.close()
            code = launcher.wait()
    output = launcher.output
    with progress.step("check both sides: update, certificate, login") as step:
        version = key_version(key)
        published = _published(served.project)
        issued, registered, logins = _server_side(served, key)
        in_firefox = nss_certificate(key.data / "profile", int(issued, 16))
        cd_unchanged = tree_digest(key.cd) == cd_before
        step.artefacts += [
            f"served: {', '.join(published)}; installed: {version}",
            f"certificate {issued} issued for {key.serial}; in Firefox's NSS db: {in_firefox}",
            f"portal: {logins} login(s) of {IDENTIFIER}, registered certificate {registered}",
            f"CD-ROM unchanged: {cd_unchanged}",
        ]
        life = Life(key, output, code, page, published, version, issued, in_firefox,
                    registered, logins, cd_unchanged, taken)  # fmt: skip
        _check_life(life, served, interactive=options.interactive)
    return life


def _check_life(life: Life, served: Served, *, interactive: bool) -> None:
    """Every outcome the demo shows, or the first one that is not there."""
    tail = "\n".join(life.launcher_output.splitlines()[-30:])
    check(life.exit_code == 0, f"the launcher ended with {life.exit_code}:\n{tail}")
    check(served.update in life.published, f"{served.update} is not in the repository")
    check(
        life.version.endswith(f"(version {served.update} from the data area)"),
        f"the key runs {life.version!r}, not {served.update} from the data area",
    )
    check(life.in_firefox, f"certificate {life.certificate_serial} not in Firefox's NSS db")
    check(life.cd_unchanged, "the CD-ROM's files changed")
    if interactive:
        return
    check(UPDATE_OFFERED + served.update in life.launcher_output, f"no update offered:\n{tail}")
    check(ENROLLING in life.launcher_output, f"no enrolment:\n{tail}")
    check(life.launcher_output.count(FIRST_STEP) == 2, f"no restart after the update:\n{tail}")
    check(life.page == "area", f"the journey ended on {life.page!r}, not the client area")
    check(
        life.registered_serial.lower() == life.certificate_serial.lower(),
        f"the portal registered {life.registered_serial!r}, not {life.certificate_serial}",
    )
    check(life.logins >= 1, f"the portal recorded no login of {IDENTIFIER}")


def run_demo(work: Path, options: Options, say: Say) -> tuple[Progress, Life]:
    """The whole demo in ``work``; every process it started is stopped on return, on a
    failure and on Ctrl-C (KeyboardInterrupt)."""
    progress = Progress(say)
    with contextlib.ExitStack() as stack:
        try:
            prepare_work(work)
            served = prepare(work, progress, stack)
            life = key_life(served, work, progress, stack, options)
        finally:
            say(progress.summary())
            say("stopping every process the demo started …")
    return progress, life
