"""The key project's trust material: its CA, the reference server's TLS pair, the image-signing
key, how private keys are protected at rest, and where their passphrase comes from.

Decisions (is this a CA, does this key match that certificate) are pure functions over
objects; file and keyring access sit in small functions at the bottom.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from esecure._fs import atomic_write
from esecure.errors import ConfigError, Problem, UsageError

if TYPE_CHECKING:
    from esecure.config import Project

__all__ = [
    "DEMO_MARK",
    "PASSPHRASE_ENV",
    "Passphrase",
    "check_trust",
    "get_passphrase",
    "key_usage",
    "load_certificate",
    "load_checked_project",
    "load_private_key",
    "make_ca",
    "make_demo_code_signing",
    "make_image_signing_key",
    "make_server_certificate",
    "spki",
    "write_certificate",
    "write_private_key",
]

PASSPHRASE_ENV = "ESECURE_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
KEYRING_SERVICE = "e-secure"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
# Keys that can sign certificates (an imported bank CA may be RSA).
CAKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Passphrase:
    """A passphrase and the source it came from (said to the user, never the value)."""

    value: bytes
    source: str


def key_usage(*, ca: bool) -> x509.KeyUsage:
    """The key usage of the project's certificates: digital signature, and for a CA
    certificate and CRL signing too; nothing else (pure)."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- making material -------------------------------------------------------------------


