"""The portal's tables in the registry (schema version 2, :mod:`esecure.server.registry`):
portal users, sessions, and the demo bank's accounts and operations.

One SQL text for SQLite and PostgreSQL, through :attr:`Registry.database`; every
read-then-write (the wrong-code count, a transfer) runs in the registry's serialised
writing transaction. Codes arrive already hashed (:class:`.codes.CodeHasher`): nothing here
sees a code in clear.
"""

from __future__ import annotations

from dataclasses import dataclass

from esecure.server.portal.auth import MAX_WRONG_CODES, after_wrong_code
from esecure.server.portal.sessions import Session
from esecure.server.registry import Registry

__all__ = ["Account", "Attempt", "Operation", "PortalStore", "PortalUser"]

_USER_COLUMNS = (
    "identifier, state, mail_hash, mail_expires, code_hash, failures, email, phone, "
    "registered, cert_serial"
)
_SESSION_COLUMNS = "id_hash, identifier, stage, csrf, cert_serial, created, seen, layout, pending"


@dataclass(frozen=True)
class PortalUser:
    """A customer as the portal knows them."""

    identifier: str
    state: str  # "first-login", "active" or "locked"
    mail_hash: str | None
    mail_expires: float | None
    code_hash: str | None
    failures: int
    email: str | None
    phone: str | None
    registered: float | None
    cert_serial: str | None

    @property
    def locked(self) -> bool:
        """Locked by wrong codes (also when an attempt was counted but never answered)."""
        return self.state == "locked" or self.failures >= MAX_WRONG_CODES


@dataclass(frozen=True)
class Attempt:
    """A code attempt opened by :meth:`PortalStore.begin_attempt`."""

    user: PortalUser | None
    locked: bool
    failures: int


@dataclass(frozen=True)
class Account:
    """A bank account of the demo data."""

    number: str
    identifier: str
    label: str
    balance_cents: int


@dataclass(frozen=True)
class Operation:
    """One line of an account."""

    number: str
    day: str
    kind: str
    label: str
    amount_cents: int


