"""Authenticode: the project's signature on the Windows programs it produces.

``e-secure.exe`` (the PyInstaller bootloader with the project's archive) is the one PE
the project itself produces; the DLLs and ``.pyd`` beside it keep their makers'
signatures (the Python Software Foundation's, checked before the freeze). The build signs
it with the ``[signing]`` code-signing certificate (:func:`sign_pe`, ``osslsigncode``),
with an RFC 3161 timestamp from ``[signing] tsa_url`` when set (a signature without a
trusted timestamp dies with its certificate); without a timestamp the signing time is
``SOURCE_DATE_EPOCH``, so the signed file is reproducible too. ``esecure verify`` checks
each such PE's signature chain to ``[signing] ca_certificate`` on its own, whatever the
manifest says (:func:`check_pe`): an unsigned or wrongly signed program is named (ES975).

``esecure init --demo`` makes a demo certificate (:func:`esecure.trust.make_demo_code_signing`), its
names saying DEMO: Windows trusts it nowhere. A bank imports its own (certificate, key,
issuing CA) by naming them in ``[signing]``: a key file (decrypted in memory, given to
osslsigncode in a private temporary file that is removed), or — as code-signing
certificates have required since 2023 — a key that never leaves a hardware token:
``key = "pkcs11:…"`` (RFC 7512) with ``pkcs11_module`` the token vendor's PKCS#11 module,
the PIN from ``ESECURE_PKCS11_PIN`` (ES977 when missing), through OpenSSL's pkcs11 engine
(Debian's ``libengine-pkcs11-openssl``). An RSA key signs deterministically on a token
too: the image stays reproducible (tested with SoftHSM).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from esecure._tools import Runner
from esecure.bundle.verify import read_member
from esecure.bundle.wine import OSSLSIGNCODE
from esecure.config import Project
from esecure.errors import IntegrityError, ToolError, UsageError
from esecure.trust import DEMO_MARK, Passphrase, load_private_key
from esecure_onkey.layout import executable_name

__all__ = [
    "PIN_ENV",
    "TokenKey",
    "check_image_pes",
    "check_pe",
    "pem_in_clear",
    "sign_launcher",
    "sign_pe",
    "signing_key",
]

SIGN_TIMEOUT = 120
_OK = "Signature verification: ok"
PIN_ENV = "ESECURE_PKCS11_PIN"


@dataclass(frozen=True)
class TokenKey:
    """A code-signing key on a PKCS#11 token: its module, its RFC 7512 URI, the user PIN."""

    module: Path
    uri: str
    pin: bytes = field(repr=False)


def _private_file(directory: Path, name: str, data: bytes) -> Path:
    """``data`` in a new file readable by this user alone."""
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def sign_pe(
    path: Path,
    *,
    certificate: Path,
    ca_certificate: Path,
    private_key_pem: bytes | TokenKey,
    description: str,
    epoch: int,
    tsa_url: str,
    runner: Runner,
) -> None:
    """Sign the PE at ``path`` in place (Authenticode, SHA-256). ``private_key_pem`` is the
    key in clear, written for osslsigncode into a private temporary directory (0700, the
    file 0600) and removed; or a :class:`TokenKey`, whose PIN alone goes to such a file
    (``-readpass``: never on a command line) while the key stays on the token. ES975 if
    osslsigncode fails; ``path`` is replaced only by a signed file."""
    with tempfile.TemporaryDirectory(prefix="esecure-sign-") as tmp:
        work = Path(tmp)
        work.chmod(0o700)
        if isinstance(private_key_pem, TokenKey):
            pin = _private_file(work, "pin", private_key_pem.pin)
            key_args = ["-pkcs11module", str(private_key_pem.module)]
            key_args += ["-key", private_key_pem.uri, "-readpass", str(pin)]
        else:
            key_args = ["-key", str(_private_file(work, "key.pem", private_key_pem))]
        chain = work / "chain.pem"
        chain.write_bytes(certificate.read_bytes() + ca_certificate.read_bytes())
        signed = work / "signed.exe"
        args = ["sign", "-certs", str(chain), *key_args, "-h", "sha256"]
        args += ["-n", description]
        args += ["-ts", tsa_url] if tsa_url else ["-time", str(epoch)]
        args += ["-in", str(path), "-out", str(signed)]
        try:
            runner.run(
                OSSLSIGNCODE,
                args,
                needed_by="signing e-secure.exe (Authenticode)",
                code="ES975",
                timeout=SIGN_TIMEOUT,
            )
        except ToolError as exc:
            if exc.code == "ES919":
                raise
            where = f" (timestamp authority {tsa_url})" if tsa_url else ""
            raise ToolError(
                f"{path.name} could not be signed{where}: {exc.detail}", code="ES975"
            ) from None
        if not signed.is_file():  # osslsigncode may say "Failed" and exit 0 (a token)
            what = f"{path.name} could not be signed: osslsigncode wrote nothing"
            raise ToolError(what, code="ES975")
        signed.replace(path)


