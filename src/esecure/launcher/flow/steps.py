"""The flow's real adapters (:class:`KeySteps`): each command effect done on this key.

Thin by design: every decision is somebody else's pure function (the machine's, the
self-check's, the update step's, the enrolment client's, the lock's verdict, the profile
merge plan, the on-key browser rules); this module reads the key, calls them, and turns
each outcome into the event the machine takes. Heavy packages (cryptography, tuf) are
imported by the step that needs them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esecure._fs import atomic_write
from esecure.errors import (
    EnrolmentError,
    EsecureError,
    NetworkError,
    OperationError,
    SessionError,
    StorageError,
    UpdateSecurityError,
)
from esecure.launcher.flow import machine as m
from esecure.launcher.flow.presenter import Enrolment, Step, UpdateOffer
from esecure.launcher.flow.session import Session
from esecure.launcher.host import Host
from esecure.launcher.host.windowing import ender_for, raiser_for
from esecure.launcher.identity import read_serial
from esecure.launcher.instance import RAISE, Acquired, SessionLock
from esecure_onkey.boot import Choice
from esecure_onkey.layout import IMAGE_KEY

if TYPE_CHECKING:
    from cryptography import x509

    from esecure.launcher.enrol import EstSettings
    from esecure.launcher.update_step import Checked

__all__ = [
    "BACKGROUND_DELAY",
    "RESTARTS_ENV",
    "STATE_FILE",
    "FlowOptions",
    "KeySteps",
    "restarts_from_env",
]

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
CERTIFICATE_RECORD = "certificate.json"  # in pki/: the stored certificate's serial and end
CREDENTIAL_FILE = "pki/credential.pem"  # keystore.KeyStore's
RESTARTS_ENV = "ESECURE_RESTARTS"  # restarts into a new release made in this session
BACKGROUND_DELAY = 30.0
"""Seconds after Firefox starts before the full check of the CD-ROM begins: Firefox reads
its own ~100 MB from the key first, and the check must not slow that down over USB 2."""
_DATA_DIRS = ("pki", "logs", "reports")
_REFUSALS = frozenset({"ES202", "ES203", "ES204", "ES205", "ES206", "ES207"})


def restarts_from_env(environ: Mapping[str, str] | None = None) -> int:
    """How many restarts into a new release this session already made."""
    value = (os.environ if environ is None else environ).get(RESTARTS_ENV, "0")
    return int(value) if value.isdigit() else 0


def _execve(path: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
    os.execve(path, list(argv), dict(env))  # noqa: S606 - our own bootstrap, our arguments


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class FlowOptions:
    """How this start runs: what tests and automation change."""

    firefox_args: tuple[str, ...] = ()  # before -no-remote (e.g. --headless)
    firefox_env: Mapping[str, str] | None = None  # None: the launcher's own environment
    scratch: Path | None = None  # Firefox's shadow directory's parent (default: host cache)
    background_delay: float = BACKGROUND_DELAY
    firefox_output: Path | None = None  # where Firefox's stdout/stderr go (default: nowhere)
    restart_argv: Sequence[str] | None = None  # default: update_step.restart_argv()
    execv: Callable[[str, Sequence[str], Mapping[str, str]], None] = field(default=_execve)
    diagnostics: Callable[[], None] | None = None  # the tray's "diagnostics"
    report: Callable[[EsecureError], Path | None] | None = None  # a support report's maker
    clock: Callable[[], dt.datetime] = field(default=_now)
    secret: Callable[[str], None] | None = None  # told each activation code (log redaction)


@dataclass(frozen=True)
class Recorded:
    """The stored certificate as its record says: serial (hex) and end."""

    serial: str
    not_after: dt.datetime


class _UpdateBridge:
    """The update step's UI, on the presenter's callbacks."""

    def __init__(
        self,
        notify: Callable[[EsecureError], None],
        progress: Callable[[Step, float, str], None],
    ) -> None:
        self._notify = notify
        self._progress = progress

    def notice(self, error: EsecureError) -> None:
        self._notify(error)

    def security_alert(self, error: UpdateSecurityError) -> None:
        self._notify(error)

    def offer(self, version: str, size: int, seconds: tuple[float, float], *, later: bool) -> bool:  # noqa: ARG002
        raise AssertionError(
            f"{version}: the flow asks through its AskUpdate effect"
        )  # pragma: no cover

    def progress(self, phase: str, done: int, total: int) -> None:
        share = done / total if total > 0 else 0.0
        base, span = (0.2, 0.1) if phase == "download" else (0.3, 0.1)
        self._progress("updates", base + span * min(share, 1.0), f"{phase}: {done}/{total}")


class KeySteps:
    """:class:`esecure.launcher.flow.runner.Steps` on a real key and host."""

    def __init__(
        self,
        choice: Choice,
        product: Mapping[str, Any],
        host: Host,
        *,
        boot: Choice | None = None,
        notify: Callable[[EsecureError], None],
        progress: Callable[[Step, float, str], None],
        options: FlowOptions | None = None,
    ) -> None:
        self.choice = choice
        self.product = product
        self.host = host
        self.boot = boot  # the real bootstrap's choice (None: run without one)
        self.options = options or FlowOptions()
        self._notify = notify
        self._bridge = _UpdateBridge(notify, progress)
        self._lock: SessionLock | None = None
        self._checked: Checked | None = None
        self._session: Session | None = None
        self._stop = threading.Event()

    # --- places ---------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        """The data area (ES106 when there is none)."""
        if self.choice.data_dir is None:
            raise StorageError(
                f"the key has no usable data area ({self.choice.data_reason or 'none found'})",
                code="ES106",
            )
        return self.choice.data_dir

    @property
    def profile(self) -> Path:
        """The live Firefox profile."""
        return self.data_dir / "profile"

    def _url(self, name: str) -> str:
        urls = self.product.get("urls")
        value = urls.get(name) if isinstance(urls, dict) else None
        return value if isinstance(value, str) else ""

    def _settings(self) -> EstSettings:
        from esecure.launcher.enrol import EstSettings  # noqa: PLC0415 - cryptography

        certs = self.product.get("certificates")
        certs = certs if isinstance(certs, dict) else {}
        return EstSettings(
            base_url=self._url("enrolment"),
            ca_file=self.choice.component("trust") / "ca.pem",
            key_algorithm=str(certs.get("key_algorithm", "ec-p256")),
            renew_before_days=int(certs.get("renew_before_days", 30)),
            proxy=self._proxy(),
        )

    def _proxy(self) -> str:
        """The key's ``[network] proxy`` as the launcher's connections follow it."""
        from esecure.launcher.diagnostics.proxy import configured_proxy  # noqa: PLC0415

        return configured_proxy(self.product)

    # --- the steps ------------------------------------------------------------------------
    def self_check(self) -> m.SelfChecked | m.Failed:
        """The CD-ROM's signature and sizes (no hashing: docs/threat-model.md T13); the
        release running from the data area was checked by the bootstrap at this start,
        in this process. Then the host's Firefox policies (ES105: warn or refuse)."""
        from esecure.launcher.selfcheck import (  # noqa: PLC0415
            host_policy_weakenings,
            self_check,
        )

        self_check(self.choice.cd, platform=self.choice.platform, depth="sizes")
        found = host_policy_weakenings(self.choice.component("firefox"), self.choice.platform)
        if found:
            listing = "; ".join(w.render() for w in found)
            error = OperationError(f"host Firefox policies: {listing}", code="ES105")
            firefox = self.product.get("firefox")
            if isinstance(firefox, dict) and firefox.get("host_policies") == "refuse":
                return m.Failed(error)
            self._notify(error)
        return m.SelfChecked()

    def _answer(self, request: bytes) -> bytes:
        """A second start's signal (from the listener's thread)."""
        if request.strip() != RAISE:
            return b"unknown"
        session = self._session
        if session is None:
            return b"starting"
        session.open_site()
        return b"running"

    def take_lock(self) -> m.LockTaken | m.LockHeld | m.Failed:
        """The single-instance lock in the data area (else the host's runtime directory)."""
        directory = self.choice.data_dir or self.host.runtime_dir()
        name = "s-" + hashlib.sha256(str(directory).encode()).hexdigest()[:16]
        lock = SessionLock(directory, self.host, name=name)
        got = lock.acquire(self.options.clock().isoformat(timespec="seconds"), self._answer)
        if isinstance(got, Acquired):
            self._lock = lock
            if got.took_over:
                log.info("took over a stale session lock: %s", got.took_over)
            return m.LockTaken(got.enforced, got.took_over)
        if got.answer in (b"running", b"starting"):
            return m.LockHeld(starting=got.answer == b"starting")
        who = (
            f"process {got.record.pid}, started {got.record.started}"
            if got.record is not None
            else "a process that left no record"
        )
        return m.Failed(
            SessionError(
                f"another e-secure session ({who}) holds this key and does not answer",
                code="ES401",
            )
        )

    def prepare_data_area(self) -> m.DataAreaReady | m.Failed:
        """First use: the data area's folders and state file (guide step 2)."""
        data = self.data_dir
        state = data / STATE_FILE
        first = not state.is_file()
        try:
            for name in _DATA_DIRS:
                (data / name).mkdir(parents=True, exist_ok=True)
            if first:
                doc = {"format": 1, "initialised": self.options.clock().isoformat()}
                atomic_write(state, (json.dumps(doc) + "\n").encode())
        except OSError as exc:
            raise StorageError(
                f"cannot prepare the data area {data}: {exc.strerror or exc}", code="ES106"
            ) from None
        return m.DataAreaReady(first_use=first)

    def check_updates(
        self,
    ) -> m.NoUpdate | m.UpdateOffline | m.UpdateRefused | m.UpdateOffered | m.Failed:
        """The signed update check; ES521 (offline too long) raises and ends the flow."""
        from esecure.launcher.update_step import Policy, check_updates, estimate  # noqa: PLC0415

        root = self.choice.component("trust") / "root.json"
        url = self._url("updates")
        if not url or not root.is_file():
            log.warning("updates are off: no update URL or no trust/root.json on this key")
            return m.NoUpdate()
        limits = self.product.get("updates")
        limits = limits if isinstance(limits, dict) else {}
        checked = check_updates(
            data_dir=self.data_dir,
            repository_url=url,
            app=str(self.product.get("id", "")),
            current_version=self.choice.version or str(self.product.get("version", "")),
            boot=self.choice,
            initial_root=root,
            image_key=self.choice.cd / IMAGE_KEY,
            ui=self._bridge,
            cd=self.choice.cd,
            policy=Policy(
                check_timeout_seconds=float(limits.get("check_timeout_seconds", 10)),
                max_offline_days=int(limits.get("max_offline_days", 30)),
            ),
            clock=self.options.clock,
            ca_file=self.choice.component("trust") / "ca.pem",
            proxy=self._proxy(),
        )
        if checked.offer is not None:
            self._checked = checked
            offer = checked.offer
            seconds = estimate(offer.download_size, offer.install_size)
            return m.UpdateOffered(
                UpdateOffer(offer.version, offer.download_size, seconds, offer.required)
            )
        if checked.error is None:
            return m.NoUpdate()
        if checked.outcome == "security-alert":
            return m.UpdateRefused(checked.error)
        return m.UpdateOffline(checked.error)

    def apply_update(self, offer: UpdateOffer) -> m.UpdateApplied | m.UpdateNotApplied:
        """Download, verify, write into the store, switch the pointer."""
        from esecure.launcher.update_step import apply_update  # noqa: PLC0415

        checked = self._checked
        assert checked is not None and checked.offer is not None  # noqa: S101
        assert checked.offer.version == offer.version  # noqa: S101
        _, error = apply_update(
            checked, self._bridge, data_dir=self.data_dir, clock=self.options.clock
        )
        return m.UpdateApplied() if error is None else m.UpdateNotApplied(error)

    def restart(self) -> m.Failed | None:
        """Release the key and become the bootstrap again, which starts the new release
        (no re-insert). Returns only when the OS refused."""
        from esecure.launcher.update_step import restart_argv  # noqa: PLC0415

        argv = list(self.options.restart_argv or restart_argv())
        env = dict(os.environ)
        env[RESTARTS_ENV] = str(restarts_from_env() + 1)
        self.close()
        try:
            self.options.execv(argv[0], argv, env)
        except OSError as exc:
            return m.Failed(
                OperationError(f"cannot start {argv[0]}: {exc.strerror or exc}", code="ES526")
            )
        return None

    # --- the certificate: a small record spares every start the cryptography import ----
    @property
    def _record_path(self) -> Path:
        return self.data_dir / "pki" / CERTIFICATE_RECORD

    def _renew_before_days(self) -> int:
        certs = self.product.get("certificates")
        return int(certs.get("renew_before_days", 30)) if isinstance(certs, dict) else 30

    def _remember(self, certificate: x509.Certificate) -> Recorded:
        """Record the stored certificate's serial and end, bound to the credential file's
        bytes (a record that does not match them is ignored)."""
        recorded = Recorded(f"{certificate.serial_number:x}", certificate.not_valid_after_utc)
        doc = {
            "format": 1,
            "serial": recorded.serial,
            "not_after": recorded.not_after.isoformat(),
            "credential_sha256": self._credential_digest(),
        }
        try:
            atomic_write(self._record_path, (json.dumps(doc) + "\n").encode())
        except OSError as exc:
            log.warning("could not record the certificate's end: %s", exc)
        return recorded

    def _credential_digest(self) -> str | None:
        """SHA-256 of keystore.KeyStore's credential file (read without cryptography)."""
        try:
            return hashlib.sha256((self.data_dir / CREDENTIAL_FILE).read_bytes()).hexdigest()
        except OSError:
            return None

    def _recorded(self) -> Recorded | None:
        """The certificate's record, when it matches the credential file; else None."""
        try:
            doc = json.loads(self._record_path.read_bytes())
            recorded = Recorded(str(doc["serial"]), dt.datetime.fromisoformat(doc["not_after"]))
            digest = doc["credential_sha256"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if digest is None or digest != self._credential_digest():
            return None
        return recorded if recorded.not_after.tzinfo is not None else None

    def _load_recorded(self) -> Recorded | None:
        """The record, else the credential read once (cryptography) and recorded."""
        recorded = self._recorded()
        if recorded is not None:
            return recorded
        from esecure.launcher.keystore import KeyStore  # noqa: PLC0415 - cryptography

        current = KeyStore(self.data_dir).load()
        return None if current is None else self._remember(current.certificate)

    def check_certificate(self) -> m.CertificateStatus | m.Failed:
        """valid, due for renewal, or missing/expired (ES209/ES210 raise). Everyday starts
        read the small record only (the credential is decrypted when something is done)."""
        serial = read_serial(self.data_dir)
        recorded = self._load_recorded()
        now = self.options.clock()
        if recorded is None or recorded.not_after <= now:
            return m.CertificateStatus("missing", serial)
        due = recorded.not_after - now <= dt.timedelta(days=self._renew_before_days())
        return m.CertificateStatus("renew" if due else "valid", serial)

    def renew(self) -> m.Renewed | m.RenewalPostponed | m.Failed:
        """Silent renewal; a network failure while the certificate is valid postpones it."""
        from esecure.launcher.enrol import renew  # noqa: PLC0415

        try:
            credential = renew(self.data_dir, self._settings())
        except NetworkError as exc:
            log.warning("renewal postponed: %s", exc.code)
            return m.RenewalPostponed(exc)
        self._remember(credential.certificate)
        return m.Renewed()

    def enrol(self, enrolment: Enrolment) -> m.Enrolled | m.EnrolmentRefused | m.Failed:
        """First enrolment; a refusal the user may answer (ES202-ES207) asks again."""
        from esecure.launcher.enrol import enrol  # noqa: PLC0415

        if self.options.secret is not None:  # typed in a form: never in the logs either
            self.options.secret(enrolment.activation_code)
        try:
            credential = enrol(
                self.data_dir, enrolment.identifier, enrolment.activation_code, self._settings()
            )
        except EnrolmentError as exc:
            if exc.code in _REFUSALS:
                return m.EnrolmentRefused(exc)
            raise
        self._remember(credential.certificate)
        return m.Enrolled()

    def prepare_profile(self) -> m.ProfileReady | m.Failed:
        """The live profile from the running release's template; never while a Firefox
        runs on it (ES401: a session whose launcher stopped)."""
        from esecure.launcher.flow.profile import prepare_live_profile  # noqa: PLC0415
        from esecure.launcher.nss import profile_in_use  # noqa: PLC0415

        if profile_in_use(self.profile, self.choice.platform):
            raise SessionError(
                f"a Firefox is already running on the key's profile {self.profile}; close "
                "it, then start the key again",
                code="ES401",
            )
        result = prepare_live_profile(self.choice.component("profile"), self.profile)
        return m.ProfileReady(created=result.created)

    def deliver_certificate(self) -> m.CertificateDelivered | m.Failed:
        """The certificate and the CA into the profile's NSS database, through the NSS of
        the Firefox that will run; nothing when the profile already holds it."""
        from esecure.launcher import nss  # noqa: PLC0415 - light until it delivers

        recorded = self._recorded()
        delivered = nss.delivered_serial(self.profile)
        if recorded is not None and delivered == recorded.serial:
            return m.CertificateDelivered()  # the everyday start: nothing to decrypt
        from cryptography import x509  # noqa: PLC0415

        from esecure.launcher.keystore import KeyStore  # noqa: PLC0415

        credential = KeyStore(self.data_dir).load()
        if credential is None:
            raise OperationError("no certificate to deliver", code="ES210")
        certificate = credential.certificate
        if delivered == f"{certificate.serial_number:x}":
            return m.CertificateDelivered()
        ca_file = self.choice.component("trust") / "ca.pem"
        try:
            ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise OperationError(f"the CA {ca_file} is unusable ({exc})", code="ES211") from None
        delivery = nss.deliver(
            self.profile, credential, ca, firefox_dir=self.choice.component("firefox")
        )
        nss.mark_delivered(self.profile, delivery, certificate)
        return m.CertificateDelivered()

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start the running release's Firefox on the site with the live profile (ES403)."""
        from esecure_onkey.browser import FirefoxStartError, prepare_firefox  # noqa: PLC0415

        site = self._url("site")
        args = [*self.options.firefox_args, "-no-remote", "-profile", str(self.profile), site]
        firefox_dir = self.choice.component("firefox")
        try:
            scratch = self.options.scratch or self.host.cache_dir()
            start = prepare_firefox(
                firefox_dir,
                self.choice.platform,
                scratch=scratch,
                args=args,
                environ=self.options.firefox_env or None,
            )
            output = self.options.firefox_output
            sink = output.open("ab") if output is not None else None
            try:
                return subprocess.Popen(
                    start.argv,
                    env=dict(start.env),  # Firefox's alone: the key's libraries first
                    stdin=subprocess.DEVNULL,
                    stdout=sink or subprocess.DEVNULL,
                    stderr=sink or subprocess.DEVNULL,
                    start_new_session=True,
                )
            finally:
                if sink is not None:
                    sink.close()
        except FirefoxStartError as exc:
            raise OperationError(str(exc), code="ES403") from None
        except OSError as exc:
            raise OperationError(
                f"cannot start Firefox from {firefox_dir}: {exc.strerror or exc}", code="ES403"
            ) from None

    def start_browser(self) -> m.BrowserStarted | m.Failed:
        """Firefox on the site; the session the tray works with."""
        firefox = self._spawn()
        self._session = Session(
            self._spawn,
            firefox,
            diagnostics=self.options.diagnostics,
            profile=self.profile,
            data_dir=self.choice.data_dir,
            raise_window=raiser_for(self.choice.platform),
            ender=ender_for(self.choice.platform),
        )
        return m.BrowserStarted(firefox.pid)

    def tray_actions(self) -> Session:
        """The running session."""
        assert self._session is not None  # noqa: S101 - only after BrowserStarted
        return self._session

    def confirm_started(self) -> None:
        """Mark the release the bootstrap started good (never a release it did not start)."""
        if self.boot is None or self.choice.data_dir is None:
            return
        from esecure_onkey.boot import read_pointer  # noqa: PLC0415

        pointer = read_pointer(self.choice.data_dir)
        if pointer is None or pointer.good or pointer.release != self.boot.release:
            return  # nothing on trial: no need to load the update client (tuf) at all
        from esecure.launcher.update_step import confirm_started  # noqa: PLC0415

        try:
            confirm_started(self.choice.data_dir, self.boot)
        except (OSError, EsecureError) as exc:
            log.warning("could not mark the release good: %s", exc)

    def verify_in_background(self, problem: Callable[[EsecureError], None]) -> None:
        """After :attr:`FlowOptions.background_delay`, hash the CD-ROM in full (and the
        store's release, Firefox included), off the critical path; a failure is shown as
        a notice and saved for support."""
        thread = threading.Thread(
            target=self._verify, args=(problem,), name="e-secure-full-check", daemon=True
        )
        thread.start()

    def _verify(self, problem: Callable[[EsecureError], None]) -> None:
        from esecure.launcher.selfcheck import check_running_release, self_check  # noqa: PLC0415

        if self._stop.wait(self.options.background_delay):
            return  # the session ended first
        try:
            result = self_check(self.choice.cd, platform=self.choice.platform, depth="full")
            log.info("full check of the CD-ROM: %s files hashed", result.hashed)
            if self.choice.from_store:
                check_running_release(self.choice, full=True)
        except EsecureError as exc:
            self.save_report(exc)
            problem(exc)

    def save_report(self, error: EsecureError) -> Path | None:
        """The support report of ``error`` (:attr:`FlowOptions.report` when given: the
        diagnostics' zip), else a small one in reports/ (code, detail, versions; never a
        secret); its path, or None."""
        if self.options.report is not None:
            return self.options.report(error)
        if self.choice.data_dir is None:
            return None
        now = self.options.clock()
        path = self.choice.data_dir / "reports" / f"flow-{now:%Y%m%dT%H%M%S}-{error.code}.json"
        doc = {
            "code": error.code,
            "detail": error.detail,
            "at": now.isoformat(),
            "version": self.choice.version,
            "release": self.choice.release,
            "platform": self.choice.platform,
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, (json.dumps(doc, indent=2) + "\n").encode())
        except OSError:
            log.warning("could not save the report of %s", error.code)
            return None
        return path

    def close(self) -> None:
        """Stop the background check, release the lock and the signal endpoint."""
        self._stop.set()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
