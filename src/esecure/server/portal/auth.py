"""Authentication rules, pure: the client certificate against the identifier, and the
wrong-code lockout.

**The certificate** (:func:`check_certificate`). TLS has already checked the chain to the
project CA (``CERT_OPTIONAL`` in :func:`esecure.server.serve.server_context`; behind a
proxy, :func:`esecure.server.est._peer_certificate` checks the forwarded one). The portal
then requires, in this order:

1. a certificate at all (``absent``);
2. one signed by the project CA and recorded in the registry as issued by our EST service
   (``unknown``): a CA-signed certificate we have no record of is not accepted;
3. not revoked, and its key not blocked (a lost key: ``revoked``);
4. within its validity dates, by the server's clock (``expired``);
5. its subject as the EST service writes it: CN = the identifier and serialNumber = the
   key serial of the registry's record (``unknown`` otherwise: it is not what we issued);
6. its customer not disabled by the bank (``disabled``);
7. its identifier being the one typed, and the key still bound to it (``mismatch``). An
   unknown identifier also gives ``mismatch``: the answer for "no such customer" and for
   "not your certificate" is the same page, so identifiers cannot be enumerated.

**The lockout**: :data:`MAX_WRONG_CODES` wrong codes in a row lock the account until the
bank unlocks it (``esecure admin unlock``) or sends a new mail code. Only an accepted code
resets the count. The count is raised *before* the code is checked, so an attempt whose
answer never comes (a timeout) still counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from esecure.server.registry import CertificateRow, KeyRow, UserRow

__all__ = ["MAX_WRONG_CODES", "CertCheck", "Verdict", "after_wrong_code", "check_certificate"]

MAX_WRONG_CODES = 3

Verdict = Literal["ok", "absent", "unknown", "revoked", "expired", "disabled", "mismatch"]


@dataclass(frozen=True)
class CertCheck:
    """The verdict on a presented certificate, and what it names when we know it."""

    verdict: Verdict
    serial_number: str | None = None
    key_serial: str | None = None


def _subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return values[0].value


def check_certificate(  # noqa: PLR0911 - one return per rule, in the documented order
    cert: x509.Certificate | None,
    identifier: str,
    *,
    ca: x509.Certificate,
    row: CertificateRow | None,
    key: KeyRow | None,
    user: UserRow | None,
    now: dt.datetime,
) -> CertCheck:
    """Apply the rules above. ``row`` is the registry's record of ``cert``'s serial number,
    ``key`` and ``user`` the records of that row's key serial and identifier."""
    if cert is None:
        return CertCheck("absent")
    serial = format(cert.serial_number, "x")
    try:
        cert.verify_directly_issued_by(ca)  # again: a proxy could be misconfigured
    except (ValueError, TypeError, InvalidSignature):
        return CertCheck("unknown", serial)
    if row is None:
        return CertCheck("unknown", serial)
    found = CertCheck("ok", serial, row.key_serial)
    if row.revoked is not None or (key is not None and key.blocked):
        return CertCheck("revoked", serial, row.key_serial)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return CertCheck("expired", serial, row.key_serial)
    if (
        _subject(cert, NameOID.COMMON_NAME) != row.identifier
        or _subject(cert, NameOID.SERIAL_NUMBER) != row.key_serial
    ):
        return CertCheck("unknown", serial, row.key_serial)
    if user is None or user.state != "active":
        return CertCheck("disabled", serial, row.key_serial)
    if identifier != row.identifier or key is None or key.identifier != identifier:
        return CertCheck("mismatch", serial, row.key_serial)
    return found


def after_wrong_code(failures: int) -> tuple[int, bool]:
    """(the new count, whether the account is now locked) after one more wrong code."""
    count = failures + 1
    return count, count >= MAX_WRONG_CODES
