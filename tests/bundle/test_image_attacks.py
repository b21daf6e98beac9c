"""Attacks on the built image: the extracted launcher's self-check and `esecure verify`."""

from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, sign_manifest
from esecure.cli import cli

pytestmark = pytest.mark.slow


def _self_check(extracted) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(extracted / "e-secure"), "--self-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(extracted.parent)},
    )


def _verify(image, project) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, ["--lang", "en", "verify", str(image), "--project", str(project)]
    )
    return result.exit_code, result.output


def test_self_check_passes_on_the_image(extracted):
    """The launcher extracted from the ISO passes its own self-check."""
    proc = _self_check(extracted)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("self-check: ok")


@pytest.mark.parametrize(
    "culprit",
    [
        "lib/linux/tufup/client.py",
        "trust/ca.pem",
        "runtime-linux/base_library.zip",
        "app/product.json",
        "release.json",
        "firefox/linux/bundled-libs/libnspr4.so",  # the launcher loads it (T11)
    ],
)
def test_attack_flipped_byte_is_e1_naming_the_file(extracted, flipped, culprit):
    """One flipped byte in a launcher or trust/ file: ES101 (E1) naming that file."""
    flipped(culprit)
    proc = _self_check(extracted)
    assert proc.returncode == 1
    assert "ES101" in proc.stderr
    assert f"{culprit}: content differs" in proc.stderr


def test_attack_resigned_with_another_key_is_e1(extracted, flipped):
    """A manifest re-signed with another key: ES101 naming the manifest."""
    sig = extracted / SIGNATURE_NAME
    original = sig.read_bytes()
    flipped(SIGNATURE_NAME, 0)  # registers the restore; the content is replaced below
    sig.write_bytes(
        sign_manifest(
            (extracted / MANIFEST_NAME).read_bytes(), ed25519.Ed25519PrivateKey.generate()
        )
    )
    proc = _self_check(extracted)
    assert proc.returncode == 1
    assert "ES101" in proc.stderr
    assert "MANIFEST.json is not signed by the image-signing key" in proc.stderr
    assert original != sig.read_bytes()


def test_verify_passes_the_iso(demo_image):
    """esecure verify passes the good image, hashing every file."""
    code, output = _verify(demo_image.cdrom, demo_image.project)
    assert code == 0, output
    assert output.startswith(f"ok: {demo_image.cdrom}")


def test_verify_names_a_tampered_file(extracted, flipped, demo_image):
    """A flipped byte deep in Firefox (not hashed at start) is named by verify: ES915."""
    flipped("firefox/linux/omni.ja", 5000)
    code, output = _verify(extracted, demo_image.project)
    assert code == 1
    assert "ES915" in output
    assert "firefox/linux/omni.ja: content differs" in output


@pytest.mark.parametrize(
    "culprit",
    [
        "app/esecure/launcher/app.py",
        "app/product.json",
        "lib/linux/bottle.py",
        "app/licenses/sbom.cdx.json",  # a forged SBOM (e.g. a hidden component) is named
    ],
)
def test_verify_names_a_changed_byte_in_a_component(extracted, flipped, demo_image, culprit):
    """A flipped byte in app/ (the SBOM too) or lib/: esecure verify names that file
    (ES915)."""
    flipped(culprit)
    code, output = _verify(extracted, demo_image.project)
    assert code == 1
    assert "ES915" in output
    assert f"{culprit}: content differs from the manifest" in output


def test_verify_names_a_component_list_changed_with_the_manifest(extracted, flipped, demo_image):
    """The app's list edited and the manifest listing it re-signed with the project's key
    (a build gone wrong): the list no longer hashes to release.json's id (ES915)."""
    from esecure.bundle import manifest, release, tree  # noqa: PLC0415
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.trust import load_private_key  # noqa: PLC0415

    cid = json.loads((extracted / "release.json").read_text())["components"]["app"]
    at = release.list_path(cid)
    flipped(at, 40)
    flipped(MANIFEST_NAME, 0)  # registers the restore; both are replaced below
    flipped(SIGNATURE_NAME, 0)
    paths = [p for p in tree.walk_files(extracted) if p not in (MANIFEST_NAME, SIGNATURE_NAME)]
    data = manifest.encode_manifest("demo-bank", "1.0.0", tree.entries(extracted, paths))
    key = load_private_key(load_project(demo_image.project).trust.image_signing_key)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    (extracted / MANIFEST_NAME).write_bytes(data)
    (extracted / SIGNATURE_NAME).write_bytes(sign_manifest(data, key))
    code, output = _verify(extracted, demo_image.project)
    assert code == 1
    assert "ES915" in output
    assert f"{at}: does not hash to app's id in release.json" in output


def test_attack_verify_rejects_another_key(extracted, flipped, demo_image):
    """An image re-signed with another key is rejected against the project's key: ES914."""
    sig = extracted / SIGNATURE_NAME
    flipped(SIGNATURE_NAME, 0)
    sig.write_bytes(
        sign_manifest(
            (extracted / MANIFEST_NAME).read_bytes(), ed25519.Ed25519PrivateKey.generate()
        )
    )
    code, output = _verify(extracted, demo_image.project)
    assert code == 1
    assert "ES914" in output


def test_attack_verify_rejects_an_extra_file(extracted, demo_image):
    """A file the manifest does not list is named: ES915."""
    extra = extracted / "firefox" / "linux" / "evil.so"
    extra.write_bytes(b"payload")
    try:
        code, output = _verify(extracted, demo_image.project)
    finally:
        extra.unlink()
    assert code == 1
    assert "firefox/linux/evil.so: not listed in the manifest" in output


def test_verify_rejects_what_is_not_an_image(tmp_path, demo_image):
    """A file that is no ISO is ES918, exit 2."""
    bogus = tmp_path / "x.iso"
    bogus.write_bytes(b"\0" * 4096)
    code, output = _verify(bogus, demo_image.project)
    assert code == 2
    assert "ES918" in output


def test_attack_verify_rejects_a_symlink(extracted, demo_image):
    """A symbolic link planted in an extracted image is named, not followed: ES915."""
    link = extracted / "trust" / "evil"
    link.symlink_to("/etc/passwd")
    try:
        code, output = _verify(extracted, demo_image.project)
    finally:
        link.unlink()
    assert code == 1
    assert "ES915" in output
    assert "evil is a symbolic link" in output
