"""The bank operator's operations on the registry (`esecure admin …`).

Each operation checks its preconditions and raises a catalogue error naming the culprit:
ES932 when something named is not in the registry, ES933 when the change conflicts with
the registry's state, ES931 for an unusable key registry file, ES938 for one whose
signature (the image-signing key's, see `esecure personalize`) is missing or wrong. The
portal's operations (a new mail code, unlocking after three wrong codes) are audited.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from esecure.bundle import serials
from esecure.errors import IntegrityError, OperationError, UsageError
from esecure.server.portal.codes import CodeHasher, make_mail_code
from esecure.server.portal.store import PortalStore
from esecure.server.registry import Registry

__all__ = [
    "IDENTIFIER_PATTERN",
    "REGISTRY_FIELDS",
    "SERIAL_PATTERN",
    "SIGNATURE_SUFFIX",
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
    "verify_registry_signature",
]

# Serials are opaque: upper-case letters, digits and '-', at most 32 characters.
SERIAL_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{0,31}")
# Identifiers as advisers hand them out: letters, digits and . _ - @, at most 64.
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Activation codes: 16 characters from an alphabet without look-alikes (80 bits).
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
DEFAULT_CODE_HOURS = 72
SIGNATURE_SUFFIX = ".sig"  # beside each registry file, as `esecure personalize` writes it


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


REGISTRY_FIELDS = ("serial", "batch", "created", "product")
_BATCH_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HOW_TO_SIGN = (
    "import the file exactly as `esecure personalize` wrote it, with its .sig beside it "
    "(re-run personalize for a registry from before signatures)"
)


def _bad(name: str, where: str, problem: str, fix: str) -> UsageError:
    return UsageError(f"{name}:{where}: {problem}; {fix}. Nothing was imported", code="ES931")


def _registry_records(name: str, text: str) -> list[tuple[str, dict[str, object]]]:
    """(where, record) for each row: ``N`` (the line) for CSV, ``item N`` for JSON."""
    if text.lstrip().startswith("["):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}: invalid JSON ({exc})", code="ES931") from None
        if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
            raise UsageError(f"{name}: expected a JSON list of objects", code="ES931")
        return [(f"item {i}", r) for i, r in enumerate(loaded, start=1)]
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or tuple(f.strip() for f in reader.fieldnames) != REGISTRY_FIELDS:
        raise UsageError(
            f"{name}:1: expected the CSV header {','.join(REGISTRY_FIELDS)!r}, found "
            f"{','.join(reader.fieldnames or [])!r}; {_HOW_TO_SIGN}",
            code="ES931",
        )
    out: list[tuple[str, dict[str, object]]] = []
    for record in reader:
        extra = record.pop(None, None)
        if extra:
            raise _bad(name, str(reader.line_num), "more than four fields", "remove the line")
        out.append((str(reader.line_num), dict(record)))
    return out


def parse_key_registry(name: str, data: bytes, product: str) -> list[tuple[str, str, str]]:
    """(serial, batch, created) rows of a personalisation registry, CSV or JSON.

    CSV needs the header ``serial,batch,created,product``; JSON is a list of objects with
    those keys. Every row must name ``product``, a batch, and a serial whose check
    character is right. The first problem is raised naming its line (``FILE:LINE``); nothing
    is imported from a file with one bad row.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{name}: not UTF-8 text", code="ES931") from None
    rows = []
    seen: set[str] = set()
    for where, record in _registry_records(name, text):
        values = [record.get(k) for k in REGISTRY_FIELDS]
        if not all(isinstance(v, str) for v in values):
            raise _bad(name, where, f"{', '.join(REGISTRY_FIELDS)} must be strings", "fix it")
        serial, batch, created, owner = (str(v) for v in values)
        if owner != product:
            raise _bad(
                name,
                where,
                f"product {owner!r} is not this project's {product!r}",
                "import the registry of keys made for this product",
            )
        if not _BATCH_PATTERN.fullmatch(batch):
            raise _bad(name, where, f"batch {batch!r} is malformed", "use the file as written")
        if not serials.is_valid(serial):
            raise _bad(
                name,
                where,
                f"serial {serial!r} is not a valid key serial (wrong check character or "
                f"not {serials.LENGTH} characters of {serials.ALPHABET})",
                "use the file exactly as `esecure personalize` wrote it",
            )
        if serial in seen:
            raise _bad(name, where, f"serial {serial} repeated", "remove the repeated line")
        seen.add(serial)
        rows.append((serial, batch, created))
    return rows


def verify_registry_signature(
    name: str, data: bytes, signature: bytes | None, public_key_pem: bytes
) -> None:
    """ES938 unless ``signature`` is the image-signing key's Ed25519 signature of ``data``."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    def refuse(problem: str) -> IntegrityError:
        return IntegrityError(f"{name}: {problem}; nothing was imported", code="ES938")

    if signature is None:
        raise refuse(f"no signature file {name}{SIGNATURE_SUFFIX}; {_HOW_TO_SIGN}")
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError as exc:
        raise refuse(f"the image-signing public key is unusable ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise refuse("the image-signing public key is not an Ed25519 key")
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), data)
    except (InvalidSignature, binascii.Error, ValueError):
        raise refuse(
            f"the signature {name}{SIGNATURE_SUFFIX} does not match the file and the "
            "project's image-signing public key (the file was changed, or made for another "
            "product)"
        ) from None


def import_keys(
    registry: Registry, path: Path, *, product: str, public_key_pem: bytes
) -> tuple[int, int]:
    """Import a signed personalisation registry file: (new serials, serials already known).

    The signature (``<path>.sig``) is checked over the exact bytes first, then every row;
    the rows go in one transaction only when all are good.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}", code="ES931") from None
    try:
        signature: bytes | None = path.with_name(path.name + SIGNATURE_SUFFIX).read_bytes()
    except FileNotFoundError:
        signature = None
    except OSError as exc:
        raise IntegrityError(
            f"cannot read {path}{SIGNATURE_SUFFIX}: {exc.strerror}", code="ES938"
        ) from None
    verify_registry_signature(str(path), data, signature, public_key_pem)
    rows = parse_key_registry(str(path), data, product)
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
