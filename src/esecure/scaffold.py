"""`esecure init`: a complete, documented key project with its trust material.

Layout written::

    esecure.toml               every field, commented
    assets/icon.ico, icon.png  the launcher's icon (autorun, tray)
    assets/logo.png            the bank's logo
    assets/guide/index.html    the user guide carried on the key
    trust/ca.pem               the CA the image trusts (made here, or imported with --ca-cert)
    trust/image-signing.pub.pem
    server/tls.pem             the reference server's TLS certificate (127.0.0.1, localhost)
    keys/                      private keys, 0600 (0700 directory), encrypted unless --demo
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from esecure import _assets
from esecure._fs import atomic_write
from esecure.config import CONFIG_NAME
from esecure.errors import ConfigError, Problem, UsageError
from esecure.trust import (
    DEMO_MARK,
    CAKey,
    Passphrase,
    load_certificate,
    load_private_key,
    make_ca,
    make_demo_code_signing,
    make_image_signing_key,
    make_server_certificate,
    write_certificate,
    write_private_key,
    write_public_key,
)

__all__ = ["InitOptions", "init_project"]

CA_CERT = "trust/ca.pem"
CA_KEY = "keys/ca.key.pem"
SIGNING_KEY = "keys/image-signing.key.pem"
SIGNING_PUB = "trust/image-signing.pub.pem"
SERVER_CERT = "server/tls.pem"
SERVER_KEY = "keys/server-tls.key.pem"
CODE_SIGNING_CERT = "trust/code-signing.pem"
CODE_SIGNING_CA = "trust/code-signing-ca.pem"
CODE_SIGNING_KEY = "keys/code-signing.key.pem"


@dataclass(frozen=True)
class InitOptions:
    """What `esecure init` was asked for."""

    demo: bool = False
    force: bool = False
    ca_cert: Path | None = None
    ca_key: Path | None = None
    product_id: str = "demo-bank"
    bank_name: str = "Demo Bank"


_TEMPLATE = """\
# e-secure key project. `esecure check .` validates this file; `esecure build .` makes the
# key image from it. Relative paths start at this directory. Unknown keys are errors.

[product]
# Short identifier of this project: lower-case letters, digits and dashes. Names the OS
# keyring entry that holds the private keys' passphrase ("e-secure" / id).
id = "{product_id}"
# The product's name as users see it (windows, tray, messages).
name = "e-secure"
# The bank's name, and its web portal's name (the guide's "Sogecash Net").
bank_name = "{bank_name}"
portal_name = "Sogecash Net"
# File name of the launcher on the key, without extension (Windows builds add ".exe").
launcher_name = "e-secure"
# Version of the key image and of the launcher it carries (PEP 440, e.g. "1.2.0").
version = "1.0.0"
# Languages of the launcher's windows and messages ("fr", "en"), and the default one
# (used when the computer's language is none of them).
languages = ["fr", "en"]
default_language = "fr"
# Support telephone number shown with every error that says "call support".
support_phone = "+33 1 23 45 67 89"

[urls]
# The bank's site the key's browser opens (https only).
site = "https://127.0.0.1:8443/"
# The EST enrolment service (RFC 7030) that issues the client certificates (https only).
enrolment = "https://127.0.0.1:8443/.well-known/est/"
# The signed update repository (TUF): any static web server, object store or CDN.
updates = "https://127.0.0.1:8443/updates/"
# Other hosts the key's browser may visit besides the site's (e.g. "static.bank.example",
# "*.bank.example"). Everything else is blocked.
allowed_hosts = []

[image]
# ISO 9660 volume label of the read-only CD-ROM partition: A-Z, 0-9, _ (at most 32).
volume_label = "E_SECURE"
# FAT volume label of the writable data partition: A-Z, 0-9, _ (at most 11).
data_label = "ESECUREDATA"
# Platforms the key carries and updates: "linux", "windows", "macos" (each needs its
# [firefox] installation below; macOS cannot be built yet). Default: every platform that
# has a [firefox] installation.
# platforms = ["linux", "windows"]
# Size of the writable data partition (FAT32, 4 KiB clusters) in MiB. Default: the
# minimum `esecure build` computes from the plan and prints — every update component of
# every platform replaced once, a new version being written and downloaded, profile,
# logs, reports, keys, update metadata, 10 % margin (at least 257 MiB). A number below
# that minimum is refused.
# data_size_mib = 2048

