"""Test helpers: a CD-ROM root and data-area releases laid out as format 1 says, signed
with a test image-signing key (what `esecure build` and `esecure publish` write)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure_onkey import layout
from esecure_onkey.components import (
    component_names,
    digest,
    encode_component_list,
    encode_release,
    mount,
)
from esecure_onkey.records import Pointer, encode_component_completion, encode_pointer

KEY = ed25519.Ed25519PrivateKey.generate()
PLATFORM = layout.platform_name()
PRODUCT = "demo-bank"
LABEL = "ESECDATA"
Files = dict[str, bytes]


def pem(key: ed25519.Ed25519PrivateKey = KEY) -> bytes:
    """The PEM public key (SubjectPublicKeyInfo) of ``key``."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(data: bytes, key: ed25519.Ed25519PrivateKey = KEY) -> bytes:
    """A ``.sig`` file's bytes for ``data``."""
    return base64.b64encode(key.sign(data)) + b"\n"


def listed(files: Files) -> dict[str, tuple[int, str]]:
    """path -> (size, sha256) of ``files``."""
    return {p: (len(b), hashlib.sha256(b).hexdigest()) for p, b in files.items()}


def write_tree(root: Path, files: Files) -> None:
    """Write ``files`` under ``root``."""
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)


def product_json(version: str) -> bytes:
    """A product.json the bootstrap and the launcher read."""
    doc = {"format": 1, "id": PRODUCT, "version": version, "data": {"label": LABEL}}
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


def default_components(version: str, key: ed25519.Ed25519PrivateKey = KEY) -> dict[str, Files]:
    """Small components for this platform, with the files the start check cares about."""
    return {
        "app": {
            "product.json": product_json(version),
            "esecure/__init__.py": f'__version__ = "{version}"\n'.encode(),
        },
        f"deps-{PLATFORM}": {"six.py": b"X = 1\n", "pkg/__init__.py": b""},
        f"firefox-{PLATFORM}": {
            "firefox": b"\x7fELF" + b"\0" * 60,
            "omni.ja": b"omni" * 100,
            "libnss3.so": b"nss" * 10,
            "distribution/policies.json": b'{"policies": {}}',
        },
        "profile": {"user.js": b'user_pref("a", 1);\n'},
        "trust": {"ca.pem": b"-----BEGIN CERTIFICATE-----\n", "image-signing.pub.pem": pem(key)},
    }


def make_cd(
    cd: Path,
    version: str = "1.0",
    components: dict[str, Files] | None = None,
    key: ed25519.Ed25519PrivateKey = KEY,
) -> dict[str, str]:
    """A CD-ROM root of release ``version``; returns component name -> id."""
    parts = components if components is not None else default_components(version, key)
    ids = {}
    for name, files in parts.items():
        write_tree(cd / mount(name), files)
        data = encode_component_list(name, listed(files))
        cid = digest(data)
        ids[name] = cid
        layout.cd_component_file(cd, cid, ".list").parent.mkdir(parents=True, exist_ok=True)
        layout.cd_component_file(cd, cid, ".list").write_bytes(data)
        layout.cd_component_file(cd, cid, ".sig").write_bytes(sign(data, key))
    record = encode_release(PRODUCT, version, ids)
    (cd / layout.CD_RELEASE).write_bytes(record)
    (cd / layout.CD_RELEASE_SIG).write_bytes(sign(record, key))
    return ids


def put_component(
    data: Path,
    name: str,
    files: Files,
    *,
    key: ed25519.Ed25519PrivateKey = KEY,
    complete: bool = True,
) -> str:
    """Component ``name`` with ``files`` in the store of ``data``; returns its id."""
    listing = encode_component_list(name, listed(files))
    cid = digest(listing)
    write_tree(layout.component_dir(data, cid), files)
    layout.component_file(data, cid, ".list").write_bytes(listing)
    layout.component_file(data, cid, ".sig").write_bytes(sign(listing, key))
    if complete:
        layout.component_file(data, cid, ".complete").write_bytes(encode_component_completion(cid))
    return cid


def put_release(
    data: Path,
    version: str,
    components: dict[str, str],
    *,
    key: ed25519.Ed25519PrivateKey = KEY,
    product: str = PRODUCT,
) -> str:
    """A signed release record naming ``components`` in ``data``; returns its id."""
    record = encode_release(product, version, components)
    rid = digest(record)
    layout.release_file(data, rid, ".json").parent.mkdir(parents=True, exist_ok=True)
    layout.release_file(data, rid, ".json").write_bytes(record)
    layout.release_file(data, rid, ".sig").write_bytes(sign(record, key))
    return rid


def make_release(
    data: Path,
    cd_ids: dict[str, str],
    version: str,
    changed: dict[str, Files],
    *,
    key: ed25519.Ed25519PrivateKey = KEY,
) -> str:
    """A release of ``version`` whose ``changed`` components are in the store and the
    others are the CD-ROM's (by reference); returns its id."""
    ids = dict(cd_ids)
    for name, files in changed.items():
        ids[name] = put_component(data, name, files, key=key)
    return put_release(data, version, ids, key=key)


def point(data: Path, seq: int, release: str, previous: str, version: str, *, good: bool) -> None:
    """Write pointer record ``seq``."""
    data.mkdir(parents=True, exist_ok=True)
    pointer = Pointer(seq, release, previous, version, good)
    layout.pointer_path(data, seq).write_bytes(encode_pointer(pointer))


def app_files(version: str, body: str) -> Files:
    """An app component whose launcher prints ``body`` (a Python expression) and returns 0."""
    return {
        "product.json": product_json(version),
        "esecure/__init__.py": b"",
        "esecure/launcher/__init__.py": b"",
        "esecure/launcher/app.py": (
            f"def main(argv, boot):\n    print({body})\n    return 0\n".encode()
        ),
    }


__all__ = [
    "KEY",
    "PLATFORM",
    "app_files",
    "component_names",
    "default_components",
    "make_cd",
    "make_release",
    "pem",
    "point",
    "put_component",
    "put_release",
    "sign",
]
