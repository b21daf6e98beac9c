"""The flow's real adapters, one step at a time, on real parts: the update client against
a real repository over HTTP, the enrolment client against the reference server, the
data area, the background full check, Firefox that cannot start."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace

import pytest

from esecure.errors import EsecureError
from esecure.launcher.flow import machine as m
from esecure.launcher.flow.presenter import Enrolment
from esecure.launcher.flow.steps import RESTARTS_ENV, FlowOptions, KeySteps
from esecure.launcher.host.linux import HOST
from esecure.launcher.instance import LOCK_NAME
from esecure_onkey.boot import cd_choice, choose
from esecure_onkey.layout import BUNDLED_LIBS_DIR
from tests.launcher import est_fixtures
from tests.launcher.flow.keyfix import held_by_another_process, make_key
from tests.updater import conftest as updater_fixtures

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux host")

http_dir = updater_fixtures.http_dir
repo = updater_fixtures.repo
customer = est_fixtures.customer
est_server = est_fixtures.est_server


def _steps(key_or_choice, product, **options):
    notices: list[str] = []
    choice = getattr(key_or_choice, "choice", key_or_choice)
    steps = KeySteps(
        choice,
        product,
        HOST,
        notify=lambda error: notices.append(error.code),
        progress=lambda *_: None,
        options=FlowOptions(**options),
    )
    return steps, notices


# --- updates, against a real repository ------------------------------------------------------
def _update_key(repo, tmp_path, url=None):
    data = tmp_path / "data"
    data.mkdir()
    choice = replace(cd_choice(repo.cd), data_dir=data)
    product = {"id": "demo-bank", "urls": {"updates": url or repo.url}}
    product["updates"] = {"check_timeout_seconds": 3, "max_offline_days": 30}
    return choice, product, data


def test_update_offered_applied_then_restart_into_it(repo, tmp_path):
    """A published release is offered, applied into the store and switched; restart
    releases the key and execs the bootstrap with the restart counted."""
    choice, product, data = _update_key(repo, tmp_path)
    calls = []
    steps, _ = _steps(
        choice,
        product,
        restart_argv=("/cd/e-secure", "--no-gui"),
        execv=lambda path, argv, env: calls.append((path, argv, env[RESTARTS_ENV])),
    )
    event = steps.check_updates()
    assert isinstance(event, m.UpdateOffered)
    assert (event.offer.version, event.offer.required) == ("1.0.0", False)
    assert event.offer.seconds[0] <= event.offer.seconds[1]
    assert steps.apply_update(event.offer) == m.UpdateApplied()
    assert choose(repo.cd, data, platform=updater_fixtures.PLATFORM).version == "1.0.0"
    assert isinstance(steps.take_lock(), m.LockTaken)
    assert steps.restart() is None
    assert calls == [("/cd/e-secure", ["/cd/e-secure", "--no-gui"], "1")]
    assert (data / LOCK_NAME).read_bytes() == b""  # released before the exec


def test_a_refused_exec_is_es526(repo, tmp_path):
    """The OS refuses the exec: ES526."""
    choice, product, _ = _update_key(repo, tmp_path)

    def refuse(path, argv, env):
        raise PermissionError(13, "Permission denied")

    steps, _ = _steps(choice, product, restart_argv=("/cd/e-secure",), execv=refuse)
    event = steps.restart()
    assert isinstance(event, m.Failed) and event.error.code == "ES526"


def test_an_unreachable_repository_is_offline(repo, tmp_path):
    """Nothing listens at the update URL: UpdateOffline with ES520, nothing written."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    choice, product, data = _update_key(repo, tmp_path, url=f"http://127.0.0.1:{port}/")
    steps, _ = _steps(choice, product)
    event = steps.check_updates()
    assert isinstance(event, m.UpdateOffline) and event.notice.code == "ES520"
    assert not (data / "store").exists()


def test_no_update_when_nothing_newer(repo, tmp_path):
    """Running the newest release: NoUpdate."""
    choice, product, _ = _update_key(repo, tmp_path)
    steps, _ = _steps(replace(choice, version="1.0.0"), product)
    assert steps.check_updates() == m.NoUpdate()


# --- the data area ------------------------------------------------------------------------------
def test_first_use_initialises_the_data_area_once(tmp_path, demo_project):
    """First start: folders and state.json made, first_use True; then False."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    steps, _ = _steps(key, key.product)
    assert steps.prepare_data_area() == m.DataAreaReady(first_use=True)
    assert {p.name for p in key.data.iterdir()} >= {"state.json", "pki", "logs", "reports"}
    assert steps.prepare_data_area() == m.DataAreaReady(first_use=False)


def test_an_unwritable_data_area_is_es106(tmp_path, demo_project):
    """A data area where a folder cannot be made: ES106 naming it."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    (key.data / "logs").write_text("a file where the folder goes")
    steps, _ = _steps(key, key.product)
    with pytest.raises(EsecureError) as info:
        steps.prepare_data_area()
    assert info.value.code == "ES106" and str(key.data) in info.value.detail


