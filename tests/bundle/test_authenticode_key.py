"""Authenticode signing with the bank's code-signing key encrypted at rest (a passphrase
from the keyring, ESECURE_PASSPHRASE or a prompt): the real osslsigncode signs a real PE
(built with mingw) with the key decrypted into a private temporary file that is removed;
a wrong or missing passphrase stops before anything is written."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from esecure._tools import SYSTEM
from esecure.bundle.authenticode import PIN_ENV, check_pe, sign_launcher
from esecure.config import load_project
from esecure.demo.images import EPOCH
from esecure.errors import ConfigError, ToolError, UsageError
from esecure.trust import DEMO_MARK, Passphrase, load_private_key

SECRET = b"correct horse battery staple"
SOURCE = Path(__file__).resolve().parents[1] / "windows" / "hold_file.c"  # any small program


def _unsigned_stage(stage: Path) -> Path:
    """A stage holding an unsigned e-secure.exe (a real PE built with mingw)."""
    stage.mkdir()
    exe = stage / "e-secure.exe"
    flags = ["-municode", "-O2", "-s", "-Wl,--no-insert-timestamp"]
    gcc = ["x86_64-w64-mingw32-gcc", *flags, "-o", str(exe), str(SOURCE)]
    subprocess.run(gcc, check=True, capture_output=True, timeout=120)
    return stage


@pytest.fixture
def encrypted(demo_project: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The demo project with its code-signing key encrypted, and a stage holding an
    unsigned e-secure.exe."""
    project = load_project(demo_project)
    key_file = project.signing.key
    assert key_file is not None
    key = load_private_key(key_file)
    key_file.write_bytes(
        key.private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(SECRET),
        )
    )
    stage = _unsigned_stage(tmp_path / "stage")
    return demo_project, stage


def _sign(project_dir: Path, stage: Path, secret: bytes | None) -> tuple[str | None, list[str]]:
    said: list[str] = []
    supply = None if secret is None else (lambda: Passphrase(secret, "the test"))
    subject = sign_launcher(
        load_project(project_dir),
        stage,
        epoch=int(EPOCH),
        passphrase=supply,
        runner=SYSTEM,
        report=said.append,
    )
    return subject, said


def test_an_encrypted_code_signing_key_signs_with_its_passphrase(encrypted, tmp_path, monkeypatch):
    """The key is decrypted in memory, given to osslsigncode in a private temporary file
    that is gone afterwards; the signature chains to the project's code-signing CA."""
    project_dir, stage = encrypted
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the clear key goes
    assert b"ENCRYPTED" in load_project(project_dir).signing.key.read_bytes()  # type: ignore[union-attr]
    subject, said = _sign(project_dir, stage, SECRET)
    assert subject is not None and DEMO_MARK in subject
    ca = load_project(project_dir).signing.ca_certificate
    assert ca is not None
    assert check_pe(stage / "e-secure.exe", "e-secure.exe", ca_certificate=ca, runner=SYSTEM)
    assert any("Authenticode-signed by" in line for line in said)
    assert not list(scratch.iterdir())  # the key in clear is gone


@pytest.mark.parametrize(("secret", "code"), [(b"wrong passphrase", "ES904"), (None, "ES903")])
def test_attack_wrong_or_missing_passphrase_signs_nothing(encrypted, secret, code):
    """A wrong passphrase (ES904) or none (ES903): refused before osslsigncode runs; the
    program is left byte for byte unsigned."""
    project_dir, stage = encrypted
    before = (stage / "e-secure.exe").read_bytes()
    with pytest.raises(UsageError) as info:
        _sign(project_dir, stage, secret)
    assert info.value.code == code
    assert (stage / "e-secure.exe").read_bytes() == before


# --- a key on a PKCS#11 token (SoftHSM standing in for the bank's HSM or USB token) -------

SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN_URI = "pkcs11:token=esecure-cs;object=code-signing;type=private"
PIN = "1234"


def _set_key(project: Path, key: str, module: str) -> None:
    """[signing] key and pkcs11_module set in the project's esecure.toml."""
    config = project / "esecure.toml"
    lines = config.read_text().splitlines()
    signing = lines.index("[signing]")
    for i in range(signing, len(lines)):
        if lines[i].startswith("key = "):
            lines[i] = f'key = "{key}"'
        elif lines[i].startswith("pkcs11_module = "):
            lines[i] = f'pkcs11_module = "{module}"'
    config.write_text("\n".join(lines) + "\n")


