"""The image manifest: every file of the CD-ROM partition with its size and SHA-256, signed.

Pure functions over bytes and plain values: the build encodes and signs, and both
``esecure verify`` and the launcher's self-check decide with :func:`verify_manifest` and
:func:`compare`; their thin adapters only read files.

Format (UTF-8 JSON, keys sorted, one file per line, paths POSIX and sorted)::

    {"files": [{"path": "autorun.inf", "sha256": "…", "size": 123}, …],
     "format": 1, "product": "demo-bank", "version": "1.0.0"}

``MANIFEST.json.sig`` holds the Ed25519 signature of the exact manifest bytes, base64 on
one line. Neither file is listed in the manifest.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from esecure.errors import IntegrityError
from esecure_onkey.filelist import FORMAT, FileList, check_path, decode_file_list
from esecure_onkey.layout import IMAGE_KEY, MANIFEST_NAME, SIGNATURE_NAME

if TYPE_CHECKING:  # cryptography is loaded by the functions that sign or verify: the
    # launcher's start check uses the on-key verifier and must not load it (issue 10)
    from cryptography.hazmat.primitives.asymmetric import ed25519

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "PUBLIC_KEY_PATH",
    "SIGNATURE_NAME",
    "FileEntry",
    "Manifest",
    "Mismatch",
    "Observed",
    "compare",
    "encode_manifest",
    "manifest_of",
    "sign_manifest",
    "verify_manifest",
]

#: Where an image carries the project's image-signing public key.
PUBLIC_KEY_PATH = IMAGE_KEY
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileEntry:
    """One file of the image."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """A decoded manifest (only ever built from bytes whose signature was checked)."""

    product: str
    version: str
    files: tuple[FileEntry, ...]


@dataclass(frozen=True)
class Observed:
    """What an adapter found for one path: its size, and its hash when it was hashed."""

    size: int | None  # None: missing
    sha256: str | None = None  # None: not hashed (or missing)
    error: str | None = None  # the OS error when it exists but cannot be opened


Problem = Literal["missing", "unreadable", "size", "hash", "unlisted", "signature"]


@dataclass(frozen=True)
class Mismatch:
    """One way the files differ from the manifest, naming the culprit."""

    path: str
    problem: Problem
    detail: str

    def render(self) -> str:
        """``path: detail``."""
        return f"{self.path}: {self.detail}"


def encode_manifest(product: str, version: str, files: Iterable[FileEntry]) -> bytes:
    """The canonical manifest bytes (sorted paths, sorted keys, LF line ends)."""
    entries = sorted(files, key=lambda f: f.path)
    seen: set[str] = set()
    for f in entries:
        check_path(f.path)
        if f.path in seen:
            raise ValueError(f"{f.path} is listed twice")
        seen.add(f.path)
        if f.size < 0 or not _SHA256.fullmatch(f.sha256):
            raise ValueError(f"{f.path}: bad size or SHA-256")
    lines = ",\n".join(
        json.dumps({"path": f.path, "sha256": f.sha256, "size": f.size}, sort_keys=True)
        for f in entries
    )
    head = json.dumps({"format": FORMAT, "product": product, "version": version})
    return f'{head[:-1]}, "files": [\n{lines}\n]}}\n'.encode()


def sign_manifest(data: bytes, key: ed25519.Ed25519PrivateKey) -> bytes:
    """The signature file's bytes for ``data``."""
    return base64.b64encode(key.sign(data)) + b"\n"


def _fail(detail: str) -> IntegrityError:
    return IntegrityError(detail, code="ES101")


def _load_public_key(public_key_pem: bytes) -> ed25519.Ed25519PublicKey:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError as exc:
        raise _fail(f"the image-signing public key is unusable ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise _fail("the image-signing public key is not an Ed25519 key")
    return key


def verify_manifest(data: bytes, signature: bytes, public_key_pem: bytes) -> Manifest:
    """Check the signature of ``data`` with the key, then decode it strictly.

    Raises IntegrityError (ES101, the caller may re-code it) naming what failed. Nothing
    of the manifest is trusted before the signature is checked.
    """
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    key = _load_public_key(public_key_pem)
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _fail(f"{SIGNATURE_NAME}: not a base64 signature") from None
    try:
        key.verify(raw, data)
    except InvalidSignature:
        raise _fail(
            f"{MANIFEST_NAME}: the signature does not match the project's image-signing key"
        ) from None
    return _decode(data)


def _decode(data: bytes) -> Manifest:
    """The on-key reader's strict decoding (one decoder for every reader of a file list)."""
    try:
        listed = decode_file_list(data)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise _fail(f"{MANIFEST_NAME}: signed but malformed ({exc})") from None
    return manifest_of(listed)


def manifest_of(listed: FileList) -> Manifest:
    """The manifest of a file list the on-key reader decoded (and verified)."""
    files = tuple(FileEntry(path, size, digest) for path, (size, digest) in listed.files.items())
    return Manifest(product=listed.product, version=listed.version, files=files)


def compare(
    manifest: Manifest,
    observed: Mapping[str, Observed],
    *,
    present: Iterable[str] | None = None,
) -> list[Mismatch]:
    """Every difference between the manifest and what was observed, sorted by path.

    ``observed`` has an entry for each manifest path the adapter looked at (a path absent
    from it counts as missing). Hashes are compared where the adapter hashed. ``present``,
    when given, is every file on the medium: those the manifest does not list are reported.
    """
    out: list[Mismatch] = []
    for entry in manifest.files:
        seen = observed.get(entry.path, Observed(size=None))
        if seen.error is not None:
            out.append(Mismatch(entry.path, "unreadable", f"cannot be opened ({seen.error})"))
        elif seen.size is None:
            out.append(Mismatch(entry.path, "missing", "listed in the manifest but missing"))
        elif seen.size != entry.size:
            out.append(
                Mismatch(entry.path, "size", f"size {seen.size}, the manifest says {entry.size}")
            )
        elif seen.sha256 is not None and seen.sha256 != entry.sha256:
            out.append(Mismatch(entry.path, "hash", "content differs from the manifest"))
    if present is not None:
        listed = {f.path for f in manifest.files}
        out.extend(
            Mismatch(p, "unlisted", "not listed in the manifest")
            for p in present
            if p not in listed and p not in (MANIFEST_NAME, SIGNATURE_NAME)
        )
    return sorted(out, key=lambda m: (m.path, m.problem))
