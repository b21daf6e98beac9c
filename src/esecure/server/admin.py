"""The bank operator's operations on the registry (`esecure admin …`).

Each operation checks its preconditions and raises a catalogue error naming the culprit:
ES932 when something named is not in the registry, ES933 when the change conflicts with
the registry's state, ES931 for an unusable key registry file. The portal's operations
(a new mail code, unlocking after three wrong codes) are written to the audit log.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from esecure.errors import OperationError, UsageError
from esecure.server.portal.codes import CodeHasher, make_mail_code
from esecure.server.portal.store import PortalStore
from esecure.server.registry import Registry

__all__ = [
    "IDENTIFIER_PATTERN",
    "SERIAL_PATTERN",
    "IssuedCode",
    "LostReport",
    "MailCode",
    "add_user",
    "assign",
    "import_keys",
    "issue_code",
    "make_code",
    "new_mail_code",
    "parse_key_registry",
    "report_lost",
    "set_user_state",
    "unlock",
]

# Serials are opaque: upper-case letters, digits and '-', at most 32 characters.
SERIAL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
# Identifiers as advisers hand them out: letters, digits and . _ - @, at most 64.
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Activation codes: 16 characters from an alphabet without look-alikes (80 bits).
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
DEFAULT_CODE_HOURS = 72


def _not_found(what: str) -> OperationError:
    return OperationError(f"{what} is not in the registry", code="ES932")


def _conflict(what: str) -> OperationError:
    return OperationError(what, code="ES933")


def check_identifier(identifier: str) -> str:
    """``identifier`` if well-formed, else a usage error (ES932 would mislead)."""
    if not IDENTIFIER_PATTERN.fullmatch(identifier):
        raise UsageError(
            f"identifier {identifier!r}: expected 1-64 letters, digits or . _ - @",
            code="ES933",
        )
    return identifier


def add_user(registry: Registry, identifier: str, now: float) -> None:
    """Add a customer; ES933 if the identifier is taken."""
    check_identifier(identifier)
    if not registry.add_user(identifier, now):
        raise _conflict(f"user {identifier!r} already exists")


def set_user_state(registry: Registry, identifier: str, *, active: bool) -> None:
    """Disable a customer (no enrolment, as if every code were wrong) or enable them again."""
    if not registry.set_user_state(identifier, "active" if active else "disabled"):
        raise _not_found(f"user {identifier!r}")


def parse_key_registry(name: str, data: bytes) -> list[tuple[str, str, str]]:
    """(serial, batch, created) rows of a personalisation registry, CSV or JSON.

    CSV needs the header ``serial,batch,created``; JSON is a list of objects with those
    keys. Every problem names the row; nothing is imported from a file with one bad row.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{name}: not UTF-8 text", code="ES931") from None
    records: list[dict[str, object]]
    if text.lstrip().startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}: invalid JSON ({exc})", code="ES931") from None
        if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
            raise UsageError(f"{name}: expected a JSON list of objects", code="ES931")
        records = loaded
        where = "item"
    else:
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != [
            "serial",
            "batch",
            "created",
        ]:
            raise UsageError(
                f"{name}: expected the CSV header 'serial,batch,created', found "
                f"{','.join(reader.fieldnames or [])!r}",
                code="ES931",
            )
        records = [dict(r) for r in reader]
        where = "line"
    rows = []
    seen: set[str] = set()
    for index, record in enumerate(records, start=2 if where == "line" else 1):
        serial, batch, created = (record.get(k) for k in ("serial", "batch", "created"))
        if not all(isinstance(v, str) for v in (serial, batch, created)):
            raise UsageError(
                f"{name} {where} {index}: serial, batch and created must be strings",
                code="ES931",
            )
        assert isinstance(serial, str) and isinstance(batch, str) and isinstance(created, str)  # noqa: S101 - narrowing for mypy
        if not SERIAL_PATTERN.fullmatch(serial):
            raise UsageError(
                f"{name} {where} {index}: serial {serial!r} is not 1-32 characters A-Z, 0-9, '-'",
                code="ES931",
            )
        if serial in seen:
            raise UsageError(f"{name} {where} {index}: serial {serial} repeated", code="ES931")
        seen.add(serial)
        rows.append((serial, batch, created))
    return rows


def import_keys(registry: Registry, path: Path) -> tuple[int, int]:
    """Import a personalisation registry file: (new serials, serials already known)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", code="ES931") from None
    rows = parse_key_registry(str(path), data)
    added = registry.add_keys(rows)
    return added, len(rows) - added


def assign(registry: Registry, serial: str, identifier: str) -> None:
    """Hand key ``serial`` to customer ``identifier`` (the bank gives the key out)."""
    user = registry.user(identifier)
    if user is None:
        raise _not_found(f"user {identifier!r}")
    key = registry.key(serial)
    if key is None:
        raise _not_found(f"key serial {serial!r}")
    if key.blocked:
        raise _conflict(f"key {serial} is blocked (reported lost); assign another key")
    if key.identifier not in (None, identifier):
        raise _conflict(f"key {serial} is already bound to {key.identifier!r}")
    registry.bind(serial, identifier)


def make_code() -> str:
    """A fresh activation code, grouped for reading: ``ABCD-EFGH-JKLM-NPQR``."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


