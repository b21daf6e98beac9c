"""The launcher's EST client against the real reference server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from esecure.errors import EsecureError
from esecure.launcher import enrol as est
from esecure.launcher.keystore import KeyStore
from esecure.server import admin as ops
from esecure.server.registry import Registry
from tests.launcher import est_fixtures

# Fixtures shared with the other enrolment tests.
est_server = est_fixtures.est_server
customer = est_fixtures.customer
data_area = est_fixtures.data_area
settings = est_fixtures.settings


def _same(a, b):
    assert a.chain == b.chain
    assert a.key.private_numbers() == b.key.private_numbers()


def _fails(call, *args, **kwargs) -> str:
    with pytest.raises(EsecureError) as info:
        call(*args, **kwargs)
    return info.value.code


def test_first_enrolment_stores_an_encrypted_credential(data_area, customer, settings):
    """simpleenroll: the certificate carries the serial; the key is stored encrypted only."""
    credential = est.enrol(data_area, customer.identifier, customer.code, settings)
    subject = credential.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "KEY-0001"
    stored = (data_area / "pki" / "credential.pem").read_bytes()
    assert stored.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert b"-----BEGIN PRIVATE KEY-----" not in stored
    _same(KeyStore(data_area).load(), credential)


def test_rsa_3072_by_configuration(data_area, customer, settings):
    """key_algorithm = rsa-3072 makes an RSA 3072 key pair."""
    rsa_settings = est.EstSettings(**{**settings.__dict__, "key_algorithm": "rsa-3072"})
    credential = est.enrol(data_area, customer.identifier, customer.code, rsa_settings)
    assert isinstance(credential.key, rsa.RSAPrivateKey)
    assert credential.key.key_size == 3072


def test_renewal_replaces_key_and_certificate(data_area, customer, settings):
    """simplereenroll (TLS client auth from the encrypted store) gives a new certificate."""
    first = est.enrol(data_area, customer.identifier, customer.code, settings)
    second = est.renew(data_area, settings)
    assert second.certificate.serial_number != first.certificate.serial_number
    assert second.certificate.subject == first.certificate.subject
    _same(KeyStore(data_area).load(), second)


def test_ensure_certificate_keeps_renews_or_enrols(data_area, customer, settings):
    """No certificate: enrol; valid: keep (asking nothing); inside the window: renew."""
    asked = []

    def ask():
        asked.append(1)
        return customer.identifier, customer.code

    assert est.ensure_certificate(data_area, settings, ask).action == "enrolled"
    kept = est.ensure_certificate(data_area, settings, ask)
    assert kept.action == "kept"
    late = kept.credential.certificate.not_valid_after_utc - dt.timedelta(days=10)
    assert est.ensure_certificate(data_area, settings, ask, now=late).action == "renewed"
    assert asked == [1]


def test_renewal_due_is_the_configured_window():
    """renewal_due: True within renew_before_days of the end."""
    end = dt.datetime(2027, 1, 31, tzinfo=dt.UTC)

    class Cert:
        not_valid_after_utc = end

    assert est.renewal_due(Cert(), end - dt.timedelta(days=30), 30)
    assert not est.renewal_due(Cert(), end - dt.timedelta(days=31), 30)


# --- refusals the user can meet ------------------------------------------------------------


def test_wrong_code_is_es203_and_writes_nothing(data_area, customer, settings):
    """Wrong activation code: ES203, no pki/ credential."""
    assert _fails(est.enrol, data_area, "alice", "AAAA-BBBB", settings) == "ES203"
    assert not (data_area / "pki" / "credential.pem").exists()


def test_used_code_is_es205(data_area, customer, settings):
    """A second enrolment with the same code: ES205."""
    est.enrol(data_area, customer.identifier, customer.code, settings)
    assert _fails(est.enrol, data_area, customer.identifier, customer.code, settings) == "ES205"


def test_expired_code_is_es206(data_area, customer, settings, est_server):
    """An expired code: ES206."""
    Registry.open(est_server.db_url).add_code("alice", "OLD0-CODE", time.time() - 5)
    assert _fails(est.enrol, data_area, "alice", "OLD0-CODE", settings) == "ES206"


def test_lockout_is_es204_with_the_wait(data_area, customer, settings):
    """After 5 wrong codes: ES204 naming the Retry-After."""
    for _ in range(4):
        _fails(est.enrol, data_area, "alice", "WRONG", settings)
    with pytest.raises(EsecureError) as info:
        est.enrol(data_area, "alice", "WRONG", settings)
    assert info.value.code == "ES204"
    assert "retry after 300 s" in info.value.detail


def test_unknown_serial_is_e3(tmp_path, customer, settings):
    """A key whose serial is not registered: ES202 (the guide's E3), nothing stored."""
    area = est_fixtures.make_data_area(tmp_path / "other", "UNKNOWN-9")
    assert _fails(est.enrol, area, customer.identifier, customer.code, settings) == "ES202"
    assert not (area / "pki" / "credential.pem").exists()


def test_revoked_certificate_cannot_renew_es208(data_area, customer, settings, est_server):
    """A key reported lost: renewal is ES208 and the stored credential is kept as it was."""
    est.enrol(data_area, customer.identifier, customer.code, settings)
    before = (data_area / "pki" / "credential.pem").read_bytes()
    ops.report_lost(Registry.open(est_server.db_url), "KEY-0001", time.time())
    assert _fails(est.renew, data_area, settings) == "ES208"
    assert (data_area / "pki" / "credential.pem").read_bytes() == before


def test_missing_identity_is_es209(tmp_path, settings):
    """No identity.json in the data area: ES209."""
    assert _fails(est.enrol, tmp_path, "alice", "X", settings) == "ES209"


def test_damaged_credential_is_es210(data_area, customer, settings):
    """A tampered credential file: ES210."""
    est.enrol(data_area, customer.identifier, customer.code, settings)
    path = data_area / "pki" / "credential.pem"
    path.write_bytes(path.read_bytes().replace(b"MII", b"MIJ", 1))
    assert _fails(KeyStore(data_area).load) == "ES210"


def test_identity_serial_must_be_a_string(tmp_path):
    """identity.json without a usable serial: ES209."""
    (tmp_path / "identity.json").write_text(json.dumps({"serial": 12}))
    assert _fails(est.read_serial, tmp_path) == "ES209"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("99999", 30.0),
        ("Fri, 01 Jan 2027 00:00:10 GMT", 10.0),
        ("Fri, 01 Jan 2027 01:00:00 GMT", 30.0),
        ("soon", None),
        ("nan", None),
        ("", None),
    ],
)
def test_retry_after_is_bounded(value, expected):
    """Retry-After in seconds or as an HTTP-date, never more than the configured cap."""
    now = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert est.retry_delay(value, 30.0, now) == expected
