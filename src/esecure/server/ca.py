"""Issuing with the key project's CA: client certificates, the CRL, PKCS#7 certs-only.

The server never invents a CA: it signs with the one `esecure init` made (or imported with
its key), the same one the image trusts in ``trust/``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from esecure.config import Project
from esecure.errors import OperationError
from esecure.trust import CAKey, Passphrase, key_usage, load_certificate, load_private_key

__all__ = ["Issuer", "certs_only"]


def certs_only(certificates: list[x509.Certificate]) -> bytes:
    """A degenerate PKCS#7 SignedData holding ``certificates`` (RFC 7030 4.1.3, 4.2.3), DER."""
    return pkcs7.serialize_certificates(certificates, serialization.Encoding.DER)


@dataclass(frozen=True)
class Issuer:  # not slots: cached_property needs the instance dict
    """The project's CA, ready to sign."""

    key: CAKey
    certificate: x509.Certificate
    validity_days: int

    @classmethod
    def from_project(cls, project: Project, passphrase: Callable[[], Passphrase] | None) -> Issuer:
        """The CA of ``project``; ES934 when the project holds no CA key."""
        ca_key_path: Path | None = project.trust.ca_key
        if ca_key_path is None:
            raise OperationError(
                f"{project.config_path}: [trust] ca_key is empty: the reference server can "
                "only issue with the CA's private key",
                code="ES934",
            )
        key = load_private_key(ca_key_path, passphrase)
        if not isinstance(key, CAKey):
            raise OperationError(f"{ca_key_path}: not an EC or RSA CA key", code="ES934")
        return cls(
            key=key,
            certificate=load_certificate(project.trust.ca_certificate),
            validity_days=project.certificates.validity_days,
        )

    @functools.cached_property
    def _authority_key_id(self) -> x509.AuthorityKeyIdentifier:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())

    def issue(
        self,
        csr: x509.CertificateSigningRequest,
        *,
        identifier: str,
        key_serial: str,
        now: dt.datetime,
    ) -> x509.Certificate:
        """A TLS client certificate for the CSR's key, subject CN=identifier,
        serialNumber=key serial (the subject is rebuilt, never copied from the request)."""
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, identifier),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, key_serial),
            ]
        )
        public_key = csr.public_key()
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=self.validity_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                key_usage(ca=False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(self._authority_key_id, critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(public_key),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )

    def crl(
        self, revoked: Iterable[tuple[int, dt.datetime]], now: dt.datetime
    ) -> x509.CertificateRevocationList:
        """A CRL of (serial number, revocation date), valid one day."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + dt.timedelta(days=1))
        )
        for serial, when in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return builder.sign(self.key, hashes.SHA256())