[branding]
# Colours of the launcher's windows ("#RRGGBB").
primary_colour = "#E60028"
secondary_colour = "#1D1D1B"
# Icon shown by Windows for the key's drive (autorun.inf) and by the tray.
icon_ico = "assets/icon.ico"
icon_png = "assets/icon.png"
# The bank's logo, shown in the launcher's windows.
logo = "assets/logo.png"
# The user guide carried on the key (HTML), opened from the tray and the windows.
guide = "assets/guide/index.html"

[firefox]
# Firefox ESR installation copied onto the key, per platform. Empty: no build for that
# platform. Debian's firefox-esr installs into /usr/lib/firefox-esr.
linux = "/usr/lib/firefox-esr"
# An unpacked Firefox ESR for Windows (the folder holding firefox.exe, xul.dll, ...) and
# the SHA-256 of its tree, pinned once you have checked it: `esecure firefox-hash DIR`
# prints it, and the build refuses any other tree (ES976).
windows = ""
windows_sha256 = ""
# Host-level browser policies (Linux /etc/firefox/policies, Windows Group Policy) can
# weaken the key's: "warn" tells the user and goes on, "refuse" stops the launcher.
host_policies = "warn"

[network]
# How the key reaches the network, for Firefox (its Proxy policy, locked) and for the
# launcher's own connections (enrolment, updates). "system": this computer's settings;
# "none": direct, even when the computer names a proxy; "http://host:port": that proxy
# for everything (no user name or password here: Firefox asks); "pac:https://…/proxy.pac":
# Firefox runs that script, the launcher uses this computer's settings (it runs no PAC).
proxy = "system"
# DNS-over-HTTPS in Firefox, locked: "off" (this computer's resolver), or the https URL of
# the bank's resolver ("https://dns.bank.example/dns-query"), used with no fallback.
doh = "off"

[certificates]
# Key pair made on the key for the client certificate: "ec-p256" or "rsa-3072".
key_algorithm = "ec-p256"
# Lifetime of a client certificate, and how long before its end the launcher renews it.
validity_days = 365
renew_before_days = 30

[updates]
# TUF root keys and how many of them must sign a new root ({root_threshold} of {root_keys}).
root_keys = {root_keys}
root_threshold = {root_threshold}
# Expiry of each TUF role's metadata. The timestamp expires quickly by design: a
# scheduled `esecure repo refresh` re-signs it.
root_expiry_days = 365
targets_expiry_days = 7
snapshot_expiry_days = 7
timestamp_expiry_days = 1
# The launcher's bound on an update check, and the longest it runs without a successful
# one (a freeze attack must not last for ever).
check_timeout_seconds = 10
max_offline_days = 30

[trust]
# Private keys under keys/ are encrypted with a passphrase from the OS keyring,
# ESECURE_PASSPHRASE, or a prompt. Only a demo project keeps them in clear.
encrypted_keys = {encrypted}
# The CA the image trusts. It signs the reference server's TLS certificate and issues the
# client certificates; empty ca_key when the bank's own PKI issues them.
ca_certificate = "{ca_cert}"
ca_key = "{ca_key}"
# Ed25519 key that signs every image's manifest; its public half goes into the image.
image_signing_key = "{signing_key}"
image_signing_public_key = "{signing_pub}"
# The reference server's TLS pair (for `esecure serve`); empty to run without it.
server_certificate = "{server_cert}"
server_key = "{server_key}"