def test_no_data_area_is_es106(tmp_path, demo_project):
    """No data area found: ES106 with the bootstrap's reason."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    choice = replace(key.choice, data_dir=None, data_reason="no FAT volume labelled ESECDATA")
    steps, _ = _steps(choice, key.product)
    with pytest.raises(EsecureError, match="no FAT volume labelled ESECDATA") as info:
        steps.prepare_data_area()
    assert info.value.code == "ES106"


# --- the certificate, against the reference server ----------------------------------------------
def test_missing_then_enrolled_then_valid_then_due_then_expired(tmp_path, est_server, customer):
    """missing -> enrol -> valid; near its end -> renew (silently, renewed); after it ->
    missing again."""
    ca = est_server.project.trust.ca_certificate.read_bytes()
    key = make_key(tmp_path, ca_pem=ca, est_url=est_server.est_url, serial=customer.serial)
    steps, _ = _steps(key, key.product)
    assert steps.check_certificate() == m.CertificateStatus("missing", customer.serial)
    assert steps.enrol(Enrolment(customer.identifier, customer.code)) == m.Enrolled()
    assert steps.check_certificate() == m.CertificateStatus("valid", customer.serial)
    from esecure.launcher.keystore import KeyStore  # noqa: PLC0415

    end = KeyStore(key.data).load().certificate.not_valid_after_utc
    due, _ = _steps(key, key.product, clock=lambda: end - dt.timedelta(days=2))
    assert due.check_certificate().status == "renew"
    assert due.renew() == m.Renewed()
    after, _ = _steps(key, key.product, clock=lambda: end + dt.timedelta(days=400))
    assert after.check_certificate().status == "missing"


def test_a_renewal_that_cannot_reach_the_server_is_postponed(tmp_path, est_server, customer):
    """Renewal with the service unreachable: postponed (ES301), the key goes on."""
    ca = est_server.project.trust.ca_certificate.read_bytes()
    key = make_key(tmp_path, ca_pem=ca, est_url=est_server.est_url, serial=customer.serial)
    steps, _ = _steps(key, key.product)
    steps.enrol(Enrolment(customer.identifier, customer.code))
    offline = dataclasses.replace(
        key,
        product={
            **key.product,
            "urls": {**key.product["urls"], "enrolment": "https://est.bank.invalid/"},
        },
    )
    steps, _ = _steps(offline, offline.product)
    event = steps.renew()
    assert isinstance(event, m.RenewalPostponed) and event.notice.code == "ES301"


def test_a_wrong_code_is_a_refusal_the_user_may_answer(tmp_path, est_server, customer):
    """ES203 from the service is EnrolmentRefused (the form is shown again)."""
    ca = est_server.project.trust.ca_certificate.read_bytes()
    key = make_key(tmp_path, ca_pem=ca, est_url=est_server.est_url, serial=customer.serial)
    steps, _ = _steps(key, key.product)
    event = steps.enrol(Enrolment(customer.identifier, "WRONG-WRONG-WRONG"))
    assert isinstance(event, m.EnrolmentRefused) and event.error.code == "ES203"


def test_no_identity_is_es209(tmp_path, demo_project):
    """A data area without identity.json: ES209 (E1)."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes(), serial=None)
    steps, _ = _steps(key, key.product)
    with pytest.raises(EsecureError) as info:
        steps.check_certificate()
    assert info.value.code == "ES209"


# --- the profile and the browser ----------------------------------------------------------------
def test_a_firefox_running_on_the_profile_is_es401(tmp_path, demo_project):
    """A Firefox already runs on the live profile (its launcher gone): ES401 (E6), the
    profile untouched."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    profile = key.data / "profile"
    profile.mkdir()
    with held_by_another_process(profile / ".parentlock", "lockf"):
        steps, _ = _steps(key, key.product)
        with pytest.raises(EsecureError) as info:
            steps.prepare_profile()
    assert info.value.code == "ES401"
    assert sorted(p.name for p in profile.iterdir()) == [".parentlock"]


def test_a_firefox_that_cannot_start_is_es403(tmp_path, demo_project):
    """The release's Firefox directory holds no Firefox program: ES403 naming the fix."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    (key.cd / "firefox" / updater_fixtures.PLATFORM / "firefox").unlink()
    steps, _ = _steps(key, key.product)
    with pytest.raises(EsecureError, match="reinstall the update") as info:
        steps.start_browser()
    assert info.value.code == "ES403"


# --- the full check off the critical path -------------------------------------------------------
def test_the_background_check_finds_what_the_start_check_leaves(tmp_path, demo_project):
    """A same-size change on the CD-ROM passes the start check (sizes) and is found by the
    full check run in the background: a notice with ES101 and a saved report."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    omni = key.cd / "firefox" / updater_fixtures.PLATFORM / "omni.ja"
    omni.write_bytes(b"x" * omni.stat().st_size)
    steps, _ = _steps(key, key.product, background_delay=0.0)
    assert steps.self_check() == m.SelfChecked()
    found: list[EsecureError] = []
    done = threading.Event()
    steps.verify_in_background(lambda error: (found.append(error), done.set()))
    assert done.wait(30)
    assert found[0].code == "ES101" and "omni.ja" in found[0].detail
    (report,) = (key.data / "reports").iterdir()
    assert "ES101" in report.name


def test_the_background_check_stops_with_the_session(tmp_path, demo_project):
    """The session ends before the delay: no check runs, nothing is reported."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    (key.cd / "profile" / "user.js").write_bytes(
        b"y" * (key.cd / "profile" / "user.js").stat().st_size
    )
    steps, _ = _steps(key, key.product, background_delay=60.0)
    found: list[EsecureError] = []
    steps.verify_in_background(found.append)
    steps.close()
    assert found == [] and not (key.data / "reports").exists()