class PortalStore:
    """The portal's reads and writes on one registry connection."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._db = registry.database

    # --- users -------------------------------------------------------------------------------

    def user(self, identifier: str) -> PortalUser | None:
        """The portal record of ``identifier``, if the bank made one (a mail code)."""
        row = self._db.execute(
            f"SELECT {_USER_COLUMNS} FROM portal_users WHERE identifier=?",  # noqa: S608 - constant
            (identifier,),
        ).fetchone()
        return PortalUser(*row) if row else None

    def set_mail_code(self, identifier: str, mail_hash: str, expires: float) -> None:
        """A new mail code: the personal code is forgotten, the count and the lock cleared;
        the next login is a first connection."""
        self._db.execute(
            "INSERT INTO portal_users(identifier, state, mail_hash, mail_expires) "
            "VALUES (?, 'first-login', ?, ?) ON CONFLICT(identifier) DO UPDATE SET "
            "state='first-login', mail_hash=excluded.mail_hash, "
            "mail_expires=excluded.mail_expires, code_hash=NULL, failures=0",
            (identifier, mail_hash, expires),
        )

    def begin_attempt(self, identifier: str) -> Attempt:
        """Count one code attempt before it is checked (serialised): refused at once when
        the account is locked."""
        with self.registry.transaction():
            user = self.user(identifier)
            if user is None:
                return Attempt(None, locked=False, failures=0)
            if user.locked:
                return Attempt(user, locked=True, failures=user.failures)
            count, _ = after_wrong_code(user.failures)
            self._db.execute(
                "UPDATE portal_users SET failures=? WHERE identifier=?", (count, identifier)
            )
            return Attempt(user, locked=False, failures=count)

    def accept_attempt(self, identifier: str) -> None:
        """The code was right: the count starts again from zero."""
        self._db.execute("UPDATE portal_users SET failures=0 WHERE identifier=?", (identifier,))

    def lock(self, identifier: str) -> None:
        """Lock the account (three wrong codes)."""
        self._db.execute("UPDATE portal_users SET state='locked' WHERE identifier=?", (identifier,))

    def unlock(self, identifier: str) -> bool:
        """Unlock: back to active (or first connection if no personal code was chosen)."""
        cur = self._db.execute(
            "UPDATE portal_users SET failures=0, state=CASE WHEN code_hash IS NULL "
            "THEN 'first-login' ELSE 'active' END WHERE identifier=?",
            (identifier,),
        )
        return cur.rowcount == 1

    def set_code(self, identifier: str, code_hash: str) -> None:
        """The personal code chosen at the first connection; the mail code is spent."""
        self._db.execute(
            "UPDATE portal_users SET code_hash=?, mail_hash=NULL, mail_expires=NULL, failures=0 "
            "WHERE identifier=?",
            (code_hash, identifier),
        )

    def register(
        self, identifier: str, *, email: str, phone: str, cert_serial: str, now: float
    ) -> None:
        """Contact details given: the certificate is registered, the account active."""
        self._db.execute(
            "UPDATE portal_users SET email=?, phone=?, cert_serial=?, registered=?, "
            "state='active' WHERE identifier=?",
            (email, phone, cert_serial, now, identifier),
        )

    # --- sessions ----------------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        """Record a new session."""
        self._db.execute(
            f"INSERT INTO portal_sessions({_SESSION_COLUMNS}) "  # noqa: S608 - constant
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.id_hash,
                session.identifier,
                session.stage,
                session.csrf,
                session.cert_serial,
                session.created,
                session.seen,
                session.layout,
                session.pending,
            ),
        )

    def session(self, id_hash: str) -> Session | None:
        """The session whose id hashes to ``id_hash``."""
        row = self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM portal_sessions WHERE id_hash=?",  # noqa: S608
            (id_hash,),
        ).fetchone()
        return Session(*row) if row else None

    def sessions_of(self, identifier: str) -> list[Session]:
        """Every session of ``identifier``."""
        rows = self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM portal_sessions WHERE identifier=?",  # noqa: S608
            (identifier,),
        ).fetchall()
        return [Session(*r) for r in rows]

    def update_session(self, session: Session) -> None:
        """Write back a session's stage, time seen, layout and pending state."""
        self._db.execute(
            "UPDATE portal_sessions SET stage=?, seen=?, layout=?, pending=? WHERE id_hash=?",
            (session.stage, session.seen, session.layout, session.pending, session.id_hash),
        )

    def take_layout(self, id_hash: str, layout: str) -> bool:
        """Consume the session's keypad layout if it is still ``layout`` (single use: of two
        requests racing with one layout, one wins)."""
        cur = self._db.execute(
            "UPDATE portal_sessions SET layout=NULL WHERE id_hash=? AND layout=?",
            (id_hash, layout),
        )
        return cur.rowcount == 1

    def delete_session(self, id_hash: str) -> None:
        """End one session."""
        self._db.execute("DELETE FROM portal_sessions WHERE id_hash=?", (id_hash,))

    def delete_sessions_of(self, identifier: str, *, keep: str) -> int:
        """End every session of ``identifier`` but ``keep``; how many ended."""
        cur = self._db.execute(
            "DELETE FROM portal_sessions WHERE identifier=? AND id_hash<>?", (identifier, keep)
        )
        return cur.rowcount

    def purge_sessions(self, *, seen_before: float, created_before: float) -> int:
        """Forget sessions idle or old enough to have expired."""
        cur = self._db.execute(
            "DELETE FROM portal_sessions WHERE seen<? OR created<?", (seen_before, created_before)
        )
        return cur.rowcount

    # --- accounts ----------------------------------------------------------------------------

    def add_account(self, account: Account) -> bool:
        """Add an account (demo data); False if its number exists."""
        cur = self._db.execute(
            "INSERT INTO portal_accounts(number, identifier, label, balance_cents) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (account.number, account.identifier, account.label, account.balance_cents),
        )
        return cur.rowcount == 1

    def add_operation(self, operation: Operation) -> None:
        """Add a line to an account (demo data; the balance is not touched)."""
        self._db.execute(
            "INSERT INTO portal_operations(number, day, kind, label, amount_cents) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                operation.number,
                operation.day,
                operation.kind,
                operation.label,
                operation.amount_cents,
            ),
        )

    def accounts(self, identifier: str) -> list[Account]:
        """The accounts of ``identifier``."""
        rows = self._db.execute(
            "SELECT number, identifier, label, balance_cents FROM portal_accounts "
            "WHERE identifier=? ORDER BY number",
            (identifier,),
        ).fetchall()
        return [Account(*r) for r in rows]

    def operations(self, number: str, *, kind: str | None = None) -> list[Operation]:
        """The lines of account ``number``, newest first (only ``kind`` if given)."""
        rows = self._db.execute(
            "SELECT number, day, kind, label, amount_cents FROM portal_operations "
            "WHERE number=? ORDER BY day DESC, id DESC",
            (number,),
        ).fetchall()
        return [Operation(*r) for r in rows if kind is None or r[2] == kind]

    def transfer(  # noqa: PLR0917 - the five facts of a transfer
        self, identifier: str, source: str, target: str, cents: int, label: str, day: str
    ) -> bool:
        """Move ``cents`` between two accounts of ``identifier``; False (nothing written)
        if either is not theirs or the source lacks the funds."""
        with self.registry.transaction():
            mine = {a.number: a for a in self.accounts(identifier)}
            if source not in mine or target not in mine or source == target:
                return False
            if mine[source].balance_cents < cents:
                return False
            for number, delta in ((source, -cents), (target, cents)):
                self._db.execute(
                    "UPDATE portal_accounts SET balance_cents=balance_cents+? WHERE number=?",
                    (delta, number),
                )
                self.add_operation(Operation(number, day, "transfer", label, delta))
            return True
