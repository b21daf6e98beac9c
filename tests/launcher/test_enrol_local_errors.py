"""EST client failures that happen on the key itself: catalogue codes, never a traceback."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from esecure.errors import EsecureError
from esecure.launcher import enrol as est
from esecure.launcher.keystore import Credential, KeyStore, generate_key
from tests.launcher import est_fixtures

est_server = est_fixtures.est_server
customer = est_fixtures.customer
data_area = est_fixtures.data_area
settings = est_fixtures.settings


def _error(call, *args, **kwargs) -> EsecureError:
    with pytest.raises(EsecureError) as info:
        call(*args, **kwargs)
    return info.value


@pytest.mark.parametrize("state", ["missing", "garbage"])
def test_unusable_pinned_ca_is_es201(tmp_path, data_area, customer, settings, state):
    """The pinned CA file missing or not a certificate: ES201 naming it, nothing stored."""
    ca_file = tmp_path / "ca.pem"
    if state == "garbage":
        ca_file.write_text("not a certificate\n")
    broken = dataclasses.replace(settings, ca_file=ca_file)
    error = _error(est.enrol, data_area, customer.identifier, customer.code, broken)
    assert error.code == "ES201"
    assert f"the pinned CA {ca_file} is unusable" in error.detail
    assert not (data_area / "pki").exists()


def test_credential_tls_cannot_load_is_es210(data_area, customer, settings):
    """The stored credential unusable for TLS (wrong secret): ES210 naming the file."""
    est.enrol(data_area, customer.identifier, customer.code, settings)
    path = KeyStore(data_area).credential_path
    error = _error(est._context, settings, (str(path), b"0" * 64))
    assert error.code == "ES210"
    assert f"{path} cannot be loaded for TLS" in error.detail


def test_stored_certificate_without_cn_is_es210(data_area, settings):
    """Renewal with a stored certificate naming no CN: ES210 naming the file, store untouched."""
    key = generate_key("ec-p256")
    name = x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, "KEY-0001")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    store = KeyStore(data_area)
    store.save(Credential(key, (cert,)))
    stored = store.credential_path.read_bytes()
    error = _error(est.renew, data_area, settings)
    assert error.code == "ES210"
    assert f"{store.credential_path}: the certificate names no identifier" in error.detail
    assert store.credential_path.read_bytes() == stored