[signing]
# Authenticode signing of e-secure.exe: the code-signing certificate, its key and the CA
# that issued it (what `esecure verify` checks the signature against). `esecure init
# --demo` makes a DEMO one, trusted by no Windows: name the bank's files here for a
# release. tsa_url: the bank's RFC 3161 timestamp authority (a signature without a
# trusted timestamp dies with its certificate), and the CA its timestamps chain to (what
# `esecure verify` checks them against). Empty, the signing time is the build's.
# A key on a hardware token (required of code-signing certificates since 2023): key =
# "pkcs11:token=…;object=…;type=private" (RFC 7512) and pkcs11_module = the token
# vendor's PKCS#11 module; the PIN comes from ESECURE_PKCS11_PIN at build time.
certificate = "{cs_cert}"
key = "{cs_key}"
ca_certificate = "{cs_ca}"
tsa_url = ""
tsa_ca_certificate = ""
pkcs11_module = ""
"""


def _render_config(options: InitOptions, *, has_ca_key: bool, has_server: bool) -> str:
    return _TEMPLATE.format(
        product_id=options.product_id,
        bank_name=options.bank_name.replace('"', "'"),
        root_keys=1 if options.demo else 3,
        root_threshold=1 if options.demo else 2,
        encrypted="false" if options.demo else "true",
        ca_cert=CA_CERT,
        ca_key=CA_KEY if has_ca_key else "",
        signing_key=SIGNING_KEY,
        signing_pub=SIGNING_PUB,
        server_cert=SERVER_CERT if has_server else "",
        server_key=SERVER_KEY if has_server else "",
        cs_cert=CODE_SIGNING_CERT if options.demo else "",
        cs_key=CODE_SIGNING_KEY if options.demo else "",
        cs_ca=CODE_SIGNING_CA if options.demo else "",
    )


def init_project(
    directory: Path,
    options: InitOptions,
    *,
    passphrase: Callable[[], bytes] | None,
    report: Callable[[str], None] = lambda _msg: None,
) -> list[Path]:
    """Create the key project in ``directory``; return the files written.

    ``passphrase`` supplies the key-encryption passphrase (not called for --demo). Existing
    private keys are never overwritten, even with --force: they are reused.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory", code="ES902")
    if directory.is_dir() and any(directory.iterdir()) and not options.force:
        raise UsageError(
            f"{directory} is not empty; use another directory or --force", code="ES902"
        )
    if options.ca_key and not options.ca_cert:
        raise UsageError("--ca-key needs --ca-cert (the certificate of that key)", code="ES901")
    secret = None if options.demo else _ask(passphrase)
    directory.mkdir(parents=True, exist_ok=True)
    keys_dir = directory / "keys"
    keys_dir.mkdir(mode=0o700, exist_ok=True)
    keys_dir.chmod(0o700)  # mkdir's mode is filtered by umask

    written: list[Path] = []
    ca_key, ca_cert = _ca(directory, options, secret, report, written)
    _signing_key(directory, secret, report, written)
    if ca_key is not None:
        _server_pair(
            directory, ca_key=ca_key, ca_cert=ca_cert, secret=secret, report=report, written=written
        )
    if options.demo:
        _demo_code_signing(directory, options.bank_name, report, written)
    report("writing the demo assets and esecure.toml")
    files = _assets_for(options.bank_name)
    files[".gitignore"] = (
        b"# Private keys stay out of version control, encrypted or not.\n/keys/\n/build/\n"
    )
    has_ca_key = ca_key is not None
    files[CONFIG_NAME] = _render_config(
        options, has_ca_key=has_ca_key, has_server=has_ca_key
    ).encode()
    for rel, data in files.items():
        atomic_write(directory / rel, data)
        written.append(directory / rel)
    return written


def _assets_for(bank_name: str) -> dict[str, bytes]:
    colour, secondary = "#E60028", "#1D1D1B"
    guide = _assets.guide_html("e-secure", "Sogecash Net", bank_name, "+33 1 23 45 67 89")
    return {
        "assets/icon.png": _assets.icon_png(colour),
        "assets/icon.ico": _assets.icon_ico(colour),
        "assets/logo.png": _assets.logo_png(colour, secondary),
        "assets/guide/index.html": guide.encode(),
    }


