"""The certificate rules, pure: each verdict from a real certificate and registry rows."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from esecure.server.portal.auth import check_certificate
from esecure.server.registry import CertificateRow, KeyRow, UserRow
from esecure.trust import make_ca

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
CA_KEY, CA = make_ca("Test CA", "Bank")
OTHER_KEY, OTHER_CA = make_ca("Other CA", "Elsewhere")


def _cert(cn="alice", serial="KEY-1", *, key=CA_KEY, ca=CA, days=30) -> x509.Certificate:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        ]
    )
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )


def _row(cert, identifier="alice", key_serial="KEY-1", revoked=None) -> CertificateRow:
    return CertificateRow(format(cert.serial_number, "x"), identifier, key_serial, "", 0.0, revoked)


KEY = KeyRow("KEY-1", "B1", "2026-01-01", "alice", blocked=False, replaced_by=None)
USER = UserRow("alice", "active")


def _check(cert, identifier="alice", *, row="default", key=KEY, user=USER, now=NOW):
    row = _row(cert) if row == "default" else row
    return check_certificate(cert, identifier, ca=CA, row=row, key=key, user=user, now=now).verdict


def test_the_right_certificate_passes():
    """Issued here, live, subject as EST writes it, bound to the typed identifier."""
    assert _check(_cert()) == "ok"


def test_no_certificate_is_absent():
    """Nothing presented."""
    assert (
        check_certificate(None, "alice", ca=CA, row=None, key=None, user=None, now=NOW).verdict
        == "absent"
    )


def test_attack_a_certificate_of_another_ca_is_unknown():
    """Signed by another CA (a misconfigured proxy let it through): unknown."""
    cert = _cert(key=OTHER_KEY, ca=OTHER_CA)
    assert _check(cert) == "unknown"


def test_attack_a_ca_signed_certificate_we_never_issued_is_unknown():
    """Our CA's signature but no record in the registry: unknown."""
    assert _check(_cert(), row=None) == "unknown"


@pytest.mark.parametrize(("cn", "serial"), [("mallory", "KEY-1"), ("alice", "KEY-9")])
def test_attack_a_subject_other_than_the_record_is_unknown(cn, serial):
    """CN or serialNumber differing from the registry's record: not what we issued."""
    cert = _cert(cn, serial)
    assert _check(cert, row=_row(cert)) == "unknown"


def test_a_revoked_certificate_or_blocked_key_is_revoked():
    """Revoked in the registry, or its key reported lost."""
    cert = _cert()
    assert _check(cert, row=_row(cert, revoked=1.0)) == "revoked"
    blocked = KeyRow("KEY-1", "B1", "", "alice", blocked=True, replaced_by="KEY-2")
    assert _check(cert, key=blocked) == "revoked"


def test_an_expired_certificate_is_expired():
    """Past its notAfter by the server's clock."""
    assert _check(_cert(), now=NOW + dt.timedelta(days=31)) == "expired"
    assert _check(_cert(), now=NOW - dt.timedelta(days=2)) == "expired"  # not yet valid


def test_a_disabled_customer_is_disabled():
    """The bank disabled the customer."""
    assert _check(_cert(), user=UserRow("alice", "disabled")) == "disabled"
    assert _check(_cert(), user=None) == "disabled"


def test_another_or_unknown_identifier_is_the_same_mismatch():
    """A typed identifier that is not the certificate's — existing or not — and a key bound
    elsewhere since: all one verdict (no enumeration)."""
    cert = _cert()
    assert _check(cert, "bob") == "mismatch"
    assert _check(cert, "no.such.user") == "mismatch"
    moved = KeyRow("KEY-1", "B1", "", "bob", blocked=False, replaced_by=None)
    assert _check(cert, key=moved) == "mismatch"
