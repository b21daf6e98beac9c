"""The enrolment registry: users, key serials and their binding, activation codes, issued
certificates, and the audit log. SQLite in WAL mode by default (one file, safe for one
server process and concurrent `esecure admin` commands); a ``postgresql://`` URL puts the
same registry in PostgreSQL (several server processes or machines, the bank's backups).
One registry, one SQL text: :mod:`esecure.server.database` holds the dialect differences.

Activation codes are stored as a keyed hash (HMAC-SHA256 under a random key kept in the
database): codes are short-lived and guarded by a lockout, so a slow password hash would
only cost throughput. A stolen database therefore yields neither the codes nor, without
the HMAC key it also holds, anything useful once the codes have expired.

The portal's tables (schema version 2) sit beside them: ``portal_users`` (secret and mail
code hashes, state, wrong-code count, contact details), ``portal_sessions`` (keyed by the
SHA-256 of the session id, never the id itself), ``portal_accounts`` and
``portal_operations`` (the demo bank's data). :mod:`esecure.server.portal.store` reads
and writes them through :attr:`Registry.database`.

Schema: the first connection creates the tables (``CREATE TABLE IF NOT EXISTS``, inside a
serialised transaction, so two servers starting at once do not race) and records
``schema_version`` in ``meta``; later connections apply, in that same transaction, the
migrations from the recorded version up to :data:`SCHEMA_VERSION`, and refuse (ES935) a
database written by a newer e-secure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from esecure.errors import OperationError
from esecure.server.database import Database, connect, database_path

__all__ = [
    "SCHEMA_VERSION",
    "CertificateRow",
    "CodeCheck",
    "KeyRow",
    "Registry",
    "UserRow",
    "database_path",
]

MAX_WRONG_CODES = 5
COOL_DOWN_SECONDS = 300
SCHEMA_VERSION = 2

# Written once for both dialects: {serial_key}, {blob} and {real} are the dialect's types.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value {blob} NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    identifier TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT 'active',
    created {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    serial TEXT PRIMARY KEY,
    batch TEXT NOT NULL,
    created TEXT NOT NULL,
    identifier TEXT REFERENCES users(identifier),
    blocked INTEGER NOT NULL DEFAULT 0,
    replaced_by TEXT
);
CREATE TABLE IF NOT EXISTS codes (
    id {serial_key},
    identifier TEXT NOT NULL REFERENCES users(identifier),
    digest {blob} NOT NULL,
    expires {real} NOT NULL,
    used {real}
);
CREATE INDEX IF NOT EXISTS codes_by_user ON codes(identifier);
CREATE TABLE IF NOT EXISTS failures (
    identifier TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    locked_until {real} NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS certificates (
    serial_number TEXT PRIMARY KEY,
    identifier TEXT NOT NULL,
    key_serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_after {real} NOT NULL,
    issued {real} NOT NULL,
    revoked {real},
    reason TEXT
);
CREATE INDEX IF NOT EXISTS certificates_by_key ON certificates(key_serial);
CREATE TABLE IF NOT EXISTS audit (
    id {serial_key},
    at {real} NOT NULL,
    endpoint TEXT NOT NULL,
    identifier TEXT,
    key_serial TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    peer TEXT
)
"""
# Migrations: _MIGRATIONS[v] takes a database from version v to v + 1.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 1 -> 2: the portal. Secret and mail codes are scrypt(HMAC(pepper, ...)) strings whose
    # pepper is held outside the database (esecure.server.portal.pepper).
    1: (
        """CREATE TABLE IF NOT EXISTS portal_users (
            identifier TEXT PRIMARY KEY REFERENCES users(identifier),
            state TEXT NOT NULL,
            mail_hash TEXT,
            mail_expires {real},
            code_hash TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            email TEXT,
            phone TEXT,
            registered {real},
            cert_serial TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS portal_sessions (
            id_hash TEXT PRIMARY KEY,
            identifier TEXT NOT NULL,
            stage TEXT NOT NULL,
            csrf TEXT NOT NULL,
            cert_serial TEXT NOT NULL,
            created {real} NOT NULL,
            seen {real} NOT NULL,
            layout TEXT,
            pending TEXT
        )""",
        "CREATE INDEX IF NOT EXISTS portal_sessions_by_user ON portal_sessions(identifier)",
        """CREATE TABLE IF NOT EXISTS portal_accounts (
            number TEXT PRIMARY KEY,
            identifier TEXT NOT NULL REFERENCES users(identifier),
            label TEXT NOT NULL,
            balance_cents BIGINT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS portal_accounts_by_user ON portal_accounts(identifier)",
        """CREATE TABLE IF NOT EXISTS portal_operations (
            id {serial_key},
            number TEXT NOT NULL REFERENCES portal_accounts(number),
            day TEXT NOT NULL,
            kind TEXT NOT NULL,
            label TEXT NOT NULL,
            amount_cents BIGINT NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS portal_operations_by_account ON portal_operations(number)",
    ),
}


