"""The EST endpoints over real HTTPS on 127.0.0.1, one test per refusal rule."""

from __future__ import annotations

import base64
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from esecure.server import admin as ops
from esecure.server.registry import MAX_WRONG_CODES, Registry
from tests.server.conftest import BACKENDS
from tests.server.est_support import (
    PKCS10,
    basic,
    enrol_body,
    est_request,
    make_csr,
)

REFUSAL = "x-esecure-refusal"


# Every test here runs against both registry backends.
pytestmark = pytest.mark.parametrize("est_db_url", BACKENDS, indirect=True)


def _enrol(server, customer, csr=None, *, code=None, headers=None, body=None):
    hdrs = {**PKCS10, "Authorization": basic(customer.identifier, code or customer.code)}
    hdrs.update(headers or {})
    payload = body if body is not None else enrol_body(csr or make_csr("alice", customer.serial))
    return est_request(
        server.est_url + "simpleenroll",
        ca=server.project.trust.ca_certificate,
        body=payload,
        headers=hdrs,
    )


def _registry(server) -> Registry:
    return server.registry()


def test_cacerts_is_the_project_ca(est_server):
    """/cacerts answers the project's CA as certs-only PKCS#7 (RFC 7030 4.1.3)."""
    answer = est_request(
        est_server.est_url + "cacerts", ca=est_server.project.trust.ca_certificate, method="GET"
    )
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("application/pkcs7-mime")
    ca = x509.load_pem_x509_certificate(est_server.project.trust.ca_certificate.read_bytes())
    assert answer.certificates == [ca]


def test_first_enrolment_issues_a_certificate_bound_to_the_serial(est_server, customer):
    """simpleenroll issues CN=identifier, serialNumber=key serial, from the project CA."""
    answer = _enrol(est_server, customer)
    assert answer.status == 200, answer.body
    assert answer.headers["content-transfer-encoding"] == "base64"
    (cert,) = answer.certificates
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "KEY-0001"
    ca = x509.load_pem_x509_certificate(est_server.project.trust.ca_certificate.read_bytes())
    cert.verify_directly_issued_by(ca)
    registry = _registry(est_server)
    (row,) = registry.certificates()
    assert row.key_serial == "KEY-0001"
    assert registry.audit_log()[0][3:] == (200, "issued")


