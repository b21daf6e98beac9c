"""The full archive and the per-file patch container (format 1): made, applied, refused.

Chunked patches are tested with the chunk geometry scaled down (the module's constants),
so that the rule - 32 MiB chunks, each against the base bytes 16 MiB around it - is
exercised on files of a few hundred kilobytes.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from esecure.updater import _container
from esecure.updater._container import (
    Gunzip,
    MismatchError,
    NotApplicableError,
    apply_archive,
    apply_patch,
    write_archive,
    write_patch,
)

from .conftest import tree_files


def _collect(out: dict[str, bytes]):
    def write(path, chunks):
        out[path] = b"".join(chunks)

    return write


def _trees(tmp_path: Path, base: dict[str, bytes], new: dict[str, bytes]) -> tuple[Path, Path]:
    roots = tmp_path / "base", tmp_path / "new"
    for root, files in zip(roots, (base, new), strict=True):
        for path, data in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
    return roots


def _patch(base_root: Path, new_root: Path) -> tuple[bytes, _container.PatchStats]:
    out = io.BytesIO()
    stats = write_patch(base_root, tree_files(base_root), new_root, tree_files(new_root), out)
    return out.getvalue(), stats


def _apply(container: bytes, base_root: Path, new_root: Path) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    apply_patch(
        io.BytesIO(container), base_root, tree_files(base_root), tree_files(new_root), _collect(out)
    )
    return out


def _members(container: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(container), mode="r|") as tar:
        return [m.name for m in tar]


def test_patch_holds_nothing_for_known_content_and_frames_for_the_rest(tmp_path):
    """Unchanged and moved files: no member; a changed file: .zpatch; a new one: .zst."""
    shared = os.urandom(50_000)
    changed = os.urandom(80_000)
    base_root, new_root = _trees(
        tmp_path,
        {"same": shared, "old/name": b"moved" * 100, "chg": changed},
        {
            "same": shared,
            "new/name": b"moved" * 100,
            "chg": changed[:40_000] + b"!" + changed[40_001:],
            "added": b"fresh",
        },
    )
    container, stats = _patch(base_root, new_root)
    assert _members(container) == ["added.zst", "chg.zpatch"]
    assert (stats.copied, stats.patched, stats.new) == (2, 1, 1)
    assert len(container) < 4000
    assert stats.size == len(container)
    assert _apply(container, base_root, new_root) == {
        p: (new_root / p).read_bytes() for p in tree_files(new_root)
    }


def test_large_files_are_patched_in_chunks_against_the_base_around_them(tmp_path, monkeypatch):
    """Above WHOLE_MAX a file is cut in CHUNK-byte frames, frame k matched against the base
    bytes [k*CHUNK - MARGIN, (k+1)*CHUNK + MARGIN): a change in each chunk, an insertion that
    shifts the rest, all rebuilt exactly."""
    monkeypatch.setattr(_container, "WHOLE_MAX", 64_000)
    monkeypatch.setattr(_container, "CHUNK", 32_000)
    monkeypatch.setattr(_container, "MARGIN", 16_000)
    old = os.urandom(200_000)
    new = old[:10_000] + b"inserted" + old[10_000:100_000] + b"X" + old[100_001:]
    base_root, new_root = _trees(tmp_path, {"big": old}, {"big": new})
    container, stats = _patch(base_root, new_root)
    assert _members(container) == [f"big.zpatch.{k}" for k in range(7)]
    assert stats.patched == 1
    assert len(container) < 12_000  # every chunk found in its base window
    assert _apply(container, base_root, new_root) == {"big": new}
    assert _container.prefix_range(0, 200_000) == (0, 48_000)
    assert _container.prefix_range(6, 200_000) == (176_000, 200_000)


def test_a_missing_member_does_not_apply(tmp_path):
    """A container that lacks the member a changed file needs: NotApplicableError."""
    base_root, new_root = _trees(tmp_path, {"a": b"1" * 1000}, {"a": b"2" * 1000})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w"):
        pass
    with pytest.raises(NotApplicableError):
        _apply(out.getvalue(), base_root, new_root)


def test_a_base_that_changed_does_not_apply(tmp_path):
    """The base file a frame was made against differs now: the result does not match the
    list, so the patch does not apply (the client takes the full archive)."""
    old = os.urandom(30_000)
    base_root, new_root = _trees(
        tmp_path, {"a": old, "b": b"same"}, {"a": old + b"!", "b": b"same"}
    )
    container, _ = _patch(base_root, new_root)
    listed = tree_files(base_root)
    (base_root / "a").write_bytes(os.urandom(30_000))
    (base_root / "b").write_bytes(b"damn")
    with pytest.raises(NotApplicableError):
        apply_patch(io.BytesIO(container), base_root, listed, tree_files(new_root), _collect({}))


def test_an_unexpected_member_does_not_apply(tmp_path):
    """A member that no file of the list asks for: NotApplicableError."""
    base_root, new_root = _trees(tmp_path, {"a": b"1"}, {"a": b"1"})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("evil.zst")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(NotApplicableError, match="unexpected patch member"):
        _apply(out.getvalue(), base_root, new_root)


def _archive(root: Path) -> tuple[bytes, int]:
    out = io.BytesIO()
    size = write_archive(root, tree_files(root), out)
    return out.getvalue(), size


def test_archive_round_trip_and_signed_size(tmp_path):
    """Every file comes back; the tar size returned is what gunzip gives."""
    _, root = _trees(tmp_path, {}, {"a": b"x" * 5000, "d/b": os.urandom(3000), "e": b""})
    data, size = _archive(root)
    assert len(gzip.decompress(data)) == size
    out: dict[str, bytes] = {}
    apply_archive(Gunzip(io.BytesIO(data), size), tree_files(root), _collect(out))
    assert out == {p: (root / p).read_bytes() for p in tree_files(root)}


def test_an_archive_file_that_differs_from_its_list_is_a_mismatch(tmp_path):
    """Same length, other bytes: MismatchError once the file is read."""
    _, root = _trees(tmp_path, {}, {"a": b"x" * 5000})
    data, size = _archive(root)
    listed = {"a": (5000, "0" * 64)}
    with pytest.raises(MismatchError, match="differs"):
        apply_archive(Gunzip(io.BytesIO(data), size), listed, _collect({}))


def test_an_unlisted_or_escaping_member_is_a_mismatch(tmp_path):
    """A member the list does not name, or whose path leaves the component: refused
    before a byte of it is written."""
    for name in ("extra", "../escape", "/abs"):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        written: dict[str, bytes] = {}
        with pytest.raises(MismatchError):
            apply_archive(Gunzip(io.BytesIO(out.getvalue()), 1 << 20), {}, _collect(written))
        assert written == {}


def test_a_link_member_is_a_mismatch(tmp_path):
    """A symbolic link in an archive is refused (FAT cannot hold one)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("a")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(MismatchError, match="not a plain file"):
        apply_archive(
            Gunzip(io.BytesIO(out.getvalue()), 1 << 20), {"a": (0, "0" * 64)}, _collect({})
        )


def test_a_member_longer_than_listed_stops_at_the_listed_size(tmp_path):
    """The writer never gets more than the listed size of a file."""
    _, root = _trees(tmp_path, {}, {"a": b"x" * 100_000})
    data, size = _archive(root)
    got = []

    def write(_path, chunks):
        got.extend(len(c) for c in chunks)

    with pytest.raises(MismatchError):
        apply_archive(Gunzip(io.BytesIO(data), size), {"a": (100_000, "0" * 64)}, write)
    assert sum(got) <= 100_000


def test_gunzip_stops_at_its_cap():
    """More output than the cap: BombError before it is all decompressed."""
    bomb = gzip.compress(b"\0" * 50_000_000)
    reader = Gunzip(io.BytesIO(bomb), 1_000_000)
    with pytest.raises(Gunzip.BombError):
        while reader.read(1 << 20):
            pass
    assert reader.total <= 1_000_001 + (1 << 20)
