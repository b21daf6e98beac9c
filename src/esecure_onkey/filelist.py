"""The signed file list of an application root: ``MANIFEST.json`` + ``MANIFEST.json.sig``.

One decoder for every reader (the bootstrap at each start, the updater before it
installs, ``esecure verify`` and the self-check); the builder and ``esecure publish``
write with ``esecure.bundle.manifest.encode_manifest``, whose output this reads back.

Bytes (UTF-8 JSON, one file per line, paths POSIX and sorted)::

    {"format": 1, "product": "demo-bank", "version": "1.0.0", "files": [
    {"path": "autorun.inf", "sha256": "<64 lowercase hex>", "size": 123},
    ...
    ]}

``MANIFEST.json.sig`` is the Ed25519 signature of the exact bytes, base64 on one line,
by the project's image-signing key. Neither file is listed. Keys this reader does not
know are ignored (an optional key is not a format change); another ``format`` is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from esecure_onkey.ed25519 import check_signature
from esecure_onkey.layout import MANIFEST_NAME, SIGNATURE_NAME
from esecure_onkey.versions import version_key

__all__ = ["FORMAT", "FileList", "decode_file_list", "verify_file_list"]

FORMAT = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileList:
    """A decoded file list: only ever trusted once its signature was checked."""

    product: str
    version: str
    files: dict[str, tuple[int, str]]  # POSIX path -> (size, sha256 hex), sorted by path


def check_path(path: object) -> str:
    """``path`` when it is a relative POSIX path that stays inside the root; ValueError."""
    if not isinstance(path, str):
        raise TypeError(f"path {path!r} is not a string")
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"{path!r} is not a relative POSIX path inside the root")
    if any("\\" in p or ":" in p or "\0" in p for p in parts):
        raise ValueError(f"{path!r} holds a character no key file name may hold")
    if path in (MANIFEST_NAME, SIGNATURE_NAME):
        raise ValueError(f"{path} cannot list itself")
    return path


def decode_file_list(data: bytes) -> FileList:
    """Decode strictly (no coercion of sizes or hashes); ValueError/TypeError/KeyError
    naming what is wrong."""
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict):
        raise TypeError("the file list is not a JSON object")
    if doc.get("format") != FORMAT:
        raise ValueError(f"format {doc.get('format')!r}, this reader reads {FORMAT}")
    product, version = doc["product"], doc["version"]
    if not isinstance(product, str):
        raise TypeError(f"product {product!r} is not a string")
    if not isinstance(version, str) or version_key(version) is None:
        raise ValueError(f"version {version!r} is not a version")
    files: dict[str, tuple[int, str]] = {}
    for entry in doc["files"]:
        path, size, digest = check_path(entry["path"]), entry["size"], entry["sha256"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{path}: size {size!r} is not a byte count")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise ValueError(f"{path}: {digest!r} is not a lowercase hex SHA-256")
        if path in files:
            raise ValueError(f"{path} is listed twice")
        files[path] = (size, digest)
    return FileList(product, version, dict(sorted(files.items())))


def verify_file_list(data: bytes, signature: bytes, public_key_pem: bytes) -> FileList | str:
    """The decoded list when ``signature`` (the .sig file's bytes) verifies with the PEM
    key, else why not (a sentence naming the file)."""
    why = check_signature(data, signature, public_key_pem, MANIFEST_NAME)
    if why:
        return why
    try:
        return decode_file_list(data)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        return f"{MANIFEST_NAME} is signed but malformed ({exc})"
