"""`esecure verify`: an image checked against the project's public key, every byte.

Reads a ``cdrom.iso`` through pycdlib (Rock Ridge names, after checking that the Joliet
names Windows reads and the plain ISO 9660 tree point at the same data) or an extracted
tree, then decides with the same pure functions as the launcher's self-check
(:func:`esecure.bundle.manifest.verify_manifest` and :func:`~esecure.bundle.manifest.compare`),
hashing every file and listing every file present; then checks the image's release
(:func:`esecure.bundle.release.check_release`: release.json and each component's list
signed, each list hashing to the id release.json names and matching the files under its
component's mount). The key is always the project's, never only the one the image carries.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from esecure.bundle.manifest import (
    MANIFEST_NAME,
    PUBLIC_KEY_PATH,
    SIGNATURE_NAME,
    Mismatch,
    Observed,
    compare,
    verify_manifest,
)
from esecure.bundle.release import check_release
from esecure.bundle.tree import hash_file, walk_files
from esecure.errors import IntegrityError, UsageError
from esecure_onkey.layout import CD_COMPONENTS, CD_RELEASE, CD_RELEASE_SIG

__all__ = ["VerifyResult", "compare_views", "extract_image", "verify_image"]


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


_MULTI_EXTENT = 0x80  # ISO 9660 file flag: the file continues in the next record
Extent = tuple[int, int]  # (first logical block, data length) of a file's data


def compare_views(
    rock_ridge: dict[str, Extent], joliet: dict[str, Extent], plain: dict[str, Extent]
) -> list[Mismatch]:
    """Every way the three directory trees of an ISO disagree (pure).

    Linux reads the Rock Ridge names, Windows the Joliet ones, a bare reader the plain
    ISO 9660 ones: each path must be in both named trees pointing at the same data, and
    every plain ISO 9660 file must point at the data of a file of the named trees.
    """
    out = [
        Mismatch(path, "unlisted", "only in the Rock Ridge (Linux) view, not in Joliet")
        for path in sorted(rock_ridge.keys() - joliet.keys())
    ]
    out.extend(
        Mismatch(path, "unlisted", "only in the Joliet (Windows) view, not in Rock Ridge")
        for path in sorted(joliet.keys() - rock_ridge.keys())
    )
    out.extend(
        Mismatch(path, "hash", "the Joliet (Windows) view holds other data than Rock Ridge")
        for path in sorted(rock_ridge.keys() & joliet.keys())
        if not _same_data(rock_ridge[path], joliet[path])
    )
    known = {e for e in rock_ridge.values() if e[1]}
    for path, extent in sorted(plain.items()):
        if extent[1] and extent not in known:
            out.append(
                Mismatch(path, "unlisted", "plain ISO 9660 file with data no listed file has")
            )
    return out


def _same_data(a: Extent, b: Extent) -> bool:
    return a == b or (a[1] == 0 and b[1] == 0)


class _IsoReader:
    def __init__(self, path: Path) -> None:
        import pycdlib  # noqa: PLC0415
        from pycdlib.pycdlibexception import PyCdlibException  # noqa: PLC0415

        self._path = path
        self._errors: tuple[type[Exception], ...] = (PyCdlibException, OSError, ValueError)
        self._iso = pycdlib.PyCdlib()
        try:
            self._iso.open(str(path))
        except self._errors as exc:
            raise self._unreadable(exc) from None
        missing = [
            view
            for view, present in (
                ("Rock Ridge", self._iso.has_rock_ridge()),
                ("Joliet", self._iso.has_joliet()),
            )
            if not present
        ]
        if missing or self._iso.has_udf():
            self._iso.close()
            what = f"no {' and no '.join(missing)} names" if missing else "a UDF tree"
            raise UsageError(
                f"{path}: not an e-secure image: it has {what} (esecure build writes "
                "Rock Ridge and Joliet names over one ISO 9660 tree, no UDF)",
                code="ES918",
            )

    def _unreadable(self, exc: Exception) -> UsageError:
        return UsageError(f"{self._path}: not a readable ISO 9660 image ({exc})", code="ES918")

    def _view(self, kind: str) -> dict[str, Extent]:
        from pycdlib.dr import DirectoryRecord  # noqa: PLC0415

        out: dict[str, Extent] = {}
        for directory, _dirs, files in self._iso.walk(**{kind: "/"}):
            base = directory.strip("/")
            for name in files:
                rel = f"{base}/{name}" if base else name
                if rel in out:  # a second record of that name: which one a reader takes varies
                    raise IntegrityError(
                        f"{self._path}: {rel} appears twice in one view", code="ES915"
                    )
                record = self._iso.get_record(**{kind: f"/{rel}"})
                if not isinstance(record, DirectoryRecord):  # only a UDF path gives others
                    raise UsageError(f"{self._path}: {rel} is no ISO 9660 record", code="ES918")
                if kind == "rr_path" and record.is_symlink():
                    raise IntegrityError(
                        f"{self._path}: {rel} is a symbolic link; the image holds only files",
                        code="ES915",
                    )
                if record.data_continuation is not None or record.file_flags & _MULTI_EXTENT:
                    # Never written by the build (files < 4 GiB); also how pycdlib shows a
                    # second record of the same name, which a reader could take instead.
                    raise IntegrityError(
                        f"{self._path}: {rel} has several extents or several records",
                        code="ES915",
                    )
                out[rel] = (int(record.extent_location()), int(record.get_data_length()))
        return out

    def files(self) -> list[str]:
        try:
            rock_ridge = self._view("rr_path")
            mismatches = compare_views(
                rock_ridge, self._view("joliet_path"), self._view("iso_path")
            )
        except self._errors as exc:
            raise self._unreadable(exc) from None
        if mismatches:
            raise IntegrityError(
                f"{self._path}: its views disagree ({len(mismatches)})\n  {_render(mismatches)}",
                code="ES915",
            )
        return sorted(rock_ridge)

    def read(self, path: str) -> bytes:
        buf = io.BytesIO()
        try:
            self._iso.get_file_from_iso_fp(buf, rr_path=f"/{path}")
        except self._errors as exc:
            raise self._unreadable(exc) from None
        return buf.getvalue()

    def observe(self, path: str) -> Observed:
        sink = _Hasher()
        try:
            self._iso.get_file_from_iso_fp(cast(BinaryIO, sink), rr_path=f"/{path}")
        except self._errors as exc:
            return Observed(size=None, error=str(exc))
        return Observed(size=sink.size, sha256=sink.digest.hexdigest())

    def extract(self, path: str, target: Path) -> None:
        try:
            self._iso.get_file_from_iso(str(target), rr_path=f"/{path}")
        except self._errors as exc:
            raise self._unreadable(exc) from None

    def close(self) -> None:
        self._iso.close()


class _TreeReader:
    def __init__(self, root: Path) -> None:
        self._root = root

    def files(self) -> list[str]:
        try:
            return walk_files(self._root)
        except ValueError as exc:  # a symbolic link, a FIFO…: never part of an image
            raise IntegrityError(f"{exc}", code="ES915") from None
        except OSError as exc:
            raise UsageError(
                f"{exc.filename or self._root}: cannot be read ({exc.strerror or exc})",
                code="ES918",
            ) from None

    def read(self, path: str) -> bytes:
        try:
            return (self._root / path).read_bytes()
        except OSError as exc:
            raise UsageError(
                f"{self._root / path}: cannot be read ({exc.strerror or exc})", code="ES918"
            ) from None

    def observe(self, path: str) -> Observed:
        p = self._root / path
        try:
            return Observed(size=p.stat().st_size, sha256=hash_file(p))
        except FileNotFoundError:
            return Observed(size=None)
        except OSError as exc:
            return Observed(size=None, error=exc.strerror or str(exc))

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
        observed = {p: reader.observe(p) for p in present}
        mismatches = compare(manifest, observed, present=present)
        if PUBLIC_KEY_PATH in present and reader.read(PUBLIC_KEY_PATH) != project_public_key_pem:
            mismatches.append(
                Mismatch(PUBLIC_KEY_PATH, "hash", "is not the project's image-signing key")
            )
        small = {
            p: reader.read(p)
            for p in present
            if p in (CD_RELEASE, CD_RELEASE_SIG) or p.startswith(CD_COMPONENTS + "/")
        }
        release = check_release(
            small,
            observed,
            project_public_key_pem,
            product=manifest.product,
            version=manifest.version,
        )
        named = {m.path for m in mismatches}  # a culprit the manifest names is named once
        mismatches.extend(m for m in release if m.path not in named)
        if mismatches:
            raise IntegrityError(
                f"{image}: {len(mismatches)} mismatch(es)\n  {_render(mismatches)}",
                code="ES915",
            )
        total = sum(o.size or 0 for p, o in observed.items() if p in listed)
        return VerifyResult(manifest.product, manifest.version, len(manifest.files), total)
    finally:
        reader.close()


def read_member(image: Path, path: str) -> bytes | None:
    """The file ``path`` of an image (cdrom.iso or an extracted tree), None if it has none
    (read whatever the manifest says: `esecure verify`'s Authenticode check)."""
    reader: _IsoReader | _TreeReader = _TreeReader(image) if image.is_dir() else _IsoReader(image)
    try:
        return reader.read(path) if path in reader.files() else None
    finally:
        reader.close()


def extract_image(image: Path, dest: Path) -> int:
    """Write every file of the ISO ``image`` under ``dest`` by its Rock Ridge name (the
    names Linux mounts), after checking that its three views agree (ES915) — for
    ``esecure doctor`` on an image. Returns the number of files."""
    reader = _IsoReader(image)
    root = dest.resolve()
    try:
        files = reader.files()
        for rel in files:
            target = (root / rel).resolve()
            if root not in target.parents:  # never outside dest, whatever a name holds
                raise IntegrityError(
                    f"{image}: {rel} names a place outside the image", code="ES915"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            reader.extract(rel, target)
        return len(files)
    finally:
        reader.close()