def check_pe(
    path: Path,
    name: str,
    *,
    ca_certificate: Path,
    runner: Runner,
    tsa_ca: Path | None = None,
) -> str:
    """The signer's subject if ``path`` carries a valid Authenticode signature chaining to
    ``ca_certificate``; IntegrityError ES975 naming ``name`` otherwise (unsigned, altered,
    or signed by another certificate)."""
    args = ["verify", "-CAfile", str(ca_certificate), "-ignore-crl", "-in", str(path)]
    if tsa_ca is not None:
        args[3:3] = ["-TSA-CAfile", str(tsa_ca)]
    result = runner.run(
        OSSLSIGNCODE,
        args,
        needed_by="checking e-secure.exe's Authenticode signature",
        code="ES975",
        timeout=SIGN_TIMEOUT,
        check=False,
    )
    text = result.stdout + result.stderr
    if "No signature found" in text or "Number of signatures: 0" in text:
        raise IntegrityError(f"{name} is not Authenticode-signed", code="ES975")
    if result.returncode != 0 or _OK not in text:
        raise IntegrityError(
            f"{name} is not signed by the project's code-signing certificate (its "
            f"Authenticode signature does not verify against {ca_certificate.name}: "
            f"{_reason(text)})",
            code="ES975",
        )
    if tsa_ca is not None and "Timestamp Server Signature verification: ok" not in text:
        raise IntegrityError(
            f"{name} has no timestamp that verifies against {tsa_ca.name} (the timestamp "
            "authority's CA): a signature without a trusted timestamp dies with its "
            "certificate",
            code="ES975",
        )
    return _signer(text)


def _reason(text: str) -> str:
    for line in text.splitlines():
        if "error" in line.lower() or "failed" in line.lower():
            return line.strip()[-200:]
    return "verification failed"


def _signer(text: str) -> str:
    for line in text.splitlines():
        if line.strip().startswith("Subject:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def pem_in_clear(key: object) -> bytes:
    """A loaded private key as unencrypted PKCS#8 PEM (for osslsigncode's -key)."""
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ToolError(
            f"the code-signing key is a {type(key).__name__}, not an EC or RSA key", code="ES975"
        )
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def sign_launcher(
    project: Project,
    stage: Path,
    *,
    epoch: int,
    passphrase: Callable[[], Passphrase] | None,
    runner: Runner,
    report: Callable[[str], None],
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Sign the Windows launcher of ``stage`` (if it holds one) with ``[signing]``; returns
    what the build report says of it (None: no Windows launcher). Without ``[signing]`` the
    program stays unsigned, and the build says so."""
    name = executable_name(project.product.launcher_name, "windows")
    exe = stage / name
    if not exe.is_file():
        return None
    s = project.signing
    if not s.enabled or s.certificate is None or s.ca_certificate is None:
        report(
            f"warning: {name} is NOT Authenticode-signed ([signing] is empty): antivirus "
            "products flag unsigned programs first; set [signing] before a release"
        )
        return "unsigned"
    key = signing_key(project, passphrase, os.environ if environ is None else environ)
    sign_pe(
        exe,
        certificate=s.certificate,
        ca_certificate=s.ca_certificate,
        private_key_pem=key,
        description=f"{project.product.bank_name} {project.product.name}",
        epoch=epoch,
        tsa_url=s.tsa_url,
        runner=runner,
    )
    subject = check_pe(
        exe, name, ca_certificate=s.ca_certificate, runner=runner, tsa_ca=s.tsa_ca_certificate
    )
    timestamp = f", timestamped by {s.tsa_url}" if s.tsa_url else ""
    report(f"{name}: Authenticode-signed by {subject}{timestamp}")
    if DEMO_MARK in subject:
        report(f"warning: {name} is signed with a DEMO certificate: never ship this image")
    return subject


def signing_key(
    project: Project, passphrase: Callable[[], Passphrase] | None, environ: Mapping[str, str]
) -> bytes | TokenKey:
    """The code-signing key of ``[signing]``: a file's key in clear (decrypted with the
    passphrase when encrypted), or the token's with its PIN from ESECURE_PKCS11_PIN."""
    s = project.signing
    if s.key_uri and s.pkcs11_module is not None:
        pin = environ.get(PIN_ENV, "")
        if not pin:
            raise UsageError(
                f"[signing] key is on a PKCS#11 token ({s.key_uri}) and {PIN_ENV} is not set",
                code="ES977",
            )
        return TokenKey(s.pkcs11_module, s.key_uri, pin.encode())
    if s.key is None:
        raise UsageError("[signing] names no code-signing key", code="ES975")
    return pem_in_clear(load_private_key(s.key, passphrase))


def check_image_pes(project: Project, image: Path, runner: Runner) -> list[tuple[str, str]]:
    """``esecure verify``'s Authenticode check of an image (ISO or extracted tree), on its
    own, whatever its manifest says: every PE the project produces (the Windows launcher)
    the image holds must chain to ``[signing] ca_certificate``. Returns (name, signer) of
    each checked; ES975 names the first that fails. Without ``[signing]``, nothing."""
    ca = project.signing.ca_certificate
    name = executable_name(project.product.launcher_name, "windows")
    if ca is None:
        return []
    data = read_member(image, name)
    if data is None:
        return []
    with tempfile.TemporaryDirectory(prefix="esecure-verify-") as tmp:
        copy = Path(tmp) / name
        copy.write_bytes(data)
        tsa_ca = project.signing.tsa_ca_certificate
        return [(name, check_pe(copy, name, ca_certificate=ca, runner=runner, tsa_ca=tsa_ca))]
