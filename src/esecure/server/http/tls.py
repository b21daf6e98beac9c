"""The server's TLS policy: TLS 1.2 and 1.3 only, AEAD cipher suites only.

TLS 1.2 suites are limited to ECDHE key exchange with AES-GCM or ChaCha20-Poly1305 (no
CBC, RC4, 3DES or NULL suites, no static RSA key exchange); every TLS 1.3 suite is AEAD.
Renegotiation and compression are off. `tests/server/test_tls_scan.py` checks the result
with sslscan.
"""

from __future__ import annotations

import ssl

__all__ = ["TLS12_CIPHERS", "harden_tls"]

TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"


def harden_tls(context: ssl.SSLContext) -> ssl.SSLContext:
    """Apply the policy to a server ``context`` (in place); returns it."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= ssl.OP_NO_RENEGOTIATION
    return context
