"""Test helpers: a CD-ROM root with an image-signing key, and slots signed like releases."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.bundle.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    encode_manifest,
    sign_manifest,
)
from esecure.bundle.tree import entries, walk_files
from esecure_onkey.layout import IMAGE_KEY
from esecure_onkey.records import Completion, encode_completion

KEY = ed25519.Ed25519PrivateKey.generate()


def make_cd(cd: Path, version: str = "1.0", key: ed25519.Ed25519PrivateKey = KEY) -> Path:
    """A CD-ROM root holding the image-signing public key and product.json of ``version``."""
    (cd / "trust").mkdir(parents=True, exist_ok=True)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (cd / IMAGE_KEY).write_bytes(pem)
    (cd / "product.json").write_text(f'{{"version": "{version}"}}\n')
    return cd


def sign_root(root: Path, version: str, key: ed25519.Ed25519PrivateKey = KEY) -> None:
    """Write MANIFEST.json(.sig) listing every file under ``root``, as `esecure publish` does."""
    paths = [p for p in walk_files(root) if p not in (MANIFEST_NAME, SIGNATURE_NAME)]
    data = encode_manifest("demo-bank", version, entries(root, paths))
    (root / MANIFEST_NAME).write_bytes(data)
    (root / SIGNATURE_NAME).write_bytes(sign_manifest(data, key))


def record_slot(data: Path, slot: str, version: str) -> None:
    """The completion record of every file now in the slot (what the install writes)."""
    root = data / "slots" / slot
    files = {}
    for name in walk_files(root):
        content = (root / name).read_bytes()
        files[name] = (len(content), hashlib.sha256(content).hexdigest())
    (data / "slots" / f"{slot}.complete").write_bytes(encode_completion(Completion(version, files)))


def make_slot(
    data: Path,
    slot: str,
    version: str,
    files: dict[str, bytes],
    *,
    key: ed25519.Ed25519PrivateKey | None = KEY,
) -> Path:
    """A slot holding ``files``, signed with ``key`` (None: unsigned), with its record."""
    root = data / "slots" / slot
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    if key is not None:
        sign_root(root, version, key)
    record_slot(data, slot, version)
    return root
