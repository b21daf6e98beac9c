"""Pure decisions of the update client: which catalogue error a TUF failure is, and
whether a name from signed metadata may become a file name.

python-tuf raises a few exception classes for many causes; the message says which check
failed. Each class of attack gets its own code so that support can tell them apart.

Names (release files, metadata files, delegated roles) come from metadata that the
repository's keys signed, not from us: a name is used as a file name or a URL component
only once :func:`safe_name` accepted it on every system a key meets (FAT, Windows, Linux).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from tuf.api import exceptions
from tuf.api.metadata import (  # type: ignore[attr-defined]  # re-exported without __all__
    Snapshot,
    Targets,
)

from esecure.errors import UpdateError, UpdateSecurityError

__all__ = ["CLOCK_SKEW", "MAX_NAME_BYTES", "check_names", "classify", "safe_name"]

CLOCK_SKEW = dt.timedelta(hours=1)
MAX_NAME_BYTES = 255  # FAT long names hold 255 UTF-16 units; 255 UTF-8 bytes never exceed it
_SEPARATORS = frozenset("/\\")
_FAT_FORBIDDEN = frozenset('"*:<>?|')  # with the separators and control characters
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"] + [f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)]
)
_SIGNED_BY = re.compile(r"^(?P<role>\S+) was signed by (?P<got>\d+)/(?P<need>\d+) keys")


def _signatures(text: str) -> UpdateError:
    m = _SIGNED_BY.match(text)
    if m and m["role"] == "root":
        # 5.3.4: a new root must be signed by a threshold of the trusted root's keys
        return UpdateSecurityError(f"new root metadata rejected: {text}", code="ES509")
    if m and int(m["got"]) > 0:
        return UpdateSecurityError(f"signatures below threshold: {text}", code="ES502")
    return UpdateSecurityError(f"bad or missing signature: {text}", code="ES501")


def _expired(text: str, now: dt.datetime | None, server_time: dt.datetime | None) -> UpdateError:
    if now is not None and server_time is not None and abs(now - server_time) > CLOCK_SKEW:
        return UpdateSecurityError(
            f"{text}; this computer's clock says {now:%Y-%m-%d %H:%M} UTC, the server's "
            f"{server_time:%Y-%m-%d %H:%M} UTC",
            code="ES505",
        )
    return UpdateSecurityError(f"expired metadata (freeze attack?): {text}", code="ES504")


def _versions(text: str) -> UpdateError:
    # 5.3.5/5.4.3/5.5.5: versions never go backwards; 5.5.4/5.6.3: versions must match
    if (
        "must be >=" in text
        or re.search(r"Expected \S+\.json version", text)
        or text.startswith("Expected root version")
    ):
        return UpdateSecurityError(f"rollback: {text}", code="ES503")
    return UpdateSecurityError(f"metadata versions do not match: {text}", code="ES508")


def _too_much(text: str, phase: str, declared_length: int | None) -> UpdateError:
    # python-tuf cuts every download at its signed length (targets) or its role's maximum
    # (metadata) and raises the same exception for both; the server's Content-Length tells
    # a file of another length (it announced more than was signed) from an endless stream
    if phase == "download" and declared_length is not None:
        return UpdateSecurityError(
            f"length mismatch: the server announced {declared_length} bytes, more than the "
            f"signed length ({text})",
            code="ES506",
        )
    return UpdateSecurityError(f"endless data, cut at the allowed length: {text}", code="ES507")


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a file name on a key, or None when it can."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid Unicode"
    problem = None
    if not name:
        problem = "it is empty"
    elif name in {".", ".."}:
        problem = "it names a directory"
    elif any(c in _SEPARATORS for c in name):
        problem = "it contains a path separator"
    elif any(unicodedata.category(c) == "Cc" for c in name):
        problem = "it contains a control character"
    elif any(c in _FAT_FORBIDDEN for c in name):
        problem = 'it contains a character FAT does not allow (" * : < > ? |)'
    elif name[-1] in ". ":
        problem = "it ends with a dot or a space (Windows drops them)"
    elif name.split(".", 1)[0].upper() in _DEVICES:
        problem = "it is a Windows device name"
    elif size > MAX_NAME_BYTES:
        problem = f"it is {size} bytes long (at most {MAX_NAME_BYTES})"
    return problem


def safe_name(name: str, what: str) -> str:
    """``name`` when it can be a single file name on a key (FAT, Windows, Linux), else
    UpdateSecurityError ES511 naming ``what`` it is ("release file", "delegated role"...).

    Refused: empty, ``.`` and ``..``, path separators (``/``, ``\\``), control characters
    (NUL included), the characters FAT forbids, a trailing dot or space, Windows device
    names (``CON``, ``NUL.json``...), more than MAX_NAME_BYTES bytes of UTF-8.
    """
    problem = _name_problem(name)
    if problem is not None:
        raise UpdateSecurityError(f"{what} {name!r} cannot be a file name: {problem}", code="ES511")
    return name


def _role_file(role: str, what: str) -> None:
    """A role's name and its metadata file's name (``<role>.json``) are both file names."""
    safe_name(role, what)
    safe_name(f"{role}.json", what)


def check_names(snapshot: Snapshot, targets: Targets) -> None:
    """Every metadata file the snapshot lists and every role the targets delegates to has a
    name that can be a file name (ES511). The product fetches and keeps only the top-level
    roles, under fixed names; a repository naming what a key cannot hold is refused."""
    for name in snapshot.meta:
        safe_name(name, "metadata file")
        _role_file(name.removesuffix(".json"), "metadata role")
    delegations = targets.delegations
    if delegations is None:
        return
    for role in delegations.roles or {}:
        _role_file(role, "delegated role")
    bins = delegations.succinct_roles
    if bins is not None:  # every bin is the prefix, a dash and a hex suffix
        _role_file(f"{bins.name_prefix}-{'f' * bins.suffix_len}", "delegated role")


def classify(  # noqa: PLR0911 - one return per failure class reads best
    exc: BaseException,
    *,
    phase: str,
    now: dt.datetime | None = None,
    server_time: dt.datetime | None = None,
    declared_length: int | None = None,
) -> UpdateError:
    """The catalogue error for ``exc`` raised during ``phase`` ("check" or "download").

    ``declared_length`` is the Content-Length the server announced for the file being
    downloaded (None when it announced none).
    """
    text = str(exc)
    if isinstance(exc, exceptions.UnsignedMetadataError):
        return _signatures(text)
    if isinstance(exc, exceptions.ExpiredMetadataError):
        return _expired(text, now, server_time)
    if isinstance(exc, exceptions.BadVersionNumberError):
        return _versions(text)
    if isinstance(exc, exceptions.LengthOrHashMismatchError):
        # metadata that does not match the snapshot/timestamp's record of it is mix-and-match
        code = "ES508" if phase == "check" else "ES506"
        return UpdateSecurityError(f"length or hash mismatch: {text}", code=code)
    if isinstance(exc, exceptions.DownloadLengthMismatchError):
        return _too_much(text, phase, declared_length)
    if isinstance(exc, exceptions.RepositoryError):
        return UpdateSecurityError(f"invalid metadata: {text}", code="ES510")
    if isinstance(exc, exceptions.DownloadError | OSError | TimeoutError):
        code = "ES520" if phase == "check" else "ES525"
        return UpdateError(f"update server unreachable: {text or type(exc).__name__}", code=code)
    raise exc
