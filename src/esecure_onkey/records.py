"""The data area's small records: pointer and completion records (format 1). Pure.

Each record is sealed: its JSON body is stored as a string beside the SHA-256 of that
string, so a record torn by a power cut (FAT writes are not atomic) or half-rewritten
decodes as None and the other record of its pair stays in force. The seal detects damage,
not forgery: anyone who can write the data area can recompute it, so what may *run* is
decided by the signed file lists, never by these records.

Bytes (one line)::

    {"body": "{\\"active\\":\\"A\\",\\"format\\":1,...}", "sha256": "<hex of body>"}\\n

A reader of format 1 ignores keys it does not know (an added optional key is not a format
change); a record of another format decodes as None.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from esecure_onkey.layout import CD_SLOT, SLOTS
from esecure_onkey.versions import version_key

__all__ = [
    "FORMAT",
    "Completion",
    "Pointer",
    "decode_completion",
    "decode_pointer",
    "encode_completion",
    "encode_pointer",
    "newest",
    "seal",
    "unseal",
]

FORMAT = 1


@dataclass(frozen=True)
class Pointer:
    """One pointer record: which slot is active, which one was before, whether it is proven."""

    seq: int
    active: str
    previous: str
    version: str
    good: bool


@dataclass(frozen=True)
class Completion:
    """A slot's completion record: written last, after every file of the slot is synced."""

    version: str
    files: dict[str, tuple[int, str]]  # relative POSIX path -> (size, sha256 hex)


def seal(body: dict[str, object]) -> bytes:
    """JSON body + its SHA-256, so a torn or altered record is recognised as invalid."""
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(payload.encode()).hexdigest()
    return json.dumps({"body": payload, "sha256": digest}).encode() + b"\n"


def unseal(data: bytes) -> dict[str, object] | None:
    """The body of a sealed record of this format, or None."""
    try:
        outer = json.loads(data)
        payload = outer["body"]
        if hashlib.sha256(payload.encode()).hexdigest() != outer["sha256"]:
            return None
        body = json.loads(payload)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return None
    return body


def encode_pointer(p: Pointer) -> bytes:
    """The bytes of a pointer record."""
    return seal(
        {
            "format": FORMAT,
            "seq": p.seq,
            "active": p.active,
            "previous": p.previous,
            "version": p.version,
            "good": p.good,
        }
    )


def decode_pointer(data: bytes) -> Pointer | None:
    """A pointer record, or None when it is torn, altered, names an unknown slot or carries
    a version outside the grammar."""
    body = unseal(data)
    if body is None:
        return None
    seq, active, previous = body.get("seq"), body.get("active"), body.get("previous")
    version, good = body.get("version"), body.get("good")
    if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0):
        return None
    if active not in SLOTS:
        return None
    if previous not in (*SLOTS, CD_SLOT) or previous == active:
        return None
    if not (isinstance(version, str) and version_key(version) and isinstance(good, bool)):
        return None
    return Pointer(seq, str(active), str(previous), version, good)


def encode_completion(c: Completion) -> bytes:
    """The bytes of a slot completion record."""
    files = {name: [size, digest] for name, (size, digest) in sorted(c.files.items())}
    return seal({"format": FORMAT, "version": c.version, "files": files})


def decode_completion(data: bytes) -> Completion | None:
    """A completion record, or None when it is torn or altered."""
    body = unseal(data)
    if body is None:
        return None
    version, files = body.get("version"), body.get("files")
    if not (isinstance(version, str) and version_key(version) and isinstance(files, dict)):
        return None
    out: dict[str, tuple[int, str]] = {}
    for name, value in files.items():
        if not (isinstance(value, list) and len(value) == 2):
            return None
        size, digest = value
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return None
        if not isinstance(digest, str):
            return None
        out[str(name)] = (size, digest)
    return Completion(version, out)


def newest(records: list[Pointer | None]) -> Pointer | None:
    """The valid record with the highest sequence number."""
    valid = [r for r in records if r is not None]
    return max(valid, key=lambda r: r.seq) if valid else None
