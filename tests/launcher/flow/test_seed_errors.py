"""The guide's error rows E1, E2, E3, E5, E6, E8, provoked on a real key and seen in the
terminal: the code, the message, the cause, the action and the support phone."""

from __future__ import annotations

import fcntl
import os
import ssl
import sys

import pytest

from esecure.launcher.flow.console import Answers
from esecure.launcher.instance import LOCK_NAME
from tests.launcher import est_fixtures
from tests.launcher.est_fixtures import RawServer, tls_handler
from tests.launcher.flow.keyfix import held_by_another_process, make_key, run_console_flow

customer = est_fixtures.customer
est_server = est_fixtures.est_server

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the Linux host")
ALICE = Answers(identifier="alice", activation_code="WRONG-CODE-0000")
PHONE = "support: +33 1 00 00 00 00"


def _ca(demo_project):
    return (demo_project / "trust" / "ca.pem").read_bytes()


def _nothing_enrolled(key):
    assert not (key.data / "pki" / "credential.pem").exists()
    assert not (key.data / "profile").exists()


def test_e1_a_damaged_key_is_es101(tmp_path, demo_project):
    """E1: a file of the CD-ROM of another size (damaged key): ES101 with the guide's
    message and the action, before anything but its report is written to the data area."""
    key = make_key(tmp_path, ca_pem=_ca(demo_project))
    (key.cd / "profile" / "user.js").write_bytes(b"damaged")
    seen = run_console_flow(key, ALICE)
    assert seen.code == 1
    assert seen.err.startswith(
        "error ES101: A problem occurred during installation; this device may not work properly."
    )
    assert "profile/user.js: size 7" in seen.err
    assert "action: Do not use this key. Call support to get a replacement key." in seen.err
    assert PHONE in seen.err
    (report,) = (key.data / "reports").iterdir()  # the only thing written: the report
    assert f"support report: {report}" in seen.err
    assert sorted(p.name for p in key.data.iterdir()) == ["identity.json", "reports"]


def _against(context, tmp_path, demo_project):
    """The flow of a key whose enrolment server handshakes with ``context``."""
    with RawServer(tls_handler(context, lambda tls: tls.recv(1))) as server:
        url = f"https://127.0.0.1:{server.port}/.well-known/est/"
        key = make_key(tmp_path, ca_pem=_ca(demo_project), est_url=url)
        return key, run_console_flow(key, ALICE)


def test_e2_interception_is_es201(tmp_path, demo_project):
    """E2: the enrolment server shows another CA's certificate (antivirus, proxy): ES201."""
    cert, private = est_fixtures.foreign_tls_pair(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, private)
    key, seen = _against(context, tmp_path, demo_project)
    assert seen.code == 1
    assert seen.err.startswith(
        "error ES201: An error occurred while communicating with the certificate delivery service."
    )
    assert "the server's certificate is not the bank CA's" in seen.err
    assert PHONE in seen.err
    _nothing_enrolled(key)


def test_e3_a_wrong_activation_code_is_es203_and_asked_again(tmp_path, est_server, customer):
    """E3: a wrong code is refused (ES203) with "Please enter your identifier and
    activation code"; without a terminal the form cannot be asked again: cancelled."""
    ca = est_server.project.trust.ca_certificate.read_bytes()
    key = make_key(tmp_path, ca_pem=ca, est_url=est_server.est_url, serial=customer.serial)
    seen = run_console_flow(key, ALICE)
    assert seen.code == 1
    assert seen.err.startswith(
        "error ES203: Please enter your identifier and activation code: the pair given was not "
        "accepted."
    )
    assert "Enrolment cancelled: the key was not activated." in seen.out
    _nothing_enrolled(key)


def test_e3_an_unknown_serial_is_es202(tmp_path, est_server, customer):
    """E3: the service does not recognise the key's serial (ES202), in French."""
    ca = est_server.project.trust.ca_certificate.read_bytes()
    key = make_key(tmp_path, ca_pem=ca, est_url=est_server.est_url, serial="KEY-UNKNOWN", lang="fr")
    right = Answers(identifier=customer.identifier, activation_code=customer.code)
    seen = run_console_flow(key, right)
    assert seen.err.startswith(
        "error ES202: Le service de délivrance des certificats ne reconnaît pas le numéro de "
        "série de votre clé comme valide."
    )
    assert "assistance: +33 1 00 00 00 00" in seen.err
    _nothing_enrolled(key)


def test_e5_an_unreachable_server_is_es301(tmp_path, demo_project):
    """E5: nothing answers at the enrolment URL: "Timeout exceeded, or server not found."."""
    key = make_key(tmp_path, ca_pem=_ca(demo_project), est_url="https://est.bank.invalid/est/")
    seen = run_console_flow(key, ALICE)
    assert seen.code == 1
    assert seen.err.startswith("error ES301: Timeout exceeded, or server not found.")
    assert "proxy" in seen.err and PHONE in seen.err


def test_e6_a_session_that_holds_the_key_and_does_not_answer_is_es401(tmp_path, demo_project):
    """E6: another process holds the key's session lock and answers no signal (a hung
    session): ES401, "another e-secure session is running"; nothing else runs."""
    key = make_key(tmp_path, ca_pem=_ca(demo_project))
    with held_by_another_process(key.data / LOCK_NAME):
        seen = run_console_flow(key, ALICE)
    assert seen.code == 1
    assert seen.err.startswith(
        "error ES401: The connection started, then stopped: another e-secure session is running."
    )
    assert "holds this key and does not answer" in seen.err
    assert not (key.data / "state.json").exists()  # stopped before the data area


def test_e6_the_lock_is_free_again_after_the_holder_dies(tmp_path, demo_project):
    """The lock of a crashed session (the OS lock gone with it) is not E6."""
    key = make_key(tmp_path, ca_pem=_ca(demo_project))
    fd = os.open(key.data / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.close(fd)  # as the OS does when the holder dies
    seen = run_console_flow(key, ALICE)
    assert "ES401" not in seen.err


def test_e8_a_tls_handshake_failure_is_es302(tmp_path, demo_project):
    """E8: no cipher in common with the enrolment server (handshake_failure alert): ES302."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-ECDSA-AES128-SHA")
    context.load_cert_chain(
        demo_project / "server/tls.pem", demo_project / "keys/server-tls.key.pem"
    )
    key, seen = _against(context, tmp_path, demo_project)
    assert seen.code == 1
    assert seen.err.startswith(
        "error ES302: The secure (SSL) connection to the bank failed (handshake failure)."
    )
    _nothing_enrolled(key)
