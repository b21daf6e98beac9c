"""Where a project's TUF keys live: ``<project>/keys/tuf/``, private keys encrypted at rest.

tufup reads private keys as clear files from a directory (its own encryption prompts on a
terminal, which CI and scheduled jobs do not have). So the store keeps each private key
sealed with the project's passphrase (scrypt + AES-256-GCM) and opens them, only for the
duration of one operation, into a fresh 0700 temporary directory that is wiped afterwards.
A demo project (``[trust] encrypted_keys = false``) keeps clear private keys instead.

Layout::

    keys/tuf/keymap.json        role -> key names (root-1, root-2, ..., timestamp-1)
    keys/tuf/<name>.pub         public keys (securesystemslib JSON, as tufup writes them)
    keys/tuf/<name>.sealed      private keys, sealed (or <name> in clear for the demo)
    keys/tuf/retired/           keys replaced by `esecure keys rotate`
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from esecure._fs import atomic_write
from esecure.errors import UsageError

__all__ = ["ROLES", "KeyStore"]

ROLES = ("root", "targets", "snapshot", "timestamp")
SEALED = ".sealed"
_SCRYPT_N = 2**15


def _kdf(passphrase: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1).derive(passphrase)


def seal(data: bytes, passphrase: bytes) -> bytes:
    """``data`` encrypted with a key derived from ``passphrase``."""
    salt, nonce = os.urandom(16), os.urandom(12)
    ct = AESGCM(_kdf(passphrase, salt)).encrypt(nonce, data, b"esecure-tuf-key")
    fields = {"kdf": "scrypt", "n": _SCRYPT_N, "salt": salt, "nonce": nonce, "ct": ct}
    return json.dumps(
        {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in fields.items()}
    ).encode()


def unseal(blob: bytes, passphrase: bytes, name: str) -> bytes:
    """The clear key; ES954 when the passphrase is wrong or the file altered."""
    try:
        doc = json.loads(blob)
        salt, nonce, ct = (base64.b64decode(doc[k]) for k in ("salt", "nonce", "ct"))
        return AESGCM(_kdf(passphrase, salt)).decrypt(nonce, ct, b"esecure-tuf-key")
    except (InvalidTag, ValueError, KeyError) as exc:
        raise UsageError(
            f"cannot open the TUF key {name}: wrong passphrase, or the file was altered",
            code="ES954",
        ) from exc


class KeyStore:
    """The project's TUF key directory."""

    def __init__(self, directory: Path, *, encrypted: bool) -> None:
        self.directory = directory
        self.encrypted = encrypted

    @property
    def keymap_path(self) -> Path:
        """Where the role -> key names map is kept."""
        return self.directory / "keymap.json"

    def exists(self) -> bool:
        """Whether keys were made for this project."""
        return self.keymap_path.is_file()

    def keymap(self) -> dict[str, list[str]]:
        """Role -> key names; ES951 when `esecure keys init` was never run."""
        if not self.exists():
            raise UsageError(
                f"no TUF keys in {self.directory}: run `esecure keys init PROJECT` first",
                code="ES951",
            )
        data: dict[str, list[str]] = json.loads(self.keymap_path.read_text())
        return data

    def save_keymap(self, keymap: dict[str, list[str]]) -> None:
        """Record role -> key names."""
        atomic_write(self.keymap_path, json.dumps(keymap, indent=2, sort_keys=True).encode())

    @contextlib.contextmanager
    def opened(self, passphrase: Callable[[], bytes] | None) -> Iterator[Path]:
        """A temporary 0700 directory with every public key and the clear private keys.

        ``passphrase`` is called only when a sealed key is present.
        """
        work = Path(tempfile.mkdtemp(prefix="esecure-tuf-"))
        try:
            work.chmod(0o700)
            secret: bytes | None = None
            for path in sorted(self.directory.iterdir()):
                if path.suffix == ".pub":
                    shutil.copyfile(path, work / path.name)
                elif path.suffix == SEALED:
                    if secret is None:
                        if passphrase is None:
                            raise UsageError("the TUF keys are sealed: no passphrase given")
                        secret = passphrase()
                    clear = unseal(path.read_bytes(), secret, path.stem)
                    atomic_write(work / path.stem, clear, mode=0o600)
                elif path.is_file() and not path.suffix:
                    shutil.copyfile(path, work / path.name)
                    (work / path.name).chmod(0o600)
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def store_new(self, work: Path, names: list[str], passphrase: bytes | None) -> None:
        """Copy the key pairs ``names`` made in ``work`` into the store (sealed if encrypted)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            atomic_write(self.directory / f"{name}.pub", (work / f"{name}.pub").read_bytes())
            clear = (work / name).read_bytes()
            if self.encrypted:
                if passphrase is None:
                    raise UsageError("encrypted TUF keys need a passphrase", code="ES903")
                atomic_write(
                    self.directory / f"{name}{SEALED}", seal(clear, passphrase), mode=0o600
                )
            else:
                atomic_write(self.directory / name, clear, mode=0o600)

    def retire(self, name: str) -> None:
        """Move a replaced key pair to retired/ (kept for audit, never used to sign again)."""
        retired = self.directory / "retired"
        retired.mkdir(exist_ok=True)
        for path in self.directory.glob(f"{name}*"):
            if path.name in (name, f"{name}.pub", f"{name}{SEALED}"):
                path.replace(retired / path.name)
