"""The one version grammar of e-secure: what the bootstrap compares, check and publish accept.

Frozen with format 1 (a key's bootstrap can never learn another grammar)::

    version = release [ pre ]
    release = number *( "." number )        ; 1 to 6 numbers
    number  = "0" / ( %x31-39 *8DIGIT )     ; no leading zero, at most 9 digits
    pre     = ( "a" / "b" / "rc" ) number   ; alpha, beta, release candidate

It is a subset of PEP 440 and orders exactly as PEP 440 does on it: numbers compare
numerically, trailing zeros do not count (``1.2`` equals ``1.2.0``), a pre-release comes
before its release (``1.2.0rc1 < 1.2.0``). Anything else (``1.2.0.post1``, ``v1.2``,
``1.2.0-beta``, ``01.2``, local versions) is refused, and so is every comparison with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["GRAMMAR", "MAX_LENGTH", "Version", "parse_version", "version_key"]

MAX_LENGTH = 64
_NUMBER = r"(?:0|[1-9][0-9]{0,8})"
_PATTERN = re.compile(rf"({_NUMBER}(?:\.{_NUMBER}){{0,5}})(?:(a|b|rc)({_NUMBER}))?")
_PRE_RANK = {"a": 0, "b": 1, "rc": 2}
_FINAL = (3, 0)
#: Said in every refusal, so the release engineer sees what is accepted.
GRAMMAR = (
    "numbers separated by dots (1 to 6, no leading zero), optionally followed by a1, b2 or rc3"
)

Key = tuple[tuple[int, ...], tuple[int, int]]


def version_key(text: object) -> Key | None:
    """A comparable key for ``text``, or None when it is not a version of the grammar."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        return None
    match = _PATTERN.fullmatch(text)
    if match is None:
        return None
    release = tuple(int(n) for n in match.group(1).split("."))
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    pre = (_PRE_RANK[match.group(2)], int(match.group(3))) if match.group(2) else _FINAL
    return release, pre


@dataclass(frozen=True, order=True)
class Version:
    """A parsed version: ordered and compared by its key, printed as written."""

    key: Key = field(repr=False)
    text: str = field(compare=False)

    def __str__(self) -> str:
        return self.text

    @property
    def is_prerelease(self) -> bool:
        """``1.2.0rc1`` is, ``1.2.0`` is not."""
        return self.key[1] != _FINAL


def parse_version(text: str) -> Version:
    """``text`` as a Version; ValueError naming the value and the grammar otherwise."""
    key = version_key(text)
    if key is None:
        raise ValueError(f"{text!r} is not a version: use {GRAMMAR} (e.g. 1.4.0 or 1.4.0rc1)")
    return Version(key, text)
