"""Trust material: making it, protecting it, checking it, and where passphrases come from."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from esecure import trust
from esecure.cli import cli
from esecure.config import load_project
from esecure.errors import ConfigError, UsageError


def _check(project_dir, **overrides):
    t = load_project(project_dir).trust
    args = {
        "ca_cert_path": t.ca_certificate,
        "ca_key_path": t.ca_key,
        "signing_key_path": t.image_signing_key,
        "signing_pub_path": t.image_signing_public_key,
        "server_cert_path": t.server_certificate,
        "server_key_path": t.server_key,
        "encrypted": t.encrypted_keys,
    }
    args.update(overrides)
    return [p.render() for p in trust.check_trust(**args)]


def test_demo_trust_material_is_consistent(demo_project):
    """A fresh project's CA, keys and server certificate pass every check."""
    assert _check(demo_project) == []


def test_server_certificate_is_issued_by_the_ca_for_loopback(demo_project):
    """The server's TLS certificate names localhost and 127.0.0.1 and verifies under the CA."""
    ca = trust.load_certificate(demo_project / "trust" / "ca.pem")
    server = trust.load_certificate(demo_project / "server" / "tls.pem")
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert constraints.path_length == 0


def test_swapped_ca_key_is_detected(demo_project):
    """A CA key that is not the certificate's is named."""
    other, _ = trust.make_ca("Other", "Other")
    trust.write_private_key(demo_project / "keys" / "ca.key.pem", other, None)
    problems = _check(demo_project)
    assert len(problems) == 1
    assert "expected the private key of ca_certificate, found another key" in problems[0]


def test_end_entity_certificate_as_ca_is_refused(demo_project):
    """Pointing ca_certificate at the server certificate is refused."""
    problems = _check(demo_project, ca_cert_path=demo_project / "server" / "tls.pem")
    assert any("expected a CA certificate (basicConstraints CA:TRUE)" in p for p in problems)


def test_expired_material_is_reported(demo_project):
    """Ten years and a day later, the CA and the server certificate have expired."""
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3651)
    problems = _check(demo_project, now=later)
    assert sum("expected a certificate still valid" in p for p in problems) == 2


def test_signing_key_must_match_its_public_half(demo_project):
    """A replaced image-signing public key is detected."""
    other = trust.make_image_signing_key()
    trust.write_public_key(demo_project / "trust" / "image-signing.pub.pem", other.public_key())
    problems = _check(demo_project)
    assert problems and "image_signing_public_key" in problems[0]


def test_encrypted_key_needs_the_right_passphrase(tmp_path):
    """An encrypted key loads with its passphrase; a wrong one is ES904, none is ES903."""
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "k.pem"
    trust.write_private_key(path, key, b"right")
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = trust.load_private_key(path, lambda: trust.Passphrase(b"right", "test"))
    assert loaded.private_numbers() == key.private_numbers()
    with pytest.raises(UsageError) as wrong:
        trust.load_private_key(path, lambda: trust.Passphrase(b"wrong", "test"))
    assert wrong.value.code == "ES904"
    with pytest.raises(UsageError) as missing:
        trust.load_private_key(path)
    assert missing.value.code == "ES903"


def test_passphrase_sources_in_order(monkeypatch):
    """Keyring first, then ESECURE_PASSPHRASE, then the prompt; each says its source."""
    monkeypatch.setattr(trust, "_from_keyring", lambda _id: "from-keyring")
    got = trust.get_passphrase("p", prompt=lambda _t: "typed", environ={"ESECURE_PASSPHRASE": "e"})
    assert got == trust.Passphrase(b"from-keyring", "the OS keyring (e-secure / p)")
    monkeypatch.setattr(trust, "_from_keyring", lambda _id: None)
    got = trust.get_passphrase("p", prompt=lambda _t: "typed", environ={"ESECURE_PASSPHRASE": "e"})
    assert got == trust.Passphrase(b"e", "the ESECURE_PASSPHRASE variable")
    got = trust.get_passphrase("p", prompt=lambda _t: "typed", environ={})
    assert got == trust.Passphrase(b"typed", "the prompt")
    with pytest.raises(UsageError) as none:
        trust.get_passphrase("p", prompt=None, environ={})
    assert none.value.code == "ES903"


def test_keyring_without_backend_falls_through():
    """On a headless machine with no keyring backend, the keyring source yields nothing."""
    assert trust._from_keyring("demo-bank") is None


def _bank_ca(tmp_path, *, ca: bool):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Bank Root")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "bank-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path = tmp_path / "bank-ca.key"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path, key_path


def test_init_imports_a_bank_ca_certificate(tmp_path):
    """--ca-cert imports the bank's CA: no CA key, no server pair, check passes and says so."""
    ca_path, _ = _bank_ca(tmp_path, ca=True)
    project = tmp_path / "p"
    result = CliRunner().invoke(cli, ["init", "--demo", "--ca-cert", str(ca_path), str(project)])
    assert result.exit_code == 0, result.output
    assert (project / "trust" / "ca.pem").read_bytes() == ca_path.read_bytes()
    assert not (project / "keys" / "ca.key.pem").exists()
    result = CliRunner().invoke(cli, ["check", str(project)])
    assert result.exit_code == 0, result.output
    assert "warning: no CA key: certificates are issued by the bank's own PKI" in result.output


def test_init_imports_an_rsa_bank_ca_with_its_key(tmp_path):
    """--ca-cert with --ca-key (RSA) lets the reference server issue: a server pair is made."""
    ca_path, key_path = _bank_ca(tmp_path, ca=True)
    project = tmp_path / "p"
    args = ["init", "--demo", "--ca-cert", str(ca_path), "--ca-key", str(key_path), str(project)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    server = trust.load_certificate(project / "server" / "tls.pem")
    server.verify_directly_issued_by(trust.load_certificate(ca_path))
    assert CliRunner().invoke(cli, ["check", str(project)]).exit_code == 0


def test_init_refuses_an_end_entity_certificate_as_ca(tmp_path):
    """--ca-cert with a non-CA certificate: ES901 naming the file, nothing imported."""
    ca_path, _ = _bank_ca(tmp_path, ca=False)
    result = CliRunner().invoke(
        cli, ["init", "--demo", "--ca-cert", str(ca_path), str(tmp_path / "p")]
    )
    assert result.exit_code == 2
    assert f"{ca_path}: expected a CA certificate (basicConstraints CA:TRUE)" in result.output
    assert not (tmp_path / "p" / "trust" / "ca.pem").exists()


def test_load_certificate_names_a_broken_file(tmp_path):
    """Garbage where a certificate should be: a ConfigError naming the file."""
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate")
    with pytest.raises(ConfigError) as caught:
        trust.load_certificate(path)
    assert caught.value.problems[0].where == str(path)
