"""The data area's small records: pointer records and component completion records
(format 1). Pure.

Each record is sealed: its JSON body is stored as a string beside the SHA-256 of that
string, so a record torn by a power cut (FAT writes are not atomic) or half-rewritten
decodes as None and the other record of its pair stays in force. The seal detects damage,
not forgery: anyone who can write the data area can recompute it, so what may *run* is
decided by the signed file lists, never by these records.

Bytes (one line)::

    {"body": "{\\"format\\":1,\\"good\\":false,...}", "sha256": "<hex of body>"}\\n

A reader of format 1 ignores keys it does not know (an added optional key is not a format
change); a record of another format decodes as None.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from esecure_onkey.components import is_id
from esecure_onkey.layout import CD
from esecure_onkey.versions import version_key

__all__ = [
    "FORMAT",
    "Pointer",
    "decode_component_completion",
    "decode_pointer",
    "encode_component_completion",
    "encode_pointer",
    "newest",
    "seal",
    "unseal",
]

FORMAT = 1


@dataclass(frozen=True)
class Pointer:
    """One pointer record: which release is in force, which one was before, and whether
    it is proven (marked good by the release itself once it reached its window)."""

    seq: int
    release: str  # a release id, or "cd" (the CD-ROM's release)
    previous: str  # the release before it (a release id, or "cd")
    version: str
    good: bool


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
            "release": p.release,
            "previous": p.previous,
            "version": p.version,
            "good": p.good,
        }
    )


def _release_ref(value: object) -> bool:
    return value == CD or is_id(value)


def decode_pointer(data: bytes) -> Pointer | None:
    """A pointer record, or None when it is torn, altered, names no release or carries a
    version outside the grammar."""
    body = unseal(data)
    if body is None:
        return None
    seq, release, previous = body.get("seq"), body.get("release"), body.get("previous")
    version, good = body.get("version"), body.get("good")
    if not (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0):
        return None
    if not (_release_ref(release) and _release_ref(previous)) or previous == release:
        return None
    if not (isinstance(version, str) and version_key(version) and isinstance(good, bool)):
        return None
    return Pointer(seq, str(release), str(previous), version, good)


def encode_component_completion(cid: str) -> bytes:
    """The completion record of component version ``cid``: written last, once every file
    of the version, its list and its signature are durable."""
    return seal({"format": FORMAT, "component": cid})


def decode_component_completion(data: bytes) -> str | None:
    """The component id a completion record vouches for, or None."""
    body = unseal(data)
    cid = body.get("component") if body is not None else None
    return cid if isinstance(cid, str) and is_id(cid) else None


def newest(records: list[Pointer | None]) -> Pointer | None:
    """The valid record with the highest sequence number."""
    valid = [r for r in records if r is not None]
    return max(valid, key=lambda r: r.seq) if valid else None