def make_ca(
    common_name: str, organisation: str, *, days: int = 3650
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new CA (EC P-256) that signs the server's TLS certificate and the client certificates.

    Path length 0: it issues end-entity certificates only.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        ]
    )
    now = _now()
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            key_usage(ca=True),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_certificate(
    ca_key: CAKey,
    ca_cert: x509.Certificate,
    *,
    hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
    days: int = 397,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The reference server's TLS pair, signed by the project's CA (397 days: browser limit)."""
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


DEMO_MARK = "DEMO ONLY - NOT FOR RELEASE"


def make_demo_code_signing(
    bank_name: str, *, days: int = 3650
) -> tuple[rsa.RSAPrivateKey, x509.Certificate, x509.Certificate]:
    """A demo code-signing key, its certificate, and the demo CA certificate that issued it
    (the CA's key, EC P-256, is not kept: it issues this one certificate only). The signing
    key is RSA 2048 (a demo; a bank's is its own): RSA PKCS#1 v1.5 signatures are
    deterministic, so a signed e-secure.exe is reproducible (ECDSA's are not)."""
    now = _now()
    ca_key, ca = make_ca(f"e-secure demo code-signing CA ({DEMO_MARK})", bank_name, days=days)
    ca_name = ca.subject
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, f"{bank_name} e-secure ({DEMO_MARK})"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, bank_name),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            key_usage(ca=False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert, ca


def make_image_signing_key() -> ed25519.Ed25519PrivateKey:
    """The Ed25519 key that signs each image's manifest."""
    return ed25519.Ed25519PrivateKey.generate()


# --- files -------------------------------------------------------------------------------


def write_private_key(path: Path, key: PrivateKey, passphrase: bytes | None) -> None:
    """PKCS#8 PEM, encrypted when a passphrase is given; 0600 from the first byte."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    atomic_write(path, data, mode=0o600)


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    """A certificate as PEM."""
    atomic_write(path, cert.public_bytes(serialization.Encoding.PEM))


def write_public_key(path: Path, key: ed25519.Ed25519PublicKey) -> None:
    """A public key as SubjectPublicKeyInfo PEM."""
    atomic_write(
        path,
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def is_encrypted_pem(data: bytes) -> bool:
    """True for an encrypted PKCS#8 PEM (what non-demo projects keep)."""
    return b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM certificate; a ConfigError names the file if it is not one."""
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            Problem(str(path), "a PEM certificate", f"unusable content ({exc})", "replace it")
        ) from None


def load_private_key(path: Path, passphrase: Callable[[], Passphrase] | None = None) -> PrivateKey:
    """A PEM private key, decrypted with the passphrase (asked only when the key needs one)."""
    data = path.read_bytes()
    secret = None
    if is_encrypted_pem(data):
        if passphrase is None:
            raise UsageError(f"{path} is encrypted and no passphrase was given", code="ES903")
        secret = passphrase().value
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except (ValueError, TypeError) as exc:
        if secret is not None:
            raise UsageError(f"cannot decrypt {path}", code="ES904") from exc
        raise ConfigError(
            Problem(str(path), "a PEM private key", "unusable content", "replace it")
        ) from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    ):
        raise ConfigError(
            Problem(str(path), "an EC, RSA or Ed25519 key", type(key).__name__, "replace it")
        )
    return key


# --- passphrases -------------------------------------------------------------------------


def get_passphrase(
    project_id: str,
    *,
    prompt: Callable[[str], str] | None,
    environ: dict[str, str] | None = None,
) -> Passphrase:
    """The passphrase of a project's private keys: OS keyring, then ESECURE_PASSPHRASE, then
    ``prompt`` (None where there is no terminal). Raises ES903 when none is available."""
    secret = _from_keyring(project_id)
    if secret:
        return Passphrase(secret.encode(), f"the OS keyring ({KEYRING_SERVICE} / {project_id})")
    env = os.environ if environ is None else environ
    if env.get(PASSPHRASE_ENV):
        return Passphrase(env[PASSPHRASE_ENV].encode(), f"the {PASSPHRASE_ENV} variable")
    if prompt is not None:
        value = prompt(f"Passphrase for the private keys of {project_id}")
        if value:
            return Passphrase(value.encode(), "the prompt")
    raise UsageError(
        f"no passphrase for project {project_id!r} in the keyring, in {PASSPHRASE_ENV}, "
        "or from a prompt",
        code="ES903",
    )


def _from_keyring(project_id: str) -> str | None:
    try:
        import keyring  # noqa: PLC0415 - optional at run time, slow to import
        from keyring.errors import KeyringError  # noqa: PLC0415
    except ImportError:  # pragma: no cover - keyring is a dependency
        return None
    try:
        value = keyring.get_password(KEYRING_SERVICE, project_id)
    except KeyringError:  # no usable backend (headless machines): fall through to the next source
        return None
    return value if isinstance(value, str) and value else None


# --- checks -------------------------------------------------------------------------------


def check_trust(
    *,
    ca_cert_path: Path,
    ca_key_path: Path | None,
    signing_key_path: Path,
    signing_pub_path: Path,
    server_cert_path: Path | None,
    server_key_path: Path | None,
    encrypted: bool,
    now: dt.datetime | None = None,
) -> list[Problem]:
    """What is wrong with the trust material; needs no passphrase (encrypted keys are checked
    for their protection only, clear ones also for matching their public halves)."""
    now = now or _now()
    ca = load_certificate(ca_cert_path)
    problems = _check_ca(ca_cert_path, ca, now)
    for key_path in (p for p in (ca_key_path, signing_key_path, server_key_path) if p):
        problems += _check_key_file(key_path, encrypted=encrypted)
    if not encrypted:
        if ca_key_path and _public_der(load_private_key(ca_key_path)) != spki(ca.public_key()):
            problems.append(
                Problem(
                    str(ca_key_path),
                    "the private key of ca_certificate",
                    "another key",
                    "point ca_key at the CA's own key",
                )
            )
        signing = load_private_key(signing_key_path)
        pub = serialization.load_pem_public_key(signing_pub_path.read_bytes())
        if not isinstance(signing, ed25519.Ed25519PrivateKey) or _public_der(signing) != spki(pub):
            problems.append(
                Problem(
                    str(signing_key_path),
                    "the Ed25519 key whose public half is image_signing_public_key",
                    "another key",
                    "regenerate both with `esecure init --force` in a copy of the project",
                )
            )
    if server_cert_path:
        problems += _check_server(server_cert_path, ca, now)
    return problems


def load_checked_project(directory: Path) -> Project:
    """The key project in ``directory``, validated: its config, then its trust material.

    Raises ConfigError listing every problem; what `esecure check` and `esecure build` run.
    """
    from esecure.config import load_project  # noqa: PLC0415 - config stays free of crypto

    project = load_project(directory)
    t = project.trust
    problems = check_trust(
        ca_cert_path=t.ca_certificate,
        ca_key_path=t.ca_key,
        signing_key_path=t.image_signing_key,
        signing_pub_path=t.image_signing_public_key,
        server_cert_path=t.server_certificate,
        server_key_path=t.server_key,
        encrypted=t.encrypted_keys,
    )
    if problems:
        raise ConfigError(problems)
    return project


def _check_ca(path: Path, ca: x509.Certificate, now: dt.datetime) -> list[Problem]:
    problems = []
    constraints = _basic_constraints(ca)
    if constraints is None or not constraints.ca:
        problems.append(
            Problem(
                str(path),
                "a CA certificate (basicConstraints CA:TRUE)",
                "an end-entity certificate",
                "point ca_certificate at the CA itself, not at a certificate it issued",
            )
        )
    if ca.not_valid_after_utc <= now:
        problems.append(
            Problem(
                str(path),
                "a certificate still valid",
                f"expired on {ca.not_valid_after_utc:%Y-%m-%d}",
                "renew the CA and rebuild the images",
            )
        )
    return problems


def _check_key_file(path: Path, *, encrypted: bool) -> list[Problem]:
    problems = []
    mode = path.stat().st_mode & 0o777
    if os.name == "posix" and mode & 0o077:
        problems.append(
            Problem(
                str(path),
                "a private key readable by its owner only (0600)",
                f"mode {mode:04o}",
                f"chmod 600 {path}",
            )
        )
    protected = is_encrypted_pem(path.read_bytes())
    if encrypted and not protected:
        problems.append(
            Problem(
                str(path),
                "an encrypted private key ([trust] encrypted_keys = true)",
                "a key in clear",
                "re-create the project with `esecure init` (without --demo)",
            )
        )
    elif not encrypted and protected:
        problems.append(
            Problem(
                str(path),
                "a key in clear ([trust] encrypted_keys = false)",
                "an encrypted key",
                "set encrypted_keys = true",
            )
        )
    return problems


def _check_server(path: Path, ca: x509.Certificate, now: dt.datetime) -> list[Problem]:
    problems = []
    server = load_certificate(path)
    if server.issuer != ca.subject:
        problems.append(
            Problem(
                str(path),
                f"a certificate issued by {ca.subject.rfc4514_string()}",
                f"one issued by {server.issuer.rfc4514_string()}",
                "issue the server certificate from the project's CA",
            )
        )
    if server.not_valid_after_utc <= now:
        problems.append(
            Problem(
                str(path),
                "a certificate still valid",
                f"expired on {server.not_valid_after_utc:%Y-%m-%d}",
                "issue a new server certificate",
            )
        )
    return problems


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _public_der(key: PrivateKey) -> bytes:
    return spki(key.public_key())


def spki(key: object) -> bytes:
    """The DER SubjectPublicKeyInfo of any public key (compare keys with it)."""
    public_bytes = getattr(key, "public_bytes")  # noqa: B009 - every public key type has it
    der: bytes = public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der
