"""The self-check's decisions on small signed trees (the real image is in tests/bundle)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.bundle import tree
from esecure.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, encode_manifest, sign_manifest
from esecure.errors import IntegrityError, StorageError
from esecure.launcher import app, selfcheck
from esecure.launcher.selfcheck import (
    hashed_at_start,
    host_policy_weakenings,
    read_windows_group_policies,
    self_check,
)
from esecure_onkey.boot import Choice

KEY = ed25519.Ed25519PrivateKey.generate()
FILES = {
    "e-secure": b"\x7fELF",
    "lib/linux/esecure/__init__.py": b"",
    "firefox/linux/libxul.so": b"big" * 1000,
    "firefox/linux/distribution/policies.json": b'{"policies": {"BlockAboutConfig": true}}',
    "product.json": b"{}",
}


@pytest.fixture
def medium(tmp_path: Path) -> Path:
    root = tmp_path / "cd"
    for name, data in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "trust").mkdir()
    (root / "trust/image-signing.pub.pem").write_bytes(
        KEY.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    data = encode_manifest("p", "1", tree.entries(root, tree.walk_files(root)))
    (root / MANIFEST_NAME).write_bytes(data)
    (root / SIGNATURE_NAME).write_bytes(sign_manifest(data, KEY))
    return root


def _check(root: Path):
    return self_check(root, platform="linux")


def test_sound_medium_passes(medium):
    """All present, hashes right: passes, hashing the launcher's files but not Firefox's."""
    result = _check(medium)
    assert result.files == 6
    assert result.hashed == 5  # all but firefox/linux/libxul.so


def test_start_hashes_launcher_trust_and_policies_only():
    """The at-start predicate covers the launcher, trust/, profile and policies."""

    def hashed(path: str) -> bool:
        return hashed_at_start(path, "windows")

    assert hashed("e-secure.exe")
    assert hashed("runtime-windows/python311.dll")
    assert hashed("lib/windows/esecure/__init__.py")
    assert hashed("trust/ca.pem")
    assert hashed("firefox/windows/distribution/policies.json")
    assert not hashed("firefox/windows/xul.dll")
    assert not hashed("lib/linux/esecure/__init__.py")
    assert not hashed("runtime-linux/libpython3.11.so")
    assert hashed("firefox/windows/nss3.dll")
    assert not hashed("firefox/linux/libnss3.so")


def test_attack_changed_unhashed_file_of_other_size(medium):
    """A Firefox file of another size is caught by the size check: ES101 naming it."""
    (medium / "firefox/linux/libxul.so").write_bytes(b"short")
    with pytest.raises(IntegrityError, match=r"firefox/linux/libxul\.so: size 5") as info:
        _check(medium)
    assert info.value.code == "ES101"


def test_missing_file_is_e1(medium):
    """A listed file that is gone: ES101 naming it."""
    (medium / "product.json").unlink()
    with pytest.raises(IntegrityError, match=r"product\.json: listed in the manifest but missing"):
        _check(medium)


def test_missing_manifest_is_e1(medium):
    """No manifest at all: ES101 naming MANIFEST.json."""
    (medium / MANIFEST_NAME).unlink()
    with pytest.raises(IntegrityError, match=r"MANIFEST\.json is missing"):
        _check(medium)


def test_blocked_file_is_e4(medium, monkeypatch):
    """A listed file that exists but cannot be opened (antivirus): ES102 naming it."""
    real = tree.hash_file

    def blocked(path: Path) -> str:
        if path.name == "product.json":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(tree, "hash_file", blocked)
    with pytest.raises(StorageError, match=r"product\.json: cannot be opened") as info:
        _check(medium)
    assert info.value.code == "ES102"


def test_host_policies_that_drop_the_keys_are_reported(medium):
    """A Linux host policies file without BlockAboutConfig weakens the key."""
    found = host_policy_weakenings(medium, "linux", {"DisableTelemetry": True})
    assert [w.policy for w in found] == ["BlockAboutConfig"]
    assert (
        host_policy_weakenings(
            medium,
            "linux",
            json.loads(FILES["firefox/linux/distribution/policies.json"])["policies"],
        )
        == []
    )


def test_no_group_policy_reader_off_windows():
    """The Windows registry reader answers None on other systems."""
    assert read_windows_group_policies() is None


def _app_self_check(medium: Path, monkeypatch, stance: str, capsys) -> tuple[int, str, str]:
    (medium / "product.json").write_text(
        json.dumps({"launcher_name": "e-secure", "firefox": {"host_policies": stance}})
    )
    # product.json changed: re-sign the medium as the build would have.
    data = encode_manifest(
        "p",
        "1",
        tree.entries(
            medium, [p for p in tree.walk_files(medium) if p not in (MANIFEST_NAME, SIGNATURE_NAME)]
        ),
    )
    (medium / MANIFEST_NAME).write_bytes(data)
    (medium / SIGNATURE_NAME).write_bytes(sign_manifest(data, KEY))
    monkeypatch.setenv("ESECURE_CD_ROOT", str(medium))
    monkeypatch.setattr(selfcheck, "read_linux_host_policies", lambda: {"DisableTelemetry": 1})
    code = app.main(["--self-check"], boot=Choice(root=medium, slot=None, reason="test"))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_weakening_host_policies_warn_by_default(medium, monkeypatch, capsys):
    """host_policies = "warn": ES105 names the dropped policy, the check still passes."""
    code, out, err = _app_self_check(medium, monkeypatch, "warn", capsys)
    assert code == 0
    assert "ES105" in err
    assert "BlockAboutConfig: removed" in err
    assert out.startswith("self-check: ok")


def test_weakening_host_policies_refused_by_configuration(medium, monkeypatch, capsys):
    """host_policies = "refuse": ES105 and exit 1."""
    code, out, err = _app_self_check(medium, monkeypatch, "refuse", capsys)
    assert code == 1
    assert "ES105" in err
    assert out == ""


def _signed_slot(tmp_path: Path, key: ed25519.Ed25519PrivateKey = KEY) -> Path:
    root = tmp_path / "data" / "slots" / "A"
    for name, data in FILES.items():
        if name != "e-secure":  # a slot holds the application root, not the bootstrap
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    data = encode_manifest("p", "2", tree.entries(root, tree.walk_files(root)))
    (root / MANIFEST_NAME).write_bytes(data)
    (root / SIGNATURE_NAME).write_bytes(sign_manifest(data, key))
    return root


def _slot_self_check(medium: Path, slot: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    monkeypatch.setenv("ESECURE_CD_ROOT", str(medium))
    monkeypatch.setattr(selfcheck, "read_linux_host_policies", lambda: None)
    code = app.main(["--self-check"], boot=Choice(root=slot, slot="A", reason="test"))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_self_check_covers_the_running_slot(medium, tmp_path, monkeypatch, capsys):
    """Running an update from a slot: the slot is checked too, with the CD-ROM's key."""
    code, out, _err = _slot_self_check(medium, _signed_slot(tmp_path), monkeypatch, capsys)
    assert code == 0
    assert "running update at" in out
    assert "self-check: ok" in out


def test_self_check_names_a_changed_file_of_the_running_slot(medium, tmp_path, monkeypatch, capsys):
    """A same-size change of a hashed file of the running slot: ES101 naming the file."""
    slot = _signed_slot(tmp_path)
    policies = slot / "firefox/linux/distribution/policies.json"
    changed = b'{"policies": {"BlockAboutConfig": 1234}}'
    assert len(changed) == policies.stat().st_size
    policies.write_bytes(changed)
    code, out, err = _slot_self_check(medium, slot, monkeypatch, capsys)
    assert code == 1
    assert "ES101" in err
    assert "firefox/linux/distribution/policies.json: content differs" in err
    assert "ok" not in out


def test_self_check_refuses_a_slot_signed_with_its_own_key(medium, tmp_path, monkeypatch, capsys):
    """A slot signed by another key (its own trust/ is never used): ES101."""
    other = ed25519.Ed25519PrivateKey.generate()
    slot = _signed_slot(tmp_path, other)
    code, _out, err = _slot_self_check(medium, slot, monkeypatch, capsys)
    assert code == 1
    assert "ES101" in err
