"""Which catalogue error a TUF failure is: pure decisions over python-tuf's exceptions.

python-tuf raises a few exception classes for many causes; the message says which check
failed. Each class of attack gets its own code so that support can tell them apart.
"""

from __future__ import annotations

import datetime as dt
import re

from tuf.api import exceptions

from esecure.errors import UpdateError, UpdateSecurityError

__all__ = ["CLOCK_SKEW", "classify"]

CLOCK_SKEW = dt.timedelta(hours=1)
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


def classify(  # noqa: PLR0911 - one return per failure class reads best
    exc: BaseException,
    *,
    phase: str,
    now: dt.datetime | None = None,
    server_time: dt.datetime | None = None,
) -> UpdateError:
    """The catalogue error for ``exc`` raised during ``phase`` ("check" or "download")."""
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
        return UpdateSecurityError(f"more data than allowed: {text}", code="ES507")
    if isinstance(exc, exceptions.RepositoryError):
        return UpdateSecurityError(f"invalid metadata: {text}", code="ES510")
    if isinstance(exc, exceptions.DownloadError | OSError | TimeoutError):
        code = "ES520" if phase == "check" else "ES525"
        return UpdateError(f"update server unreachable: {text or type(exc).__name__}", code=code)
    raise exc