def _softhsm(*args: str) -> None:
    subprocess.run(["softhsm2-util", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def token(demo_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The demo project's code-signing key moved onto a fresh SoftHSM token (the file is
    deleted); [signing] names it by URI with SoftHSM's module. A stage with an unsigned
    e-secure.exe, and a copy signed with the key file before it went."""
    assert SOFTHSM_MODULE.is_file(), "softhsm2 is missing: run build_scripts/install-system-deps.sh"
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    _softhsm("--init-token", "--free", "--label", "esecure-cs", "--so-pin", "5678", "--pin", PIN)
    project = load_project(demo_project)
    key_file = project.signing.key
    assert key_file is not None
    pkcs8 = tmp_path / "key8.pem"
    pkcs8.write_bytes(
        load_private_key(key_file).private_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    label = ["--token", "esecure-cs", "--label", "code-signing", "--id", "01"]
    _softhsm("--import", str(pkcs8), *label, "--pin", PIN)
    pkcs8.unlink()
    stage = _unsigned_stage(tmp_path / "stage")
    reference = tmp_path / "reference"
    reference.mkdir()
    shutil.copyfile(stage / "e-secure.exe", reference / "e-secure.exe")
    _sign(demo_project, reference, None)  # with the key file, before it goes
    key_file.unlink()
    _set_key(demo_project, TOKEN_URI, str(SOFTHSM_MODULE))
    return stage, reference


def _sign_with(project_dir: Path, stage: Path, environ: dict[str, str]) -> str | None:
    return sign_launcher(
        load_project(project_dir),
        stage,
        epoch=int(EPOCH),
        passphrase=None,
        runner=SYSTEM,
        report=lambda _line: None,
        environ=environ,
    )


def test_a_key_on_a_token_signs_the_same_bytes_as_the_key_file(demo_project, token):
    """With the key on the token (its file deleted), the PIN from ESECURE_PKCS11_PIN:
    e-secure.exe is signed, its chain checks out, and the bytes equal those the key file
    gave (RSA signs deterministically): the image stays reproducible."""
    stage, reference = token
    project = load_project(demo_project)
    assert project.signing.key is None and project.signing.key_uri == TOKEN_URI
    subject = _sign_with(demo_project, stage, {PIN_ENV: PIN})
    assert subject is not None and DEMO_MARK in subject
    assert project.signing.ca_certificate is not None
    ca = project.signing.ca_certificate
    check_pe(stage / "e-secure.exe", "e-secure.exe", ca_certificate=ca, runner=SYSTEM)
    assert (stage / "e-secure.exe").read_bytes() == (reference / "e-secure.exe").read_bytes()


def test_attack_wrong_pin_signs_nothing(demo_project, token):
    """A wrong PIN: the token refuses, ES975 names the program, which is left unsigned."""
    stage, _reference = token
    before = (stage / "e-secure.exe").read_bytes()
    with pytest.raises(ToolError) as info:
        _sign_with(demo_project, stage, {PIN_ENV: "0000"})
    assert info.value.code == "ES975"
    assert "e-secure.exe could not be signed" in info.value.detail
    assert (stage / "e-secure.exe").read_bytes() == before


def test_no_pin_is_es977_before_anything_runs(demo_project, token):
    """No ESECURE_PKCS11_PIN: ES977 naming the variable; nothing signed."""
    stage, _reference = token
    before = (stage / "e-secure.exe").read_bytes()
    with pytest.raises(UsageError) as info:
        _sign_with(demo_project, stage, {})
    assert info.value.code == "ES977"
    assert PIN_ENV in info.value.detail
    assert (stage / "e-secure.exe").read_bytes() == before


@pytest.mark.parametrize(
    ("key", "module", "culprit"),
    [
        (TOKEN_URI, "", "pkcs11_module"),  # a token key needs the token's module
        ("keys/code-signing.key.pem", str(SOFTHSM_MODULE), "key"),  # a module needs a URI
        ("pkcs11:token=bank cs;object=cs", str(SOFTHSM_MODULE), "key"),  # spaces: %20
    ],
)
def test_token_settings_that_cannot_work_are_refused_at_load(demo_project, key, module, culprit):
    _set_key(demo_project, key, module)
    with pytest.raises(ConfigError) as info:
        load_project(demo_project)
    assert any(f"[signing] {culprit}" in p.render() for p in info.value.problems), [
        p.render() for p in info.value.problems
    ]
