"""The key's credential in the data area: private key (encrypted PKCS#8) and certificate chain.

Layout (``<data area>/pki/``)::

    credential.pem   encrypted PKCS#8 private key, then the client certificate, then the CA
                     (one file, written atomically: key and certificate never disagree)
    secret           the per-key secret that encrypts the private key (32 random bytes)

The private key exists in clear only in this process's memory; what reaches the disk is the
encrypted PKCS#8 (AES-256-CBC, PBKDF2). Python's ``ssl`` loads ``credential.pem`` with the
secret as password, so renewal over TLS client authentication needs no clear copy either.
What the encryption does and does not protect against is in docs/threat-model.md: the
secret sits on the same key, so the key's contents as a whole are the possession factor.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from esecure._fs import atomic_write
from esecure.errors import EnrolmentError
from esecure.trust import spki

__all__ = ["Credential", "KeyStore", "PrivateKey", "generate_key"]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
_KEY_PEM_END = b"-----END ENCRYPTED PRIVATE KEY-----\n"


def generate_key(algorithm: str) -> PrivateKey:
    """A new key pair: ``ec-p256`` (default) or ``rsa-3072`` (project.certificates)."""
    if algorithm == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key algorithm {algorithm!r}")


@dataclass(frozen=True)
class Credential:
    """A private key and its certificate chain (leaf first)."""

    key: PrivateKey
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        """The client certificate."""
        return self.chain[0]


class KeyStore:
    """The ``pki/`` directory of a data area."""

    def __init__(self, data_area: Path) -> None:
        self.directory = Path(data_area) / "pki"
        self.credential_path = self.directory / "credential.pem"
        self.secret_path = self.directory / "secret"

    def secret(self) -> bytes:
        """The per-key secret, made on first use (32 random bytes, hex on disk).

        Only made while no credential is stored: ES210 naming the file otherwise.
        """
        try:
            text = self.secret_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise EnrolmentError(f"cannot read {self.secret_path}: {exc}", code="ES210") from None
        if not text:
            if self.credential_path.exists():
                # A torn write (FAT) or a deleted secret: a new one would lock the stored
                # key away for good; say so instead.
                raise EnrolmentError(
                    f"{self.secret_path} is missing or empty but {self.credential_path} "
                    "exists: the stored key cannot be decrypted",
                    code="ES210",
                )
            text = secrets.token_hex(32)
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write(self.secret_path, text.encode("ascii") + b"\n", mode=0o600)
        return text.encode("ascii")

    def exists(self) -> bool:
        """True when a credential was stored."""
        return self.credential_path.is_file()

    def encode(self, credential: Credential) -> bytes:
        """The bytes of ``credential.pem``: encrypted key, then the chain."""
        key_pem = credential.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self.secret()),
        )
        certs = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in credential.chain)
        return key_pem + certs

    def save(self, credential: Credential) -> None:
        """Store ``credential`` atomically (0600): the old one stays until the rename."""
        atomic_write(self.credential_path, self.encode(credential), mode=0o600)

    def load(self) -> Credential | None:
        """The stored credential, None if there is none; ES210 if it is damaged."""
        try:
            data = self.credential_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise EnrolmentError(
                f"cannot read {self.credential_path}: {exc.strerror}", code="ES210"
            ) from None
        key_end = data.find(_KEY_PEM_END)
        if key_end < 0:
            raise EnrolmentError(f"{self.credential_path} holds no encrypted key", code="ES210")
        try:
            key = serialization.load_pem_private_key(
                data[: key_end + len(_KEY_PEM_END)], password=self.secret()
            )
            chain = tuple(x509.load_pem_x509_certificates(data[key_end + len(_KEY_PEM_END) :]))
        except (ValueError, TypeError) as exc:
            raise EnrolmentError(
                f"{self.credential_path} is damaged ({exc})", code="ES210"
            ) from None
        if not isinstance(key, PrivateKey) or not chain:
            raise EnrolmentError(f"{self.credential_path} is incomplete", code="ES210")
        if spki(key.public_key()) != spki(chain[0].public_key()):
            raise EnrolmentError(
                f"{self.credential_path}: the certificate is not the key's", code="ES210"
            )
        return Credential(key, chain)

    def tls_files(self) -> tuple[str, bytes]:
        """(path, password) for ``ssl.SSLContext.load_cert_chain``: no clear key on disk."""
        return os.fspath(self.credential_path), self.secret()