def test_rsa_3072_requests_are_accepted(est_server, customer):
    """RSA 3072 (the configurable algorithm) enrols too."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    assert _enrol(est_server, customer, make_csr("alice", "KEY-0001", key)).status == 200


# --- rule 1: credentials ---------------------------------------------------------------


def test_missing_credentials_are_401(est_server, customer):
    """No Authorization header: 401 with a Basic challenge."""
    answer = est_request(
        est_server.est_url + "simpleenroll",
        ca=est_server.project.trust.ca_certificate,
        body=enrol_body(make_csr("alice", "KEY-0001")),
        headers=PKCS10,
    )
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Basic")


def test_wrong_code_is_401_and_issues_nothing(est_server, customer):
    """A wrong activation code: 401 'credentials', no certificate recorded."""
    answer = _enrol(est_server, customer, code="AAAA-BBBB-CCCC-DDDD")
    assert (answer.status, answer.headers[REFUSAL]) == (401, "credentials")
    assert _registry(est_server).certificates() == []


def test_unknown_identifier_looks_like_a_wrong_code(est_server, customer):
    """An unknown identifier gets the same answer as a wrong code (nothing revealed)."""
    hdrs = {**PKCS10, "Authorization": basic("mallory", customer.code)}
    answer = est_request(
        est_server.est_url + "simpleenroll",
        ca=est_server.project.trust.ca_certificate,
        body=enrol_body(make_csr("mallory", "KEY-0001")),
        headers=hdrs,
    )
    assert (answer.status, answer.headers[REFUSAL]) == (401, "credentials")


def test_used_code_is_401_code_used(est_server, customer):
    """An activation code works once."""
    assert _enrol(est_server, customer).status == 200
    answer = _enrol(est_server, customer)
    assert (answer.status, answer.headers[REFUSAL]) == (401, "code-used")
    assert len(_registry(est_server).certificates()) == 1


def test_expired_code_is_401_code_expired(est_server, customer):
    """An expired activation code is refused and says so."""
    registry = _registry(est_server)
    registry.add_code("alice", "EXPI-REDC-ODE0-0001", time.time() - 1)
    answer = _enrol(est_server, customer, code="EXPI-REDC-ODE0-0001")
    assert (answer.status, answer.headers[REFUSAL]) == (401, "code-expired")


def test_five_wrong_codes_give_429_with_retry_after(est_server, customer):
    """After 5 wrong codes even the right code gets 429 + Retry-After, before any CSR check."""
    statuses = [_enrol(est_server, customer, code="WRONG").status for _ in range(MAX_WRONG_CODES)]
    assert statuses == [401] * (MAX_WRONG_CODES - 1) + [429]
    answer = _enrol(est_server, customer, body=b"not even base64 !!!")
    assert answer.status == 429
    assert int(answer.headers["retry-after"]) > 0
    assert _registry(est_server).certificates() == []


def test_credentials_are_checked_before_the_body(est_server, customer):
    """A wrong code with a malformed body is 401, not 400: nothing is revealed first."""
    answer = _enrol(est_server, customer, code="WRONG", body=b"%%%")
    assert answer.status == 401


# --- rule 2: the body and the CSR --------------------------------------------------------


def test_wrong_content_type_is_415(est_server, customer):
    """The CSR must come as application/pkcs10."""
    answer = _enrol(est_server, customer, headers={"Content-Type": "application/json"})
    assert (answer.status, answer.headers[REFUSAL]) == (415, "content-type")


def test_body_not_base64_is_400(est_server, customer):
    """A body that is not base64 is 400 'body'."""
    answer = _enrol(est_server, customer, body=b"this is not base64 @@@")
    assert (answer.status, answer.headers[REFUSAL]) == (400, "body")


def test_body_not_a_csr_is_400(est_server, customer):
    """Base64 of something that is not a PKCS#10 request is 400 'csr-syntax'."""
    answer = _enrol(est_server, customer, body=base64.b64encode(b"\x30\x03\x02\x01\x00"))
    assert (answer.status, answer.headers[REFUSAL]) == (400, "csr-syntax")


def test_bad_signature_is_400(est_server, customer):
    """A CSR whose signed part was altered is refused (no proof of possession)."""
    der = make_csr("alice", "KEY-0001")
    forged = der.replace(b"KEY-0001", b"KEY-0002")  # same length: still parses
    x509.load_der_x509_csr(forged)
    answer = _enrol(est_server, customer, body=enrol_body(forged))
    assert (answer.status, answer.headers[REFUSAL]) == (400, "csr-signature")


def test_csr_for_another_identifier_is_400(est_server, customer):
    """The subject's CN must be the authenticated identifier."""
    answer = _enrol(est_server, customer, make_csr("bob", "KEY-0001"))
    assert (answer.status, answer.headers[REFUSAL]) == (400, "csr-subject")


def test_csr_without_serial_is_400(est_server, customer):
    """The subject must carry the key's serial number."""
    answer = _enrol(est_server, customer, make_csr("alice", None))
    assert (answer.status, answer.headers[REFUSAL]) == (400, "csr-subject")