LIGHT_START = textwrap.dedent(
    """
    import json, sys
    from dataclasses import replace
    from pathlib import Path
    from esecure.launcher.flow.steps import KeySteps
    from esecure.launcher.host.linux import HOST
    from esecure_onkey.boot import cd_choice

    cd, data, product = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
    choice = replace(cd_choice(cd), data_dir=data)
    steps = KeySteps(choice, product, HOST, notify=print, progress=print)
    status = steps.check_certificate()
    delivered = steps.deliver_certificate()
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"cryptography", "tuf", "nacl"})
    print(json.dumps([status.status, type(delivered).__name__, heavy]))
    """
)


def test_an_everyday_start_does_not_load_cryptography(tmp_path, est_server, customer):
    """With the certificate's record and the profile holding that certificate, the
    certificate steps read two small files: no cryptography loaded (bytes off the key)."""
    ca = est_server.project.trust.ca_certificate.read_bytes()
    key = make_key(tmp_path, ca_pem=ca, est_url=est_server.est_url, serial=customer.serial)
    steps, _ = _steps(key, key.product)
    steps.enrol(Enrolment(customer.identifier, customer.code))
    from esecure.launcher import nss  # noqa: PLC0415
    from esecure.launcher.keystore import KeyStore  # noqa: PLC0415

    profile = key.data / "profile"
    profile.mkdir()
    certificate = KeyStore(key.data).load().certificate
    nss.mark_delivered(profile, nss.Delivery("tools", "e-secure"), certificate)
    probe = subprocess.run(
        [sys.executable, "-c", LIGHT_START, str(key.cd), str(key.data), json.dumps(key.product)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(probe.stdout.splitlines()[-1]) == ["valid", "CertificateDelivered", []]


def test_attack_a_forged_certificate_record_is_ignored(tmp_path, est_server, customer):
    """A record planted in the data area (another end date, the credential's file
    changed): it does not match the credential's bytes, so the credential itself decides."""
    ca = est_server.project.trust.ca_certificate.read_bytes()
    key = make_key(tmp_path, ca_pem=ca, est_url=est_server.est_url, serial=customer.serial)
    steps, _ = _steps(key, key.product)
    steps.enrol(Enrolment(customer.identifier, customer.code))
    record = key.data / "pki" / "certificate.json"
    doc = json.loads(record.read_text())
    doc["not_after"] = "2999-01-01T00:00:00+00:00"
    doc["credential_sha256"] = "0" * 64
    record.write_text(json.dumps(doc))
    from esecure.launcher.keystore import KeyStore  # noqa: PLC0415

    end = KeyStore(key.data).load().certificate.not_valid_after_utc
    later, _ = _steps(key, key.product, clock=lambda: end + dt.timedelta(days=1))
    assert later.check_certificate().status == "missing"  # the real end, not the record's
    assert json.loads(record.read_text())["not_after"] == end.isoformat()  # recorded again


def test_the_report_hook_makes_the_support_report(tmp_path, demo_project):
    """FlowOptions.report (the diagnostics' zip) replaces the small built-in report."""
    key = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    made = []
    steps, _ = _steps(key, key.product, report=lambda error: made.append(error.code) or tmp_path)
    assert steps.save_report(EsecureError("x", code="ES107")) == tmp_path
    assert made == ["ES107"] and not (key.data / "reports").exists()


def test_firefox_alone_gets_the_keys_libraries_first(tmp_path, monkeypatch):
    """The launcher starts Firefox with the key's bundled-libs/ first on LD_LIBRARY_PATH
    (the host's value after it) and its own environment unchanged."""
    firefox = tmp_path / "firefox"
    (firefox / BUNDLED_LIBS_DIR).mkdir(parents=True)
    said = tmp_path / "said"
    program = firefox / "firefox"
    program.write_text(f'#!/bin/sh\nprintf %s "$LD_LIBRARY_PATH" > {said}\n')
    program.chmod(0o755)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/host/lib")
    key = make_key(tmp_path / "key", ca_pem=b"-----BEGIN CERTIFICATE-----\n", firefox=firefox)
    steps, _ = _steps(key, key.product, scratch=tmp_path / "cache")
    steps._spawn().wait(timeout=30)  # the one place Firefox is started
    assert said.read_text() == f"{firefox / BUNDLED_LIBS_DIR}:/opt/host/lib"
    assert os.environ["LD_LIBRARY_PATH"] == "/opt/host/lib"
