"""Contact details, pure: the e-mail address and telephone number the user gives at the
first connection, validated and normalised (each problem is a message id of :mod:`.i18n`).

- E-mail: at most 254 characters; a local part of 1-64 characters among letters, digits
  and ``.!#$%&'*+/=?^_`{|}~-`` (no leading, trailing or doubled dot); a domain of at least
  two labels of letters, digits and inner hyphens, the last one alphabetic (2+ letters).
  Internationalised addresses are not accepted (the bank's mail system may not be).
- Telephone: digits, spaces, dots, hyphens and parentheses, a ``+`` only in front; 8 to
  15 digits (E.164's maximum).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Contact", "validate"]

_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD = re.compile(r"[A-Za-z]{2,63}")
_PHONE = re.compile(r"\+?[0-9 .()-]+")


@dataclass(frozen=True)
class Contact:
    """Validated contact details."""

    email: str
    phone: str


def _email_problem(email: str) -> str | None:
    if not email:
        return "contact.email.missing"
    local, at, domain = email.rpartition("@")
    if not at or len(email) > 254 or not 1 <= len(local) <= 64 or not _LOCAL.fullmatch(local):
        return "contact.email.invalid"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return "contact.email.invalid"
    if not _TLD.fullmatch(labels[-1]):
        return "contact.email.invalid"
    return None


def _phone_problem(phone: str) -> str | None:
    if not phone:
        return "contact.phone.missing"
    digits = sum(c.isdigit() for c in phone)
    if not (phone.isascii() and _PHONE.fullmatch(phone) and 8 <= digits <= 15):
        return "contact.phone.invalid"
    return None


def validate(email: str, phone: str) -> tuple[Contact | None, dict[str, str]]:
    """(the contact, {}) when both are right, else (None, {field: problem id})."""
    email = email.strip()
    phone = " ".join(phone.split())
    problems = {
        name: problem
        for name, problem in (("email", _email_problem(email)), ("phone", _phone_problem(phone)))
        if problem is not None
    }
    return (None, problems) if problems else (Contact(email, phone), {})
