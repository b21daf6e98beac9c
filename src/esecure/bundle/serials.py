"""Key serial numbers: random, unguessable, with a check character (pure functions).

A serial is 13 random characters and one check character, all from a 31-character
alphabet: ``2-9`` and ``A-Z`` without ``I``, ``L`` and ``O`` (no 0/O or 1/I/L confusion when
a serial is read aloud to support). 31^13 is about 2^64: serials cannot be guessed.

The check character makes ``sum(weight_i * value_i)`` divisible by 31, weights 14 down to 1
(the check character's weight is 1). Because 31 is prime and every weight is a distinct
non-zero number below 31, any single wrong character changes the sum by
``weight * difference`` (never a multiple of 31) and any swap of two different neighbours
by ``(w_i - w_i+1) * difference`` (never a multiple of 31): both are always caught, and the
tests prove it exhaustively on a sample. (ISO/IEC 7064 MOD 37,36 over 0-9A-Z was tried
first: an exhaustive test found neighbour swaps it misses, e.g. ``ZMLL…`` / ``ZLML…``.)

:func:`is_valid` is the one test the enrolment service imports.
"""

from __future__ import annotations

import secrets

__all__ = ["ALPHABET", "BODY_LENGTH", "LENGTH", "check_character", "is_valid", "new_serial"]

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BODY_LENGTH = 13
LENGTH = BODY_LENGTH + 1
_P = len(ALPHABET)  # 31, prime
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
if _P != 31 or LENGTH >= _P:  # pragma: no cover - guards edits of the constants above
    raise RuntimeError("the check needs a prime alphabet larger than the serial")


def _weighted(chars: str) -> int:
    """sum(weight * value) mod 31, weights LENGTH, LENGTH-1, … from the first character."""
    return sum((LENGTH - i) * _VALUE[c] for i, c in enumerate(chars)) % _P


def check_character(body: str) -> str:
    """The check character that makes ``body`` + it valid."""
    if len(body) != BODY_LENGTH or any(c not in _VALUE for c in body):
        raise ValueError(f"{body!r} is not {BODY_LENGTH} characters of {ALPHABET}")
    return ALPHABET[-_weighted(body) % _P]


def is_valid(serial: str) -> bool:
    """True for a well-formed serial whose check character is right."""
    if len(serial) != LENGTH or any(c not in _VALUE for c in serial):
        return False
    return _weighted(serial) == 0


def new_serial() -> str:
    """A fresh random serial."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return body + check_character(body)
