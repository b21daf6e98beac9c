"""The signed manifest: canonical encoding, signature checks, and file comparison."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.bundle.manifest import (
    FileEntry,
    Observed,
    compare,
    encode_manifest,
    sign_manifest,
    verify_manifest,
)
from esecure.errors import IntegrityError

KEY = ed25519.Ed25519PrivateKey.generate()
PUB = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _entry(path: str, data: bytes) -> FileEntry:
    return FileEntry(path, len(data), hashlib.sha256(data).hexdigest())


FILES = [_entry("trust/ca.pem", b"ca"), _entry("autorun.inf", b"[autorun]\r\n")]


def test_encoding_is_canonical():
    """The same files in any order give the same bytes, sorted by path, valid JSON."""
    a = encode_manifest("p", "1.0", FILES)
    assert a == encode_manifest("p", "1.0", list(reversed(FILES)))
    doc = json.loads(a)
    assert [f["path"] for f in doc["files"]] == ["autorun.inf", "trust/ca.pem"]
    assert doc["format"] == 1


def test_one_entry_per_line():
    """A changed file changes only its own line (diff-friendly, as the issue asks)."""
    a = encode_manifest("p", "1.0", FILES).splitlines()
    b = encode_manifest("p", "1.0", [FILES[0], _entry("autorun.inf", b"x")]).splitlines()
    assert [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y] == [1]


@pytest.mark.parametrize("bad", ["/abs", "a/../b", "", "MANIFEST.json", "a//b"])
def test_encoding_rejects_bad_paths(bad):
    """Paths must be relative, normal, and not the manifest itself."""
    with pytest.raises(ValueError, match=r"relative|itself"):
        encode_manifest("p", "1", [FileEntry(bad, 0, "0" * 64)])


def test_good_signature_decodes():
    """A manifest signed by the key verifies and decodes to its entries."""
    data = encode_manifest("p", "1.0", FILES)
    manifest = verify_manifest(data, sign_manifest(data, KEY), PUB)
    assert {f.path: f for f in manifest.files}["trust/ca.pem"] == FILES[0]


def test_attack_resigned_with_another_key():
    """A manifest signed by another key is refused with ES101."""
    data = encode_manifest("p", "1.0", FILES)
    other = ed25519.Ed25519PrivateKey.generate()
    with pytest.raises(IntegrityError, match="signature does not match") as info:
        verify_manifest(data, sign_manifest(data, other), PUB)
    assert info.value.code == "ES101"


def test_attack_edited_manifest():
    """One changed byte of the manifest breaks its signature."""
    data = encode_manifest("p", "1.0", FILES)
    sig = sign_manifest(data, KEY)
    edited = data.replace(b'"size": 2', b'"size": 3')
    assert edited != data
    with pytest.raises(IntegrityError, match="signature"):
        verify_manifest(edited, sig, PUB)


def test_garbage_signature_is_named():
    """A signature file that is not base64 is named."""
    data = encode_manifest("p", "1.0", FILES)
    with pytest.raises(IntegrityError, match=r"MANIFEST\.json\.sig"):
        verify_manifest(data, b"not base64!!", PUB)


def test_compare_names_each_culprit():
    """Missing, resized, altered, unreadable and unlisted files are each named."""
    manifest = verify_manifest(
        d := encode_manifest("p", "1", [*FILES, _entry("a", b"1"), _entry("b", b"2")]),
        sign_manifest(d, KEY),
        PUB,
    )
    observed = {
        "autorun.inf": Observed(size=11, sha256="f" * 64),
        "trust/ca.pem": Observed(size=3),
        "b": Observed(size=None, error="Permission denied"),
    }
    found = compare(manifest, observed, present=["autorun.inf", "trust/ca.pem", "b", "extra"])
    assert [(m.path, m.problem) for m in found] == [
        ("a", "missing"),
        ("autorun.inf", "hash"),
        ("b", "unreadable"),
        ("extra", "unlisted"),
        ("trust/ca.pem", "size"),
    ]


def test_compare_clean_tree_is_empty():
    """Exact sizes and hashes give no mismatch; an unhashed file is checked by size only."""
    manifest = verify_manifest(d := encode_manifest("p", "1", FILES), sign_manifest(d, KEY), PUB)
    observed = {
        "autorun.inf": Observed(size=FILES[1].size, sha256=FILES[1].sha256),
        "trust/ca.pem": Observed(size=2),
    }
    assert compare(manifest, observed, present=list(observed)) == []


_GOOD_HASH = "a" * 64


def _signed_doc(files: list[dict[str, object]]) -> bytes:
    return json.dumps({"format": 1, "product": "p", "version": "1", "files": files}).encode()


@pytest.mark.parametrize(
    ("files", "culprit"),
    [
        (
            [
                {"path": "a.txt", "size": 1, "sha256": _GOOD_HASH},
                {"path": "a.txt", "size": 2, "sha256": _GOOD_HASH},
            ],
            "a.txt is listed twice",
        ),
        ([{"path": "a.txt", "size": -1, "sha256": _GOOD_HASH}], "a.txt: size -1"),
        ([{"path": "a.txt", "size": True, "sha256": _GOOD_HASH}], "a.txt: size True"),
        ([{"path": "a.txt", "size": "3", "sha256": _GOOD_HASH}], "a.txt: size '3'"),
        ([{"path": "a.txt", "size": 1, "sha256": "A" * 64}], "is not a lowercase hex SHA-256"),
        ([{"path": "a.txt", "size": 1, "sha256": "ab"}], "is not a lowercase hex SHA-256"),
    ],
    ids=["duplicate", "negative-size", "boolean-size", "string-size", "upper-hash", "short-hash"],
)
def test_signed_but_malformed_entries_are_refused(files, culprit):
    """A signed manifest with entries encode_manifest would refuse: ES101 naming the entry."""
    data = _signed_doc(files)
    with pytest.raises(IntegrityError) as info:
        verify_manifest(data, sign_manifest(data, KEY), PUB)
    assert info.value.code == "ES101"
    assert culprit in info.value.detail
