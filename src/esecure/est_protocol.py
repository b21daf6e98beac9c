"""The words of e-secure's EST exchange, spelled once for the server and the launcher's client.

The reference server (``esecure.server.est``) and the launcher's client
(``esecure.launcher.enrol``) must agree on every word of the wire, yet neither may import the
other's room: both import this module (standard library only, no I/O).

What RFC 7030 fixes:

* 3.2.2: every operation lives under ``/.well-known/est/``: ``cacerts`` (4.1),
  ``simpleenroll`` (4.2.1), ``simplereenroll`` (4.2.2), ``csrattrs`` (4.5).
* 4.2.1: the request is a PKCS#10 CSR, ``application/pkcs10``; 4.1.3 and 4.2.3: certificates
  come back as ``application/pkcs7-mime; smime-type=certs-only``; 4.5.2: the CSR attributes
  as ``application/csrattrs``. 4 (and RFC 2045 6.8): every body is base64, said by the
  ``Content-Transfer-Encoding`` header.

What e-secure adds (another EST server never sends it; the client then judges by the status
alone): the ``X-Esecure-Refusal`` header of a refusal names the rule it broke, one of
:class:`Refusal`, so that the launcher can tell a used code from an expired one (both 401).
"""

from __future__ import annotations

import enum

__all__ = [
    "BASE64",
    "CERTS_ONLY_TYPE",
    "CSRATTRS_TYPE",
    "EST_PATH",
    "PKCS10_TYPE",
    "REFUSAL_HEADER",
    "TRANSFER_ENCODING_HEADER",
    "Operation",
    "Refusal",
    "media_type",
    "operation_path",
    "operation_url",
    "refusal_rule",
]

EST_PATH = "/.well-known/est"  # RFC 7030 3.2.2 (no CA label: one CA per server)

PKCS10_TYPE = "application/pkcs10"  # 4.2.1: the request
CERTS_ONLY_TYPE = "application/pkcs7-mime; smime-type=certs-only"  # 4.1.3, 4.2.3
CSRATTRS_TYPE = "application/csrattrs"  # 4.5.2
TRANSFER_ENCODING_HEADER = "Content-Transfer-Encoding"  # 4: bodies are base64
BASE64 = "base64"

REFUSAL_HEADER = "X-Esecure-Refusal"  # ours: the rule a refusal broke


class Operation(enum.StrEnum):
    """The EST operations the server offers and the client calls (RFC 7030 3.2.2)."""

    CACERTS = "cacerts"  # 4.1
    SIMPLEENROLL = "simpleenroll"  # 4.2.1
    SIMPLEREENROLL = "simplereenroll"  # 4.2.2
    CSRATTRS = "csrattrs"  # 4.5


class Refusal(enum.StrEnum):
    """Every rule the reference server refuses a request by, as its refusal header says.

    The server raises only these; the launcher maps each to a catalogue code. Adding one
    here without teaching the client fails tests/test_est_protocol.py.
    """

    CREDENTIALS = "credentials"  # 401: no, malformed or wrong HTTP Basic credentials
    LOCKOUT = "lockout"  # 429 + Retry-After: too many wrong codes
    CODE_USED = "code-used"  # 401: the activation code matched but was already used
    CODE_EXPIRED = "code-expired"  # 401: the activation code matched but has expired
    CONTENT_TYPE = "content-type"  # 415: not application/pkcs10
    BODY = "body"  # 400: too large, not base64, empty
    CSR_SYNTAX = "csr-syntax"  # 400: not a DER PKCS#10
    CSR_KEY = "csr-key"  # 400: a key that cannot be read or is not accepted
    CSR_SIGNATURE = "csr-signature"  # 400: no proof of possession (RFC 2986)
    CSR_SUBJECT = "csr-subject"  # 400: CN or serialNumber wrong, or changed on renewal
    BINDING = "binding"  # 403: key serial unknown, blocked or bound to someone else
    RENEWAL_AUTH = "renewal-auth"  # 401: no client certificate, or not issued here
    REVOKED = "revoked"  # 403: the client certificate is revoked
    USER_DISABLED = "user-disabled"  # 403: the customer is disabled


def operation_path(operation: Operation) -> str:
    """The server-side path of ``operation``: ``/.well-known/est/simpleenroll``."""
    return f"{EST_PATH}/{operation}"


def operation_url(base_url: str, operation: Operation) -> str:
    """``operation`` under ``base_url`` (the configured ``…/.well-known/est/``)."""
    return f"{base_url if base_url.endswith('/') else base_url + '/'}{operation}"


def media_type(content_type: str) -> str:
    """The media type of a Content-Type value, lower case, parameters dropped (RFC 9110 8.3.1)."""
    return content_type.split(";", 1)[0].strip().lower()


def refusal_rule(header: str | None) -> Refusal | None:
    """The rule a refusal header names; None when absent or unknown (another EST server)."""
    try:
        return Refusal((header or "").strip())
    except ValueError:
        return None
