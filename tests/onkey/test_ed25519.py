"""The bootstrap's own Ed25519 verifier (RFC 8032, section 5.1.7), pure Python."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure_onkey.ed25519 import public_key_from_pem, verify_ed25519
from esecure_onkey.versions import version_key

L = 2**252 + 27742317777372353535851937790883648493

# RFC 8032, section 7.1: TEST 1, TEST 2, TEST 3 (public key, message, signature)
RFC_VECTORS = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


def _raw(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.mark.parametrize(("pk", "msg", "sig"), RFC_VECTORS, ids=["test1", "test2", "test3"])
def test_rfc8032_vectors_verify(pk, msg, sig):
    """RFC 8032's test vectors (section 7.1) verify."""
    assert verify_ed25519(bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig))


@pytest.mark.parametrize(("pk", "msg", "sig"), RFC_VECTORS, ids=["test1", "test2", "test3"])
def test_rfc8032_vectors_with_another_message_fail(pk, msg, sig):
    """The same signature over another message is refused."""
    assert not verify_ed25519(bytes.fromhex(pk), bytes.fromhex(msg) + b"x", bytes.fromhex(sig))


def test_signatures_made_by_cryptography_verify():
    """Signatures made by `cryptography` (OpenSSL) over random messages verify."""
    rng = random.Random(8032)  # noqa: S311 - test messages, not secrets
    for i in range(40):
        key = ed25519.Ed25519PrivateKey.generate()
        message = rng.randbytes(rng.randrange(0, 2000) if i else 0)
        assert verify_ed25519(_raw(key), message, key.sign(message))


def test_every_flipped_signature_bit_is_refused():
    """Flipping any one bit of a valid signature makes it invalid."""
    key = ed25519.Ed25519PrivateKey.generate()
    signature = key.sign(b"manifest")
    for bit in range(512):
        bad = bytearray(signature)
        bad[bit // 8] ^= 1 << (bit % 8)
        assert not verify_ed25519(_raw(key), b"manifest", bytes(bad)), bit


def test_wrong_key_is_refused():
    """A valid signature checked against another key is refused."""
    key, other = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    assert not verify_ed25519(_raw(other), b"m", key.sign(b"m"))


def test_non_canonical_s_is_refused():
    """S + L (the same value mod L, non-canonical) is refused, as RFC 8032 requires."""
    key = ed25519.Ed25519PrivateKey.generate()
    signature = key.sign(b"m")
    s = int.from_bytes(signature[32:], "little") + L
    assert s < 2**256
    assert not verify_ed25519(_raw(key), b"m", signature[:32] + s.to_bytes(32, "little"))


@pytest.mark.parametrize(("key_len", "sig_len"), [(31, 64), (33, 64), (32, 63), (32, 65), (0, 0)])
def test_wrong_lengths_are_refused(key_len, sig_len):
    """A key that is not 32 bytes or a signature that is not 64 bytes is refused."""
    key = ed25519.Ed25519PrivateKey.generate()
    pk, sig = _raw(key), key.sign(b"m")
    assert not verify_ed25519((pk * 2)[:key_len], b"m", (sig * 2)[:sig_len])


def test_key_that_does_not_decode_is_refused():
    """A public key with y >= p (non-canonical) does not decode: refused."""
    key = ed25519.Ed25519PrivateKey.generate()
    bad = (2**255 - 19 + 1).to_bytes(32, "little")
    assert not verify_ed25519(bad, b"m", key.sign(b"m"))


def test_pem_public_key_is_read_and_others_are_not():
    """The PEM SubjectPublicKeyInfo of an Ed25519 key gives its 32 bytes; other PEM: None."""
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public_key_from_pem(pem) == _raw(key)
    assert public_key_from_pem(pem.replace(b"PUBLIC", b"PRIVATE")) is None
    assert public_key_from_pem(b"garbage") is None


def test_versions_compare_like_pep440_releases():
    """1.10 > 1.9, 1.0 == 1.0.0, 2.0rc1 < 2.0; unknown forms give None."""
    assert version_key("1.10.0") > version_key("1.9.9")
    assert version_key("1.0") == version_key("1.0.0")
    assert version_key("2.0rc1") < version_key("2.0")
    assert version_key("2.0a1") < version_key("2.0b1")
    assert version_key("banana") is None
