"""e-secure.exe Authenticode-signed by the build; `esecure verify` checks the signature on
its own, so a program the manifest was re-signed for is still refused."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure._tools import SYSTEM
from esecure.bundle import manifest, tree
from esecure.bundle.authenticode import pem_in_clear, sign_pe
from esecure.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, sign_manifest
from esecure.bundle.verify import verify_image
from esecure.cli import cli
from esecure.config import load_project
from esecure.demo.images import EPOCH
from esecure.trust import load_private_key, make_demo_code_signing

pytestmark = pytest.mark.slow


def _verify(image: Path, project: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["--lang", "en", "verify", str(image), "--project", str(project)]
    )
    return result.exit_code, result.output


def _osslsigncode_verify(exe: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["osslsigncode", "verify", "-CAfile", str(ca), "-ignore-crl", "-in", str(exe)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_built_launcher_is_signed_by_the_demo_certificate(windows_image):
    """osslsigncode verify against the demo code-signing CA passes; the signer is the DEMO
    certificate; `esecure verify` says so; the build warned it is a demo certificate."""
    built, cd = windows_image
    project = load_project(built.project)
    assert project.signing.ca_certificate is not None
    proc = _osslsigncode_verify(cd / "e-secure.exe", project.signing.ca_certificate)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Signature verification: ok" in proc.stdout
    assert "Demo Bank e-secure (DEMO ONLY - NOT FOR RELEASE)" in proc.stdout
    code, output = _verify(built.cdrom, built.project)
    assert code == 0, output
    assert output.startswith(
        "e-secure.exe: Authenticode signature ok, signed by /CN=Demo Bank e-secure (DEMO ONLY - "
        "NOT FOR RELEASE)/O=Demo Bank\n"
    )
    assert "warning: e-secure.exe is signed with a DEMO certificate" in (
        built.stdout + built.stderr
    )


def test_the_signature_is_reproducible(windows_launcher, windows_image, tmp_path):
    """The session's own freeze, signed with the project's certificate at the same
    SOURCE_DATE_EPOCH, is byte for byte the image's e-secure.exe (unsigned bytes equal,
    and the signature deterministic)."""
    built, cd = windows_image
    s = load_project(built.project).signing
    assert s.certificate and s.key and s.ca_certificate
    exe = tmp_path / "e-secure.exe"
    shutil.copyfile(windows_launcher / "e-secure.exe", exe)
    sign_pe(
        exe,
        certificate=s.certificate,
        ca_certificate=s.ca_certificate,
        private_key_pem=pem_in_clear(load_private_key(s.key)),
        description="Demo Bank e-secure",
        epoch=int(EPOCH),
        tsa_url="",
        runner=SYSTEM,
    )
    assert exe.read_bytes() == (cd / "e-secure.exe").read_bytes()


def _resigned(cd: Path, dest: Path, exe: bytes, project: Path) -> Path:
    """A copy of ``cd`` (hard links: cheap) whose e-secure.exe is ``exe`` and whose
    manifest was validly re-signed with the project's image-signing key for it."""
    shutil.copytree(cd, dest, copy_function=lambda s, d: Path(d).hardlink_to(s))
    target = dest / "e-secure.exe"
    target.unlink()  # a new file: the session's image is never touched
    target.write_bytes(exe)
    for name in (MANIFEST_NAME, SIGNATURE_NAME):
        (dest / name).unlink()
    paths = tree.walk_files(dest)
    data = manifest.encode_manifest("demo-bank", "1.0.0", tree.entries(dest, paths))
    key = load_private_key(load_project(project).trust.image_signing_key)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    (dest / MANIFEST_NAME).write_bytes(data)
    (dest / SIGNATURE_NAME).write_bytes(sign_manifest(data, key))
    return dest


def test_attack_unsigned_launcher_with_a_resigned_manifest(
    windows_launcher, windows_image, tmp_path
):
    """The unsigned e-secure.exe of the freeze put in the image, the manifest validly
    re-signed for it: the manifest alone accepts it, `esecure verify` refuses it (ES975)
    naming the file."""
    built, cd = windows_image
    unsigned = (windows_launcher / "e-secure.exe").read_bytes()
    image = _resigned(cd, tmp_path / "cd", unsigned, built.project)
    public = load_project(built.project).trust.image_signing_public_key.read_bytes()
    verify_image(image, public)  # the manifest alone: no complaint
    code, output = _verify(image, built.project)
    assert code == 1, output
    assert "ES975" in output
    assert "e-secure.exe is not Authenticode-signed" in output
    assert (cd / "e-secure.exe").read_bytes() != unsigned  # the session's image untouched


def test_attack_launcher_signed_by_another_certificate(windows_launcher, windows_image, tmp_path):
    """e-secure.exe signed with another (well-formed) code-signing certificate, the
    manifest validly re-signed for it: `esecure verify` refuses it (ES975), naming it."""
    built, cd = windows_image
    key, cert, ca = make_demo_code_signing("Attacker Ltd")
    pem = serialization.Encoding.PEM
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(pem))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    exe = tmp_path / "e-secure.exe"
    shutil.copyfile(windows_launcher / "e-secure.exe", exe)
    sign_pe(
        exe,
        certificate=tmp_path / "cert.pem",
        ca_certificate=tmp_path / "ca.pem",
        private_key_pem=pem_in_clear(key),
        description="e-secure",
        epoch=int(EPOCH),
        tsa_url="",
        runner=SYSTEM,
    )
    assert _osslsigncode_verify(exe, tmp_path / "ca.pem").returncode == 0  # validly signed
    image = _resigned(cd, tmp_path / "cd", exe.read_bytes(), built.project)
    public = load_project(built.project).trust.image_signing_public_key.read_bytes()
    verify_image(image, public)
    code, output = _verify(image, built.project)
    assert code == 1, output
    assert "ES975" in output
    assert "e-secure.exe is not signed by the project's code-signing certificate" in output
