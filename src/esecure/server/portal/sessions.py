"""Sessions, pure: ids, stages, idle and absolute expiry, the one-live-session rule, CSRF.

A session id is 256 random bits sent only in a ``__Host-`` cookie; the registry keeps its
SHA-256 (a stolen database yields no live session). A new id is issued when the user is
identified by certificate and again when the secret code is accepted (session fixation).

Stages, in journey order (the page each one may see is :data:`STAGE_PAGES`):

``code``      identified by certificate, typing the secret code on the keypad
``choice``    code accepted while another session of the same user is live (seed row E6)
``first``     first connection: mail code again, new personal code, its confirmation
``contact``   first connection: contact details
``in``        in the client area

A session is *live* (counts for the one-session rule) from ``first`` on, until logout or
:attr:`SessionPolicy.idle_seconds` without a request (10 minutes by default), or
:attr:`SessionPolicy.max_seconds` after its creation.

CSRF: every form of a session carries its token (random, kept in the session row) and every
POST is checked against it (synchronizer token); the login form, which comes before any
session, carries a token keyed on a random pre-session cookie (signed double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "LIVE_STAGES",
    "STAGE_PAGES",
    "Session",
    "SessionPolicy",
    "csrf_matches",
    "hash_id",
    "is_expired",
    "live_others",
    "new_csrf",
    "new_id",
]

STAGE_PAGES = {
    "code": "/code",
    "choice": "/session-choice",
    "first": "/first-login",
    "contact": "/contact",
    "in": "/area",
}
LIVE_STAGES = frozenset({"first", "contact", "in"})


@dataclass(frozen=True)
class SessionPolicy:
    """How long sessions live."""

    idle_seconds: float = 600.0
    max_seconds: float = 8 * 3600.0


@dataclass(frozen=True)
class Session:
    """One row of ``portal_sessions``."""

    id_hash: str
    identifier: str
    stage: str
    csrf: str
    cert_serial: str
    created: float
    seen: float
    layout: str | None = None
    pending: str | None = None


def new_id() -> tuple[str, str]:
    """(the id for the cookie, its hash for the registry)."""
    token = secrets.token_urlsafe(32)
    return token, hash_id(token)


def hash_id(token: str) -> str:
    """What the registry keeps of a session id."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf() -> str:
    """A session's CSRF token."""
    return secrets.token_urlsafe(32)


def is_expired(session: Session, now: float, policy: SessionPolicy) -> bool:
    """True once the session was idle too long or has lived too long."""
    return now - session.seen >= policy.idle_seconds or now - session.created >= policy.max_seconds


def live_others(
    sessions: Iterable[Session], *, current: str, now: float, policy: SessionPolicy
) -> list[Session]:
    """The user's other live sessions: the ones a new login would conflict with."""
    return [
        s
        for s in sessions
        if s.id_hash != current and s.stage in LIVE_STAGES and not is_expired(s, now, policy)
    ]


def csrf_matches(expected: str | None, presented: str | None) -> bool:
    """Constant-time comparison; a missing token never matches."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