def _signing_key(
    directory: Path, secret: bytes | None, report: Callable[[str], None], written: list[Path]
) -> None:
    """The image-signing key: kept if present, else made; its public half always rewritten."""
    signing_path = directory / SIGNING_KEY
    if signing_path.exists():
        report(f"kept existing {SIGNING_KEY}")
        loaded = load_private_key(signing_path, _constant(secret))
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            raise ConfigError(
                Problem(str(signing_path), "an Ed25519 key", type(loaded).__name__, "remove it")
            )
        signing = loaded
    else:
        report("making the image-signing key (Ed25519)")
        signing = make_image_signing_key()
        write_private_key(signing_path, signing, secret)
        written.append(signing_path)
    write_public_key(directory / SIGNING_PUB, signing.public_key())
    written.append(directory / SIGNING_PUB)


def _demo_code_signing(
    directory: Path, bank_name: str, report: Callable[[str], None], written: list[Path]
) -> None:
    """A DEMO code-signing certificate for e-secure.exe (kept if present)."""
    key_path = directory / CODE_SIGNING_KEY
    if key_path.exists():
        report(f"kept existing {CODE_SIGNING_KEY}")
        return
    report(f"making a DEMO code-signing certificate ({DEMO_MARK}; trusted by no Windows)")
    key, cert, ca = make_demo_code_signing(bank_name)
    write_private_key(key_path, key, None)
    write_certificate(directory / CODE_SIGNING_CERT, cert)
    write_certificate(directory / CODE_SIGNING_CA, ca)
    written += [key_path, directory / CODE_SIGNING_CERT, directory / CODE_SIGNING_CA]


def _server_pair(
    directory: Path,
    *,
    ca_key: CAKey,
    ca_cert: x509.Certificate,
    secret: bytes | None,
    report: Callable[[str], None],
    written: list[Path],
) -> None:
    """The reference server's TLS pair, issued by the project's CA unless already there."""
    key_path, cert_path = directory / SERVER_KEY, directory / SERVER_CERT
    if key_path.exists() and cert_path.exists():
        report(f"kept existing {SERVER_KEY} and {SERVER_CERT}")
        return
    report("making the reference server's TLS certificate (localhost, 127.0.0.1)")
    server_key, server_cert = make_server_certificate(ca_key, ca_cert)
    write_private_key(key_path, server_key, secret)
    write_certificate(cert_path, server_cert)
    written += [key_path, cert_path]


def _ask(passphrase: Callable[[], bytes] | None) -> bytes:
    if passphrase is None:
        raise UsageError("the private keys need a passphrase (or use --demo)", code="ES903")
    return passphrase()


def _constant(secret: bytes | None) -> Callable[[], Passphrase] | None:
    if secret is None:
        return None
    return lambda: Passphrase(secret, "the passphrase already given")


def _ca(
    directory: Path,
    options: InitOptions,
    secret: bytes | None,
    report: Callable[[str], None],
    written: list[Path],
) -> tuple[CAKey | None, x509.Certificate]:
    """The project's CA: imported (--ca-cert [--ca-key]), kept, or made."""
    cert_path, key_path = directory / CA_CERT, directory / CA_KEY
    if options.ca_cert is not None:
        report(f"importing the CA certificate {options.ca_cert}")
        cert = load_certificate(options.ca_cert)
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise ConfigError(
                Problem(
                    str(options.ca_cert),
                    "a CA certificate (basicConstraints CA:TRUE)",
                    "an end-entity certificate",
                    "pass the certificate of the CA that issues your client certificates",
                )
            )
        write_certificate(cert_path, cert)
        written.append(cert_path)
        if options.ca_key is None:
            return None, cert
        key = _ca_key(load_private_key(options.ca_key, _constant(secret)), options.ca_key)
        write_private_key(key_path, key, secret)
        written.append(key_path)
        return key, cert
    if key_path.exists() and cert_path.exists():
        report(f"kept existing {CA_KEY} and {CA_CERT}")
        key = _ca_key(load_private_key(key_path, _constant(secret)), key_path)
        return key, load_certificate(cert_path)
    report("making the project's CA (EC P-256, 10 years)")
    key, cert = make_ca(f"{options.bank_name} e-secure CA", options.bank_name)
    write_private_key(key_path, key, secret)
    write_certificate(cert_path, cert)
    written += [key_path, cert_path]
    return key, cert


def _ca_key(key: object, path: Path) -> CAKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ConfigError(
            Problem(str(path), "an EC or RSA CA key", type(key).__name__, "pass the CA's key")
        )
    return key
