"""The key store's per-key secret: made once, never silently replaced."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from esecure.errors import EsecureError
from esecure.launcher.keystore import Credential, KeyStore, generate_key


def _credential() -> Credential:
    key = generate_key("ec-p256")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "customer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return Credential(key, (cert,))


def test_first_secret_is_made_when_nothing_is_stored(tmp_path):
    """No credential yet: an empty secret file (torn write) is replaced by a new secret."""
    store = KeyStore(tmp_path)
    store.directory.mkdir()
    store.secret_path.write_bytes(b"")
    secret = store.secret()
    assert len(secret) == 64
    assert store.secret_path.read_bytes() == secret + b"\n"


@pytest.mark.parametrize("state", ["empty", "missing"])
def test_attack_torn_secret_beside_a_credential_is_es210(tmp_path, state):
    """A stored credential whose secret is empty or gone: ES210 naming it, nothing rewritten."""
    store = KeyStore(tmp_path)
    store.save(_credential())
    stored = store.credential_path.read_bytes()
    if state == "empty":
        store.secret_path.write_bytes(b"")
    else:
        store.secret_path.unlink()
    with pytest.raises(EsecureError) as info:
        store.load()
    assert info.value.code == "ES210"
    assert str(store.secret_path) in info.value.detail
    assert store.credential_path.read_bytes() == stored
    if state == "empty":
        assert store.secret_path.read_bytes() == b""
    else:
        assert not store.secret_path.exists()
