"""The EST refusal rules as pure functions over bytes and rows: no I/O, no clock.

Order (the handler applies them in this order so that nothing is revealed before
authentication): credentials (401 / 429) → body and content type (415 / 400) → CSR
(signature, key, subject: 400) → binding of the key serial to the identifier (403).
Every refusal carries the rule it broke (one of :class:`esecure.est_protocol.Refusal`, sent
in the refusal header, counted by the fuzz test and logged in the audit) and a reason a
person can read.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from esecure.est_protocol import PKCS10_TYPE, Refusal, media_type
from esecure.server.admin import IDENTIFIER_PATTERN, SERIAL_PATTERN
from esecure.server.registry import KeyRow

__all__ = [
    "MAX_BODY",
    "Refused",
    "check_binding",
    "check_csr",
    "decode_body",
    "parse_basic_auth",
]

MAX_BODY = 64 * 1024  # a P-256 CSR is ~300 bytes of base64, an RSA-4096 one ~2 KB


class Refused(Exception):  # noqa: N818 - a refusal is an answer, not an error of ours
    """A request refused by one rule: HTTP status, rule name, reason for the body."""

    def __init__(
        self, status: int, rule: Refusal, reason: str, retry_after: int | None = None
    ) -> None:
        super().__init__(f"{status} {rule}: {reason}")
        self.status = status
        self.rule = rule
        self.reason = reason
        self.retry_after = retry_after


def parse_basic_auth(header: str | None) -> tuple[str, str]:
    """(identifier, activation code) from an HTTP Basic header (RFC 7030 3.2.3)."""
    if not header:
        raise Refused(401, Refusal.CREDENTIALS, "HTTP Basic credentials are required")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise Refused(401, Refusal.CREDENTIALS, "HTTP Basic credentials are required")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Refused(401, Refusal.CREDENTIALS, "malformed HTTP Basic credentials") from None
    identifier, sep, code = decoded.partition(":")
    if not sep or not IDENTIFIER_PATTERN.fullmatch(identifier) or not 0 < len(code) <= 64:
        raise Refused(401, Refusal.CREDENTIALS, "wrong identifier or activation code")
    return identifier, code


def decode_body(content_type: str, body: bytes) -> bytes:
    """The DER of a base64 ``application/pkcs10`` body (RFC 7030 4.2.1)."""
    mime = media_type(content_type)
    if mime != PKCS10_TYPE:
        raise Refused(415, Refusal.CONTENT_TYPE, f"expected {PKCS10_TYPE}, got {mime or 'none'}")
    if len(body) > MAX_BODY:
        raise Refused(400, Refusal.BODY, f"the request is larger than {MAX_BODY} bytes")
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(400, Refusal.BODY, "the body is not base64 (RFC 7030 4.2.1)") from None
    if not der:
        raise Refused(400, Refusal.BODY, "the body is empty")
    return der


def _one(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def check_csr(der: bytes, identifier: str) -> tuple[x509.CertificateSigningRequest, str]:
    """The parsed CSR and its key serial, if it is signed by its own key, carries an accepted
    key, and names ``identifier`` (CN) and a well-formed key serial (serialNumber)."""
    try:
        csr = x509.load_der_x509_csr(der)
    except ValueError:
        raise Refused(400, Refusal.CSR_SYNTAX, "the body is not a DER PKCS#10 request") from None
    try:
        key = csr.public_key()
        valid = csr.is_signature_valid
    except (ValueError, TypeError, x509.UnsupportedGeneralNameType):
        raise Refused(400, Refusal.CSR_KEY, "the request's public key cannot be read") from None
    except Exception:  # noqa: BLE001 - cryptography raises its own types for exotic keys
        raise Refused(400, Refusal.CSR_KEY, "the request's public key is not supported") from None
    if not valid:
        # RFC 2986: the signature proves possession of the private key.
        raise Refused(400, Refusal.CSR_SIGNATURE, "the request's signature does not verify")
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ("secp256r1", "secp384r1"):
            raise Refused(400, Refusal.CSR_KEY, f"curve {key.curve.name} is not accepted (P-256)")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 2048:
            raise Refused(400, Refusal.CSR_KEY, f"RSA {key.key_size} is too short (2048 at least)")
    else:
        raise Refused(400, Refusal.CSR_KEY, f"{type(key).__name__} keys are not accepted")
    try:
        subject = csr.subject
        common_name = _one(subject, NameOID.COMMON_NAME)
        key_serial = _one(subject, NameOID.SERIAL_NUMBER)
    except ValueError:
        raise Refused(400, Refusal.CSR_SUBJECT, "the request's subject cannot be read") from None
    if common_name != identifier:
        raise Refused(400, Refusal.CSR_SUBJECT, "the subject's CN is not the identifier")
    if key_serial is None or not SERIAL_PATTERN.fullmatch(key_serial):
        raise Refused(400, Refusal.CSR_SUBJECT, "the subject carries no well-formed serialNumber")
    return csr, key_serial


def check_binding(key: KeyRow | None, identifier: str) -> None:
    """The key serial must be registered, unblocked and bound to ``identifier``."""
    # The body says only "not recognised": which of the three is for the audit log.
    if key is None:
        raise Refused(403, Refusal.BINDING, "key serial not recognised (unknown)")
    if key.blocked:
        raise Refused(403, Refusal.BINDING, "key serial not recognised (blocked)")
    if key.identifier != identifier:
        raise Refused(
            403, Refusal.BINDING, "key serial not recognised (not bound to this identifier)"
        )
