"""A component's full archive and its per-file patch container (format 1): made by
``esecure publish``, applied by the update client, both streaming (docs/format-1.md).

* **Full archive** ``c-<id>.tar.gz``: every file of the component, paths relative to its
  mount, sorted, reproducible (fixed owner, time and modes), gzip level 6.
* **Patch container** ``c-<id>.from-<base>.patch``: an uncompressed tar whose members
  follow the new file list's order: nothing for a file whose SHA-256 is in the base
  (the client copies it from the base's installed file, whatever its path); ``<path>.zst``
  for a new file; ``<path>.zpatch`` for a changed file whose path is in the base (a zstd
  frame with the base file as raw prefix), when both sides are at most 64 MiB; else
  ``<path>.zpatch.<k>`` for each 32 MiB chunk k of the new file, each a frame whose prefix
  is the base file's bytes ``[k*32 MiB - 16 MiB, (k+1)*32 MiB + 16 MiB)`` clipped to it.

Applying yields each file of the new list to a ``write(path, chunks)`` callback of the
installer; the chunks are checked on the way against the signed list (size first, so a
member can never write more than its listed size; SHA-256 at the end): :class:`MismatchError`.
A patch that cannot produce the listed file raises :class:`NotApplicableError` (the client then
takes the full archive); the full archive's failures are the caller's ES506 / ES507.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol, cast

from esecure.updater import _zstd
from esecure.updater._zstd import IO_CHUNK, FrameError
from esecure_onkey.filelist import check_path

__all__ = [
    "ARCHIVE_MTIME",
    "CHUNK",
    "GZIP_LEVEL",
    "MARGIN",
    "WHOLE_MAX",
    "Gunzip",
    "MismatchError",
    "NotApplicableError",
    "PatchStats",
    "apply_archive",
    "apply_patch",
    "chunk_count",
    "prefix_range",
    "write_archive",
    "write_patch",
]

Files = Mapping[str, tuple[int, str]]  # POSIX path -> (size, SHA-256 hex): a file list
Write = Callable[[str, Iterator[bytes]], None]  # the installer's: one file of the component

GZIP_LEVEL = 6  # gzip -9 costs seconds per release for about 1 % of size
ARCHIVE_MTIME = 315532800  # 1980-01-01: reproducible archives, valid on FAT
WHOLE_MAX = 64 << 20  # a changed file up to this size is one frame with the whole base file
CHUNK = 32 << 20  # above: frames of this many bytes of the new file...
MARGIN = 16 << 20  # ...each with the base bytes around the same offsets as prefix


class MismatchError(ValueError):
    """A file that does not match its entry in the signed list."""


class NotApplicableError(ValueError):
    """A patch container that does not produce the listed files from this base."""


def chunk_count(size: int) -> int:
    """How many ``.zpatch.<k>`` frames a chunked file of ``size`` bytes has."""
    return max(1, -(-size // CHUNK))


def prefix_range(k: int, base_size: int) -> tuple[int, int]:
    """The base bytes [start, end) that chunk ``k`` is matched against."""
    return max(0, k * CHUNK - MARGIN), min(base_size, (k + 1) * CHUNK + MARGIN)


def _file_chunks(path: Path, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        left = end - start if end is not None else None
        while left is None or left > 0:
            block = f.read(IO_CHUNK if left is None else min(IO_CHUNK, left))
            if not block:
                return
            if left is not None:
                left -= len(block)
            yield block


def _read_range(path: Path, start: int, end: int) -> bytes:
    with path.open("rb") as f:
        f.seek(start)
        return f.read(end - start)


def _checked(chunks: Iterator[bytes], path: str, size: int, sha256: str) -> Iterator[bytes]:
    """``chunks`` passed on, as long as they stay within the listed size; at the end their
    size and SHA-256 must be the listed ones (MismatchError)."""
    digest = hashlib.sha256()
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        if seen > size:
            raise MismatchError(f"{path} is longer than its listed {size} bytes")
        digest.update(chunk)
        yield chunk
    if seen != size:
        raise MismatchError(f"{path} has {seen} bytes, the signed list says {size}")
    if digest.hexdigest() != sha256:
        raise MismatchError(f"{path} differs from the signed list")


# --- making (esecure publish) --------------------------------------------------------------


class Readable(Protocol):
    """What the appliers read: a file, or a :class:`Gunzip` over one."""

    def read(self, n: int = -1, /) -> bytes: ...


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class _Counter:
    """A write-only stream that counts what passes through it."""

    def __init__(self, out: _Writable) -> None:
        self.out = out
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def _member(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = ARCHIVE_MTIME
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_archive(root: Path, files: Files, out: BinaryIO) -> int:
    """The full archive of the component whose files are under ``root``, into ``out``;
    returns its uncompressed (tar) size, signed as ``tar_size``."""
    with gzip.GzipFile(
        filename="", mode="wb", fileobj=out, compresslevel=GZIP_LEVEL, mtime=0
    ) as gz:
        counter = _Counter(gz)
        with tarfile.open(
            fileobj=cast("BinaryIO", counter), mode="w|", format=tarfile.PAX_FORMAT
        ) as tar:
            for path, (size, _sha) in sorted(files.items()):
                source = root / path
                mode = 0o755 if source.stat().st_mode & 0o100 else 0o644
                with source.open("rb") as f:
                    tar.addfile(_member(path, size, mode), f)
        return counter.size


@dataclass(frozen=True)
class PatchStats:
    """What a patch container holds: how many files of each kind, and its size."""

    copied: int  # files whose content is in the base: nothing in the container
    patched: int  # changed files, as zstd frames against the base file
    new: int  # files whose path is not in the base: whole zstd frames
    size: int  # bytes of the container


def write_patch(
    base_root: Path, base: Files, new_root: Path, new: Files, out: BinaryIO
) -> PatchStats:
    """The patch container from component version ``base`` (its files under ``base_root``)
    to ``new`` (under ``new_root``), into ``out`` (a file, written from its current
    position to its end)."""
    hashes = {sha for _size, sha in base.values()}
    copied = patched = added = 0
    counter = _Counter(out)
    with tarfile.open(
        fileobj=cast("BinaryIO", counter), mode="w|", format=tarfile.PAX_FORMAT
    ) as tar:
        for path, (size, sha) in sorted(new.items()):
            if sha in hashes:
                copied += 1
                continue
            base_size = base[path][0] if path in base else 0
            if base_size == 0:
                _add_whole(tar, path, new_root / path)
                added += 1
            elif size <= WHOLE_MAX and base_size <= WHOLE_MAX:
                frame = _zstd.compress(
                    (new_root / path).read_bytes(), (base_root / path).read_bytes()
                )
                tar.addfile(_member(f"{path}.zpatch", len(frame)), io.BytesIO(frame))
                patched += 1
            else:
                for k in range(chunk_count(size)):
                    start, end = prefix_range(k, base_size)
                    prefix = _read_range(base_root / path, start, end)
                    data = _read_range(new_root / path, k * CHUNK, (k + 1) * CHUNK)
                    frame = _zstd.compress(data, prefix)
                    del prefix, data
                    tar.addfile(_member(f"{path}.zpatch.{k}", len(frame)), io.BytesIO(frame))
                patched += 1
    # tar pads its end to a 10 KiB record: a container of one small change would be mostly
    # zeros. Readers stop at the end-of-archive blocks, which stay.
    padding = counter.size - tar.offset
    out.truncate(out.tell() - padding)
    out.seek(0, io.SEEK_END)
    return PatchStats(copied, patched, added, tar.offset)


def _add_whole(tar: tarfile.TarFile, path: str, source: Path) -> None:
    """``<path>.zst``: a whole new file as one frame, made through a temporary file (its
    size must be known before the member's header is written)."""
    with tempfile.TemporaryFile() as frame, source.open("rb") as f:
        size = _zstd.compress_stream(f, frame)
        frame.seek(0)
        tar.addfile(_member(f"{path}.zst", size), frame)


# --- applying (the update client) -----------------------------------------------------------


class Gunzip:
    """A gzip stream decompressed as it is read, never beyond ``cap`` bytes (the signed
    ``tar_size``): a gzip bomb signed by mistake cannot fill the memory or the disk.

    Raises ``BombError`` past the cap and ``BrokenError`` for a stream that is not gzip or
    ends early (the caller maps them to ES507 and ES506).
    """

    class BombError(ValueError):
        """More output than the cap."""

    class BrokenError(ValueError):
        """Not a gzip stream, or cut short."""

    def __init__(self, raw: BinaryIO, cap: int) -> None:
        self.raw = raw
        self.cap = cap
        self.total = 0
        self._inflater = zlib.decompressobj(wbits=31)
        self._pending = b""

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of output (a block when ``n`` is negative); b"" at the end."""
        want = n if n > 0 else IO_CHUNK
        while not self._inflater.eof:
            data = self._pending or self.raw.read(64 * 1024)
            if not data:
                raise Gunzip.BrokenError("the gzip stream ends early")
            try:
                piece = self._inflater.decompress(data, min(want, self.cap + 1 - self.total))
            except zlib.error as exc:
                raise Gunzip.BrokenError(f"not a gzip stream ({exc})") from exc
            self._pending = self._inflater.unconsumed_tail
            self.total += len(piece)
            if self.total > self.cap:
                raise Gunzip.BombError(f"more than its signed {self.cap} bytes")
            if piece:
                return piece
        return b""


def apply_archive(stream: Readable, new: Files, write: Write) -> None:
    """Every file of the full archive (``stream``: its uncompressed tar) to ``write``.

    Only regular members with a path inside the component, each listed once with its
    listed size (MismatchError otherwise); every listed file must come (MismatchError).
    """
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=cast("IO[bytes]", stream), mode="r|") as tar:
            for member in tar:
                try:
                    path = check_path(member.name)
                except (ValueError, TypeError) as exc:
                    raise MismatchError(f"archive member {member.name!r}: {exc}") from None
                if not member.isfile():
                    raise MismatchError(f"archive member {path!r} is not a plain file")
                if path not in new or path in seen:
                    raise MismatchError(f"archive member {path!r} is not in the signed list")
                size, sha = new[path]
                if member.size != size:
                    raise MismatchError(
                        f"{path} has {member.size} bytes, the signed list says {size}"
                    )
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - a regular member always has data
                    raise MismatchError(f"archive member {path!r} has no data")
                write(
                    path,
                    _checked(iter(functools.partial(source.read, IO_CHUNK), b""), path, size, sha),
                )
                seen.add(path)
    except (tarfile.TarError, EOFError) as exc:
        raise MismatchError(f"the archive is not a readable tar ({exc})") from exc
    missing = sorted(set(new) - seen)
    if missing:
        raise MismatchError(f"{missing[0]} (and {len(missing) - 1} more) missing from the archive")


class _Members:
    """The container's members one at a time, with a look at the next one."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.iterator = iter(tar)
        self.head: tarfile.TarInfo | None = next(self.iterator, None)

    def take(self, name: str) -> IO[bytes] | None:
        """The data of the next member when it is named ``name`` (and a plain file)."""
        member = self.head
        if member is None or member.name != name:
            return None
        if not member.isfile():
            raise NotApplicableError(f"patch member {name!r} is not a plain file")
        self.head = None  # the next one is read only once this one is consumed
        return self.tar.extractfile(member)

    def advance(self) -> None:
        if self.head is None:
            self.head = next(self.iterator, None)


def apply_patch(
    container: Readable, base_root: Path, base: Files, new: Files, write: Write
) -> None:
    """Every file of ``new`` to ``write``, from the patch container and the base's files
    under ``base_root`` (the installed, verified component version ``base``).

    Raises NotApplicableError when the container cannot give a listed file (missing, unexpected
    or undecodable member, a base file missing or different): the caller takes the full
    archive. MismatchError (a produced file differs from the list) is raised as NotApplicableError.
    """
    by_hash = {sha: path for path, (_size, sha) in base.items()}
    try:
        with tarfile.open(fileobj=cast("IO[bytes]", container), mode="r|") as tar:
            members = _Members(tar)
            for path, (size, sha) in sorted(new.items()):
                chunks = _patched_file(
                    members, base_root, base, by_hash=by_hash, path=path, size=size, sha256=sha
                )
                write(path, _checked(chunks, path, size, sha))
                members.advance()
            if members.head is not None:
                raise NotApplicableError(f"unexpected patch member {members.head.name!r}")
    except (tarfile.TarError, EOFError, FrameError, MismatchError) as exc:
        raise NotApplicableError(str(exc)) from exc
    except OSError as exc:  # reading a base file: the full archive does not need it
        if exc.filename is not None and base_root in Path(exc.filename).parents:
            raise NotApplicableError(f"base file unreadable ({exc.strerror or exc})") from exc
        raise


def _patched_file(
    members: _Members,
    base_root: Path,
    base: Files,
    *,
    by_hash: Mapping[str, str],
    path: str,
    size: int,
    sha256: str,
) -> Iterator[bytes]:
    """The chunks of new file ``path``: from its member(s), else a base file of the
    same content (the container has nothing for it)."""
    data = members.take(f"{path}.zst")
    if data is not None:
        return _zstd.frames(data)
    data = members.take(f"{path}.zpatch")
    if data is not None:
        if path not in base:
            raise NotApplicableError(f"{path}.zpatch names no file of the base")
        return _zstd.frames(data, (base_root / path).read_bytes())
    if members.head is not None and members.head.name == f"{path}.zpatch.0":
        if path not in base:
            raise NotApplicableError(f"{path}.zpatch.0 names no file of the base")
        return _chunked(members, base_root / path, path, size)
    source = by_hash.get(sha256)
    if source is None:
        raise NotApplicableError(f"the patch has nothing for {path}, and the base no file like it")
    return _file_chunks(base_root / source)


def _chunked(members: _Members, base_file: Path, path: str, size: int) -> Iterator[bytes]:
    """A large changed file, chunk by chunk, each against its window of the base file."""
    base_size = base_file.stat().st_size
    for k in range(chunk_count(size)):
        if k:
            members.advance()
        data = members.take(f"{path}.zpatch.{k}")
        if data is None:
            raise NotApplicableError(f"{path}.zpatch.{k} is missing")
        start, end = prefix_range(k, base_size)
        yield from _zstd.frames(data, _read_range(base_file, start, end))
