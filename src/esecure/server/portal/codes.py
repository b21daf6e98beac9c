"""Secret codes, pure: the trivial-code rule, mail codes, and how codes are kept.

**The rule for a personal code** (:func:`refusal`), in this order; the first that applies
is the reason shown:

1. exactly six ASCII digits;
2. not one digit repeated (``000000``, ``777777``);
3. not a run of consecutive digits, up or down (``123456``, ``345678``, ``987654``);
4. not a block of two or three digits repeated (``121212``, ``123123``);
5. not shaped like a date, ``DDMMYY`` or ``YYMMDD`` (day 01-31, month 01-12): a birth
   date is the first thing a thief tries;
6. not the code received by mail.

**How codes are kept** (:class:`CodeHasher`): six digits are a million values, so a stolen
database would fall to brute force in seconds whatever the hash. The code is therefore
first keyed with HMAC-SHA256 under a *pepper* held outside the database (a file beside the
server's keys, or an environment variable; :mod:`esecure.server.portal.pepper`), bound to
the identifier, then hashed slowly with scrypt and a random salt. Without the pepper the
rows are useless; with it, each guess still costs one scrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_COST",
    "CodeHasher",
    "ScryptCost",
    "make_mail_code",
    "refusal",
]

_SIX_DIGITS = re.compile(r"[0-9]{6}")
_ASCENDING = "0123456789"
_DESCENDING = _ASCENDING[::-1]


def _date_like(code: str) -> bool:
    def day_month(day: str, month: str) -> bool:
        return 1 <= int(day) <= 31 and 1 <= int(month) <= 12

    return day_month(code[0:2], code[2:4]) or day_month(code[4:6], code[2:4])


def _never(_code: str) -> bool:
    return False


def refusal(  # noqa: PLR0911 - one return per rule, in the documented order
    code: str, *, is_mail_code: Callable[[str], bool] = _never
) -> str | None:
    """Why ``code`` cannot be a personal code (a message id of :mod:`.i18n`), or None.
    ``is_mail_code`` tells whether a code is the one received by mail (the flow compares
    keyed digests: the mail code itself is never kept in clear)."""
    if not _SIX_DIGITS.fullmatch(code):
        return "code.rule.six-digits"
    if len(set(code)) == 1:
        return "code.rule.repeated"
    if code in _ASCENDING or code in _DESCENDING:
        return "code.rule.run"
    if code == code[:2] * 3 or code == code[:3] * 2:
        return "code.rule.pattern"
    if _date_like(code):
        return "code.rule.date"
    if is_mail_code(code):
        return "code.rule.mail-code"
    return None


def make_mail_code() -> str:
    """A fresh six-digit code to send by mail (CSPRNG), never a trivial one."""
    while True:
        code = f"{secrets.randbelow(10**6):06d}"
        if refusal(code) is None:
            return code


@dataclass(frozen=True)
class ScryptCost:
    """scrypt's parameters (RFC 7914): n = 2**log_n, r, p."""

    log_n: int = 14
    r: int = 8
    p: int = 1

    @property
    def maxmem(self) -> int:
        """Memory scrypt may use: 128 * r * n bytes, and a margin."""
        return 128 * self.r * (1 << self.log_n) + (1 << 20)


DEFAULT_COST = ScryptCost()
_DUMMY_SALT = b"\x00" * 16


class CodeHasher:
    """Keeps codes as ``scrypt$log_n$r$p$salt$hash`` of HMAC(pepper, identifier, code)."""

    def __init__(self, pepper: bytes, cost: ScryptCost = DEFAULT_COST) -> None:
        if len(pepper) < 32:
            raise ValueError("the pepper must be at least 32 bytes")
        self._pepper = pepper
        self.cost = cost

    def _keyed(self, purpose: str, *parts: str) -> bytes:
        message = "\x00".join((purpose, *parts)).encode()
        return hmac.new(self._pepper, message, hashlib.sha256).digest()

    def _scrypt(self, keyed: bytes, salt: bytes, cost: ScryptCost) -> bytes:
        return hashlib.scrypt(
            keyed, salt=salt, n=1 << cost.log_n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=32
        )

    def hash(self, identifier: str, code: str) -> str:
        """The stored form of ``code`` for ``identifier`` (random salt)."""
        salt = secrets.token_bytes(16)
        digest = self._scrypt(self._keyed("code", identifier, code), salt, self.cost)
        c = self.cost
        b64 = base64.urlsafe_b64encode
        return f"scrypt${c.log_n}${c.r}${c.p}${b64(salt).decode()}${b64(digest).decode()}"

    def verify(self, identifier: str, code: str, stored: str | None) -> bool:
        """True when ``code`` is the one ``stored`` keeps. With nothing stored (unknown
        user, no code yet) the same work is done, then False: timing tells nothing."""
        keyed = self._keyed("code", identifier, code)
        parsed = _parse(stored) if stored else None
        if parsed is None:
            self._scrypt(keyed, _DUMMY_SALT, self.cost)
            return False
        cost, salt, expected = parsed
        return hmac.compare_digest(self._scrypt(keyed, salt, cost), expected)

    def quick(self, identifier: str, code: str) -> str:
        """A keyed digest (no slow hash) of a code held for a minute in a session, e.g. the
        new code between its two entries: useless without the pepper."""
        return self._keyed("pending", identifier, code).hex()

    def token(self, purpose: str, value: str) -> str:
        """A keyed token bound to ``value`` (the login form's CSRF token)."""
        return base64.urlsafe_b64encode(self._keyed(purpose, value)).decode().rstrip("=")


def _parse(stored: str) -> tuple[ScryptCost, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return None
    try:
        cost = ScryptCost(int(parts[1]), int(parts[2]), int(parts[3]))
        return cost, base64.urlsafe_b64decode(parts[4]), base64.urlsafe_b64decode(parts[5])
    except ValueError:
        return None