def test_weak_key_is_400(est_server, customer):
    """A 1024-bit RSA key is refused."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the attack
    answer = _enrol(est_server, customer, make_csr("alice", "KEY-0001", key))
    assert (answer.status, answer.headers[REFUSAL]) == (400, "csr-key")


def test_refused_csr_does_not_consume_the_code(est_server, customer):
    """After a 400 the same code still enrols a right request."""
    assert _enrol(est_server, customer, make_csr("alice", None)).status == 400
    assert _enrol(est_server, customer).status == 200


# --- rule 3: the binding --------------------------------------------------------------------


def test_unknown_serial_is_403(est_server, customer):
    """A serial that is not registered: 403 'binding' (the launcher's E3)."""
    answer = _enrol(est_server, customer, make_csr("alice", "NOT-REGISTERED"))
    assert (answer.status, answer.headers[REFUSAL]) == (403, "binding")
    assert b"not recognised" in answer.body


def test_serial_bound_to_another_identifier_is_403(est_server, customer):
    """alice cannot enrol bob's key."""
    registry = _registry(est_server)
    ops.add_user(registry, "bob", time.time())
    registry.add_keys([("KEY-BOB", "B1", "2026-11-27")])
    ops.assign(registry, "KEY-BOB", "bob")
    answer = _enrol(est_server, customer, make_csr("alice", "KEY-BOB"))
    assert (answer.status, answer.headers[REFUSAL]) == (403, "binding")


def test_blocked_serial_is_403(est_server, customer):
    """A key reported lost cannot enrol."""
    ops.report_lost(_registry(est_server), "KEY-0001", time.time())
    answer = _enrol(est_server, customer)
    assert (answer.status, answer.headers[REFUSAL]) == (403, "binding")
    assert _registry(est_server).certificates() == []


# --- renewal and revocation -------------------------------------------------------------


def _client_files(tmp_path, cert, key):
    cert_path, key_path = tmp_path / "c.pem", tmp_path / "k.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    return cert_path, key_path


def _enrolled(est_server, customer, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    (cert,) = _enrol(est_server, customer, make_csr("alice", "KEY-0001", key)).certificates
    return cert, key


def _reenroll(est_server, csr, client):
    import ssl  # noqa: PLC0415

    context = ssl.create_default_context(cafile=str(est_server.project.trust.ca_certificate))
    if client is not None:
        context.load_cert_chain(client[0], client[1], password=b"pw")
    import http.client  # noqa: PLC0415
    import urllib.parse  # noqa: PLC0415

    parts = urllib.parse.urlsplit(est_server.est_url + "simplereenroll")
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=30)
    conn.request("POST", parts.path, body=enrol_body(csr), headers=PKCS10)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.getheader("X-Esecure-Refusal"), body


def test_reenroll_with_current_certificate(est_server, customer, tmp_path):
    """simplereenroll authenticated by the TLS client certificate issues a new one."""
    cert, key = _enrolled(est_server, customer, tmp_path)
    client = _client_files(tmp_path, cert, key)
    status, _, body = _reenroll(est_server, make_csr("alice", "KEY-0001"), client)
    assert status == 200
    (new,) = __import__(
        "cryptography.hazmat.primitives.serialization.pkcs7", fromlist=["x"]
    ).load_der_pkcs7_certificates(base64.b64decode(body))
    assert new.serial_number != cert.serial_number
    assert len(_registry(est_server).certificates()) == 2


def test_reenroll_without_certificate_is_401(est_server, customer):
    """No client certificate, no renewal."""
    status, rule, _ = _reenroll(est_server, make_csr("alice", "KEY-0001"), None)
    assert (status, rule) == (401, "renewal-auth")


def test_reenroll_with_revoked_certificate_is_403(est_server, customer, tmp_path):
    """A revoked certificate cannot renew itself, and the CRL lists it."""
    cert, key = _enrolled(est_server, customer, tmp_path)
    client = _client_files(tmp_path, cert, key)
    ops.report_lost(_registry(est_server), "KEY-0001", time.time())
    status, rule, _ = _reenroll(est_server, make_csr("alice", "KEY-0001"), client)
    assert (status, rule) == (403, "revoked")
    answer = est_request(
        est_server.url + "crl", ca=est_server.project.trust.ca_certificate, method="GET"
    )
    crl = x509.load_der_x509_crl(answer.body)
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def test_attack_disabled_customer_cannot_renew(est_server, customer, tmp_path):
    """A customer disabled by the bank cannot extend access by renewing: 403, nothing issued."""
    cert, key = _enrolled(est_server, customer, tmp_path)
    client = _client_files(tmp_path, cert, key)
    ops.set_user_state(_registry(est_server), "alice", active=False)
    status, rule, _ = _reenroll(est_server, make_csr("alice", "KEY-0001"), client)
    assert (status, rule) == (403, "user-disabled")
    assert len(_registry(est_server).certificates()) == 1


def test_reenroll_for_another_serial_is_400(est_server, customer, tmp_path):
    """Renewal keeps the subject of the current certificate (RFC 7030 4.2.2)."""
    cert, key = _enrolled(est_server, customer, tmp_path)
    client = _client_files(tmp_path, cert, key)
    status, rule, _ = _reenroll(est_server, make_csr("alice", "KEY-0002"), client)
    assert (status, rule) == (400, "csr-subject")
