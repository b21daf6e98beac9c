"""`esecure verify`: an image checked against the project's public key, every byte.

Reads a ``cdrom.iso`` through pycdlib (Rock Ridge names) or an extracted tree, then decides
with the same pure functions as the launcher's self-check
(:func:`esecure.bundle.manifest.verify_manifest` and :func:`~esecure.bundle.manifest.compare`),
hashing every file and listing every file present. The key is always the project's, never
only the one the image carries.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from esecure.bundle.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Mismatch,
    Observed,
    compare,
    verify_manifest,
)
from esecure.bundle.tree import hash_file, walk_files
from esecure.errors import IntegrityError, UsageError

__all__ = ["VerifyResult", "verify_image"]

IMAGE_PUBLIC_KEY = "trust/image-signing.pub.pem"


@dataclass(frozen=True)
class VerifyResult:
    """What a passing verification covered."""

    product: str
    version: str
    files: int
    bytes: int


class _Hasher(io.RawIOBase):
    def __init__(self) -> None:
        super().__init__()
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # noqa: ANN401 - io's buffer protocol type
        view = memoryview(data)
        self.digest.update(view)
        self.size += view.nbytes
        return view.nbytes


class _IsoReader:
    def __init__(self, path: Path) -> None:
        import pycdlib  # noqa: PLC0415
        from pycdlib.pycdlibexception import PyCdlibException  # noqa: PLC0415

        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(path))
        except (PyCdlibException, OSError, ValueError) as exc:
            raise UsageError(
                f"{path}: not a readable ISO 9660 image ({exc})", code="ES918"
            ) from None

    def files(self) -> list[str]:
        out: list[str] = []
        for directory, _dirs, files in self._iso.walk(rr_path="/"):
            base = directory.strip("/")
            out.extend(f"{base}/{f}" if base else f for f in files)
        return sorted(out)

    def read(self, path: str) -> bytes:
        buf = io.BytesIO()
        self._iso.get_file_from_iso_fp(buf, rr_path=f"/{path}")
        return buf.getvalue()

    def observe(self, path: str) -> Observed:
        sink = _Hasher()
        self._iso.get_file_from_iso_fp(cast(BinaryIO, sink), rr_path=f"/{path}")
        return Observed(size=sink.size, sha256=sink.digest.hexdigest())

    def close(self) -> None:
        self._iso.close()


class _TreeReader:
    def __init__(self, root: Path) -> None:
        self._root = root

    def files(self) -> list[str]:
        try:
            return walk_files(self._root)
        except ValueError as exc:  # a symbolic link: never part of an image
            raise IntegrityError(f"{exc}", code="ES915") from None

    def read(self, path: str) -> bytes:
        return (self._root / path).read_bytes()

    def observe(self, path: str) -> Observed:
        p = self._root / path
        return Observed(size=p.stat().st_size, sha256=hash_file(p))

    def close(self) -> None:
        pass


def _render(mismatches: list[Mismatch]) -> str:
    return "\n  ".join(m.render() for m in mismatches)


def verify_image(image: Path, project_public_key_pem: bytes) -> VerifyResult:
    """Raise IntegrityError (ES914 signature, ES915 files) naming every mismatch."""
    reader: _IsoReader | _TreeReader = _TreeReader(image) if image.is_dir() else _IsoReader(image)
    try:
        present = reader.files()
        if MANIFEST_NAME not in present or SIGNATURE_NAME not in present:
            raise UsageError(f"{image}: no {MANIFEST_NAME} and {SIGNATURE_NAME}", code="ES918")
        data, signature = reader.read(MANIFEST_NAME), reader.read(SIGNATURE_NAME)
        try:
            manifest = verify_manifest(data, signature, project_public_key_pem)
        except IntegrityError as exc:
            raise IntegrityError(f"{image}: {exc.detail}", code="ES914") from None
        listed = {f.path for f in manifest.files}
        observed = {p: reader.observe(p) for p in present if p in listed}
        mismatches = compare(manifest, observed, present=present)
        if IMAGE_PUBLIC_KEY in present and reader.read(IMAGE_PUBLIC_KEY) != project_public_key_pem:
            mismatches.append(
                Mismatch(IMAGE_PUBLIC_KEY, "hash", "is not the project's image-signing key")
            )
        if mismatches:
            raise IntegrityError(
                f"{image}: {len(mismatches)} mismatch(es)\n  {_render(mismatches)}",
                code="ES915",
            )
        total = sum(o.size or 0 for o in observed.values())
        return VerifyResult(manifest.product, manifest.version, len(manifest.files), total)
    finally:
        reader.close()
