"""The pepper: the HMAC key of the portal's codes, held outside the registry database.

Taken from ``ESECURE_PORTAL_PEPPER`` (64 hex digits) when set — the way to give several
server hosts sharing a PostgreSQL registry the same one — else from the file
``portal-pepper`` beside the project's server TLS key (``keys/``, 0700), created 0600 with
32 random bytes the first time the server or an admin command needs it. Creation is
race-free: the file is written under a temporary name, then hard-linked to its final name,
which fails if another process got there first (its pepper then wins, and is read back).
Losing the pepper makes every secret and mail code unusable: back it up with the keys,
never with the database.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path

from esecure._fs import fsync_dir
from esecure.config import Project
from esecure.errors import OperationError

__all__ = ["ENV", "load_pepper", "pepper_path"]

ENV = "ESECURE_PORTAL_PEPPER"
_SIZE = 32


def pepper_path(project: Project) -> Path:
    """``keys/portal-pepper`` (the directory of the server's TLS key, if elsewhere)."""
    key = project.trust.server_key
    return (key.parent if key is not None else project.root / "keys") / "portal-pepper"


def _decode(text: str, origin: str) -> bytes:
    try:
        value = bytes.fromhex(text.strip())
    except ValueError:
        value = b""
    if len(value) < _SIZE:
        raise OperationError(
            f"{origin}: the portal pepper must be at least {_SIZE * 2} hex digits",
            code="ES937",
        )
    return value


def load_pepper(project: Project) -> bytes:
    """The pepper of ``project``: from the environment, the file, or a new file."""
    if os.environ.get(ENV):
        return _decode(os.environ[ENV], ENV)
    path = pepper_path(project)
    try:
        return _decode(path.read_text(encoding="ascii"), str(path))
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise OperationError(f"cannot read {path}: {exc}", code="ES937") from None
    _create(path)
    return _decode(path.read_text(encoding="ascii"), str(path))


def _create(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".portal-pepper.", dir=path.parent)
        try:
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, (secrets.token_bytes(_SIZE).hex() + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(tmp, path)
            fsync_dir(path.parent)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as exc:
        raise OperationError(f"cannot create {path}: {exc.strerror}", code="ES937") from None