@dataclass(frozen=True)
class UserRow:
    """A customer of the bank."""

    identifier: str
    state: str


@dataclass(frozen=True)
class KeyRow:
    """A personalised key and whom it was handed to."""

    serial: str
    batch: str
    created: str
    identifier: str | None
    blocked: bool
    replaced_by: str | None


@dataclass(frozen=True)
class CertificateRow:
    """An issued client certificate."""

    serial_number: str
    identifier: str
    key_serial: str
    subject: str
    not_after: float
    revoked: float | None


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking an activation code: ``ok`` or the refusal's reason."""

    outcome: str  # "ok", "wrong", "used", "expired", "locked"
    code_id: int | None = None
    retry_after: int = 0


class Registry:
    """One connection to the registry. Not thread-safe: one per thread or event loop."""

    def __init__(self, db: Database) -> None:
        self._db = db
        try:
            with self.transaction():
                self._create_or_migrate()
                row = self._db.execute("SELECT value FROM meta WHERE name='code_key'").fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO meta(name, value) VALUES ('code_key', ?)",
                        (secrets.token_bytes(32),),
                    )
            self._code_key = bytes(
                self._db.execute("SELECT value FROM meta WHERE name='code_key'").fetchone()[0]
            )
        except BaseException:
            db.close()
            raise

    @classmethod
    def open(cls, url: str) -> Registry:
        """Open (creating or migrating the schema if needed) the registry at ``url``."""
        return cls(connect(url))

    @property
    def database(self) -> Database:
        """The connection itself, for the portal's tables (:mod:`esecure.server.portal.store`)."""
        return self._db

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.dialect.name

    def _create_or_migrate(self) -> None:
        for statement in self._db.dialect.ddl(_SCHEMA):
            self._db.execute(statement)
        row = self._db.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        # A registry made before versioning has exactly the version-1 tables.
        version = int(bytes(row[0]).decode()) if row else 1
        if version > SCHEMA_VERSION:
            raise OperationError(
                f"the registry database was written by a newer e-secure (schema version "
                f"{version}; this one knows up to {SCHEMA_VERSION})",
                code="ES935",
            )
        for step in range(version, SCHEMA_VERSION):
            for statement in self._db.dialect.ddl(";".join(_MIGRATIONS[step])):
                self._db.execute(statement)
        self._db.execute(
            "INSERT INTO meta(name, value) VALUES ('schema_version', ?) "
            "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
            (str(SCHEMA_VERSION).encode(),),
        )

    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        row = self._db.execute("SELECT value FROM meta WHERE name='schema_version'").fetchone()
        return int(bytes(row[0]).decode())

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A serialised writing transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: an
        advisory lock): COMMIT at the end, ROLLBACK on error; writers never interleave."""
        with self._db.transaction() as db:
            yield db

    def journal_mode(self) -> str | None:
        """SQLite's journal mode in force (``wal``); None on PostgreSQL."""
        if self._db.dialect.name != "sqlite":
            return None
        mode: str = self._db.execute("PRAGMA journal_mode").fetchone()[0]
        return mode

    # --- users and keys --------------------------------------------------------------------

    def add_user(self, identifier: str, now: float) -> bool:
        """Add a user; False if already there."""
        cur = self._db.execute(
            "INSERT INTO users(identifier, created) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (identifier, now),
        )
        return cur.rowcount == 1

    def user(self, identifier: str) -> UserRow | None:
        """The user ``identifier``, if any."""
        row = self._db.execute(
            "SELECT identifier, state FROM users WHERE identifier=?", (identifier,)
        ).fetchone()
        return UserRow(*row) if row else None

    def set_user_state(self, identifier: str, state: str) -> bool:
        """Set a user's state ("active" or "disabled"); False if there is no such user."""
        cur = self._db.execute("UPDATE users SET state=? WHERE identifier=?", (state, identifier))
        return cur.rowcount == 1

    def users(self) -> list[UserRow]:
        """Every user, by identifier."""
        rows = self._db.execute(
            "SELECT identifier, state FROM users ORDER BY identifier"
        ).fetchall()
        return [UserRow(*r) for r in rows]

    def add_keys(self, rows: list[tuple[str, str, str]]) -> int:
        """Import (serial, batch, created) rows; existing serials are kept. Returns the count
        of new serials."""
        with self.transaction() as db:
            return db.executemany(
                "INSERT INTO keys(serial, batch, created) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )

    def key(self, serial: str) -> KeyRow | None:
        """The key ``serial``, if registered."""
        row = self._db.execute(
            "SELECT serial, batch, created, identifier, blocked, replaced_by FROM keys "
            "WHERE serial=?",
            (serial,),
        ).fetchone()
        return _key_row(row) if row else None

    def list_keys(self) -> list[KeyRow]:
        """Every key, by serial."""
        rows = self._db.execute(
            "SELECT serial, batch, created, identifier, blocked, replaced_by FROM keys "
            "ORDER BY serial"
        ).fetchall()
        return [_key_row(r) for r in rows]

    def bind(self, serial: str, identifier: str) -> None:
        """Bind ``serial`` to ``identifier`` (callers check the preconditions)."""
        self._db.execute("UPDATE keys SET identifier=? WHERE serial=?", (identifier, serial))

    def block(self, serial: str, replaced_by: str | None) -> None:
        """Block ``serial`` (lost key), remembering its replacement."""
        self._db.execute(
            "UPDATE keys SET blocked=1, replaced_by=? WHERE serial=?", (replaced_by, serial)
        )

    # --- activation codes -------------------------------------------------------------------

    def _digest(self, identifier: str, code: str) -> bytes:
        normalised = "".join(code.split()).replace("-", "").upper()
        message = f"{identifier}\x00{normalised}".encode()
        return hmac.new(self._code_key, message, hashlib.sha256).digest()

    def add_code(self, identifier: str, code: str, expires: float) -> None:
        """Store the keyed hash of a new activation code for ``identifier``."""
        self._db.execute(
            "INSERT INTO codes(identifier, digest, expires) VALUES (?, ?, ?)",
            (identifier, self._digest(identifier, code), expires),
        )

    def check_code(self, identifier: str, code: str, now: float) -> CodeCheck:
        """Check a presented code; counts failures and applies the cool-down.

        Locked identifiers are refused before the code is even looked at, so a locked-out
        guesser learns nothing. The reason "used" or "expired" is given only for a code that
        matched: it reveals nothing to someone who does not already hold the code.
        """
        with self.transaction() as db:
            fail = db.execute(
                "SELECT count, locked_until FROM failures WHERE identifier=?", (identifier,)
            ).fetchone()
            if fail and fail[1] > now:
                return CodeCheck("locked", retry_after=max(1, int(fail[1] - now + 0.999)))
            digest = self._digest(identifier, code)
            match = None
            # A disabled user's codes never match: the answer is the one for a wrong code.
            for code_id, stored, expires, used in db.execute(
                "SELECT codes.id, digest, expires, used FROM codes JOIN users "
                "ON users.identifier = codes.identifier "
                "WHERE codes.identifier=? AND users.state='active'",
                (identifier,),
            ).fetchall():
                if hmac.compare_digest(bytes(stored), digest):
                    match = (code_id, expires, used)
            if match is None:
                count = (fail[0] if fail and fail[1] == 0 else 0) + 1
                locked_until = now + COOL_DOWN_SECONDS if count >= MAX_WRONG_CODES else 0
                db.execute(
                    "INSERT INTO failures(identifier, count, locked_until) VALUES (?, ?, ?) "
                    "ON CONFLICT(identifier) DO UPDATE SET count=excluded.count, "
                    "locked_until=excluded.locked_until",
                    (identifier, 0 if locked_until else count, locked_until),
                )
                if locked_until:
                    return CodeCheck("locked", retry_after=COOL_DOWN_SECONDS)
                return CodeCheck("wrong")
            code_id, expires, used = match
            if used is not None:
                return CodeCheck("used", code_id)
            if expires <= now:
                return CodeCheck("expired", code_id)
            # Only a live code clears the wrong-code count: an old code (used or expired) that
            # its holder still knows must not buy unlimited guesses at the current one.
            if fail:
                db.execute("DELETE FROM failures WHERE identifier=?", (identifier,))
            return CodeCheck("ok", code_id)

    def consume_code(self, code_id: int, now: float) -> bool:
        """Mark a code used; False if another request used it first (single use)."""
        cur = self._db.execute(
            "UPDATE codes SET used=? WHERE id=? AND used IS NULL", (now, code_id)
        )
        return cur.rowcount == 1

    # --- certificates ----------------------------------------------------------------------

    def add_certificate(self, row: CertificateRow, now: float) -> None:
        """Record an issued certificate."""
        self._db.execute(
            "INSERT INTO certificates(serial_number, identifier, key_serial, subject, "
            "not_after, issued) VALUES (?, ?, ?, ?, ?, ?)",
            (row.serial_number, row.identifier, row.key_serial, row.subject, row.not_after, now),
        )

    def certificate(self, serial_number: str) -> CertificateRow | None:
        """The certificate with this serial number (lower-case hex), if we issued it."""
        row = self._db.execute(
            "SELECT serial_number, identifier, key_serial, subject, not_after, revoked "
            "FROM certificates WHERE serial_number=?",
            (serial_number,),
        ).fetchone()
        return CertificateRow(*row) if row else None

    def certificates(self) -> list[CertificateRow]:
        """Every issued certificate, oldest first."""
        rows = self._db.execute(
            "SELECT serial_number, identifier, key_serial, subject, not_after, revoked "
            "FROM certificates ORDER BY issued, serial_number"
        ).fetchall()
        return [CertificateRow(*r) for r in rows]

    def revoke_key_certificates(self, key_serial: str, now: float, reason: str) -> int:
        """Revoke every unrevoked certificate of ``key_serial``; returns how many."""
        cur = self._db.execute(
            "UPDATE certificates SET revoked=?, reason=? WHERE key_serial=? AND revoked IS NULL",
            (now, reason, key_serial),
        )
        return cur.rowcount

    def revoked(self) -> list[tuple[str, float, str]]:
        """(serial number, revocation time, reason) of every revoked certificate."""
        rows = self._db.execute(
            "SELECT serial_number, revoked, reason FROM certificates WHERE revoked IS NOT NULL "
            "ORDER BY revoked"
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    # --- audit -----------------------------------------------------------------------------

    def audit(
        self,
        endpoint: str,
        status: int,
        outcome: str,
        *,
        identifier: str | None = None,
        key_serial: str | None = None,
        peer: str | None = None,
        now: float | None = None,
    ) -> None:
        """Log one enrolment attempt (never the code or any secret)."""
        self._db.execute(
            "INSERT INTO audit(at, endpoint, identifier, key_serial, status, outcome, peer) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now or time.time(), endpoint, identifier, key_serial, status, outcome, peer),
        )

    def audit_log(self, limit: int = 1000) -> list[tuple[float, str, str | None, int, str]]:
        """The latest audit rows: (at, endpoint, identifier, status, outcome)."""
        rows = self._db.execute(
            "SELECT at, endpoint, identifier, status, outcome FROM audit ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def _key_row(row: tuple[str, str, str, str | None, int, str | None]) -> KeyRow:
    return KeyRow(row[0], row[1], row[2], row[3], bool(row[4]), row[5])