@dataclass(frozen=True)
class IssuedCode:
    """A new activation code and what goes into the letter."""

    identifier: str
    code: str
    expires: dt.datetime

    def letter(self, bank_name: str) -> str:
        """The text that goes by mail with the key (the only place the code is shown)."""
        return (
            f"{bank_name} — activation of your e-secure key\n\n"
            f"Identifier:      {self.identifier}\n"
            f"Activation code: {self.code}\n"
            f"Valid until:     {self.expires:%Y-%m-%d %H:%M} UTC\n\n"
            "Plug the key in and type the identifier and this code when asked. The code "
            "works once. It is not your portal secret code.\n"
        )


def issue_code(
    registry: Registry, identifier: str, now: float, hours: int = DEFAULT_CODE_HOURS
) -> IssuedCode:
    """A new single-use activation code for ``identifier``, valid ``hours``."""
    if registry.user(identifier) is None:
        raise _not_found(f"user {identifier!r}")
    if not 1 <= hours <= 24 * 90:
        raise UsageError(f"--hours {hours}: expected 1 to 2160", code="ES933")
    code = make_code()
    expires = now + hours * 3600
    registry.add_code(identifier, code, expires)
    return IssuedCode(identifier, code, dt.datetime.fromtimestamp(expires, dt.UTC))


@dataclass(frozen=True)
class LostReport:
    """What reporting a key lost did."""

    serial: str
    revoked: int
    replacement: str | None


def report_lost(
    registry: Registry, serial: str, now: float, replacement: str | None = None
) -> LostReport:
    """Block a lost key, revoke its certificates, and optionally bind a replacement to the
    same customer. All or nothing."""
    key = registry.key(serial)
    if key is None:
        raise _not_found(f"key serial {serial!r}")
    new = None
    if replacement is not None:
        new = registry.key(replacement)
        if new is None:
            raise _not_found(f"replacement key serial {replacement!r}")
        if new.blocked or new.serial == serial:
            raise _conflict(f"replacement key {replacement} is blocked")
        if new.identifier not in (None, key.identifier):
            raise _conflict(f"replacement key {replacement} is bound to {new.identifier!r}")
        if key.identifier is None:
            raise _conflict(f"key {serial} was never assigned: use `admin assign` instead")
    with registry.transaction():
        registry.block(serial, replacement)
        revoked = registry.revoke_key_certificates(serial, now, "keyCompromise")
        if new is not None and key.identifier is not None:
            registry.bind(new.serial, key.identifier)
    return LostReport(serial, revoked, replacement)


# --- the portal ------------------------------------------------------------------------------

DEFAULT_MAIL_CODE_DAYS = 30


@dataclass(frozen=True)
class MailCode:
    """A new mail code for the portal's first connection (printed once, never stored)."""

    identifier: str
    code: str
    expires: dt.datetime

    def letter(self, bank_name: str, portal_name: str) -> str:
        """The text that goes by mail."""
        return (
            f"{bank_name} — your {portal_name} secret code\n\n"
            f"Identifier:  {self.identifier}\n"
            f"Secret code: {self.code}\n"
            f"Valid until: {self.expires:%Y-%m-%d %H:%M} UTC\n\n"
            "At your first connection, type it on the keypad, then choose your personal "
            "code. It is not the activation code of your key.\n"
        )


def new_mail_code(
    registry: Registry,
    hasher: CodeHasher,
    identifier: str,
    now: float,
    days: int = DEFAULT_MAIL_CODE_DAYS,
) -> MailCode:
    """A new six-digit mail code for ``identifier``: their personal code is forgotten, the
    lock and the wrong-code count cleared, their portal sessions ended; the next login is a
    first connection. Audited."""
    if registry.user(identifier) is None:
        raise _not_found(f"user {identifier!r}")
    if not 1 <= days <= 365:
        raise UsageError(f"--days {days}: expected 1 to 365", code="ES933")
    code = make_mail_code()
    expires = now + days * 86400
    store = PortalStore(registry)
    with registry.transaction():
        store.set_mail_code(identifier, hasher.hash(identifier, code), expires)
        store.delete_sessions_of(identifier, keep="")
        registry.audit("admin/mail-code", 200, "new mail code", identifier=identifier, now=now)
    return MailCode(identifier, code, dt.datetime.fromtimestamp(expires, dt.UTC))


def unlock(registry: Registry, identifier: str, now: float) -> None:
    """Unlock ``identifier``'s portal access after three wrong codes. Audited."""
    with registry.transaction():
        if not PortalStore(registry).unlock(identifier):
            raise _not_found(f"portal user {identifier!r} (no mail code was ever issued)")
        registry.audit("admin/unlock", 200, "unlocked", identifier=identifier, now=now)
