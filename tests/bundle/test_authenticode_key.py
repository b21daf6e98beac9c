"""Authenticode signing with the bank's code-signing key encrypted at rest (a passphrase
from the keyring, ESECURE_PASSPHRASE or a prompt): the real osslsigncode signs a real PE
(built with mingw) with the key decrypted into a private temporary file that is removed;
a wrong or missing passphrase stops before anything is written."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from esecure._tools import SYSTEM
from esecure.bundle.authenticode import check_pe, sign_launcher
from esecure.config import load_project
from esecure.demo.images import EPOCH
from esecure.errors import UsageError
from esecure.trust import DEMO_MARK, Passphrase, load_private_key

SECRET = b"correct horse battery staple"
SOURCE = Path(__file__).resolve().parents[1] / "windows" / "hold_file.c"  # any small program


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
    stage = tmp_path / "stage"
    stage.mkdir()
    subprocess.run(
        [
            "x86_64-w64-mingw32-gcc",
            "-municode",
            "-O2",
            "-s",
            "-Wl,--no-insert-timestamp",
            "-o",
            str(stage / "e-secure.exe"),
            str(SOURCE),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
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
