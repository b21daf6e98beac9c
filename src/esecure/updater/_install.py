"""Install a verified archive into the inactive A/B slot, then switch the pointer.

Order (each step durable before the next, so that a cut at any point leaves the previous
application complete and in force, or the new one):

1. extract into ``slots/.staging`` (empty first), refusing any member that is not a plain
   file or directory inside the slot; sync every file, then every directory made for them
   (also those the archive does not list: their entries are what makes the files findable);
2. check every file against the archive's member list (size and SHA-256), which was
   checked before step 1 against the release's signed file list (MANIFEST.json, signed
   with the image-signing key whose public half is on the CD-ROM);
3. remove the target slot's completion record (the slot is no longer "complete"), remove
   the old slot directory, rename staging to the slot, syncing ``slots/`` after each;
4. write the slot's completion record (synced, ``slots/`` synced);
5. keep the archive as the base of the next patch (written while step 1 runs);
6. write the pointer record with the next sequence number (the switch), synced with the
   data area's directory.

Every write, directory creation included, goes through :class:`~esecure.updater._disk.Disk`
(``slots/`` and ``updates/cache/`` are created durably): the crash tests put a power-cut
model under it and cut after each call (tests/updater/test_crash.py), and prove with
mutants of this file that dropping a sync or swapping two steps fails them
(tests/updater/test_mutants.py). The slot in use by the running application is never the
target.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from esecure.errors import StorageError, UpdateSecurityError
from esecure.updater._disk import Checkpoints, Disk
from esecure_onkey.boot import check_slot, read_pointer
from esecure_onkey.filelist import verify_file_list
from esecure_onkey.layout import (
    CD_SLOT,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    SLOTS,
    completion_path,
    pointer_path,
    slot_dir,
)
from esecure_onkey.records import Completion, Pointer, encode_completion, encode_pointer
from esecure_onkey.versions import version_key

__all__ = ["cache_path", "check_signed_list", "install", "mark_good", "target_slot"]

Progress = Callable[[str, int, int], None]
_FILE_CHECKPOINTS = {1, 10, 50}
IO_THREADS = 8
MAX_IN_FLIGHT = 64 * 1024 * 1024


def cache_path(data_dir: Path, app: str, version: str) -> Path:
    """The uncompressed archive of an installed version: the base of the next patch."""
    return data_dir / "updates" / "cache" / f"{app}-{version}.tar"


def target_slot(pointer: Pointer | None, running_slot: str | None) -> str:
    """The slot to install into: not the active one, and never the running one."""
    candidate = "A" if pointer is None else next(s for s in SLOTS if s != pointer.active)
    if candidate == running_slot:
        candidate = next(s for s in SLOTS if s != running_slot)
    return candidate


def _member_name(member: tarfile.TarInfo) -> str | None:
    """The member's path inside the slot, or None for the root entry; refuses escapes."""
    path = PurePosixPath(member.name)
    parts = [p for p in path.parts if p not in (".", "")]
    if path.is_absolute() or ".." in parts or any("\\" in p or ":" in p for p in parts):
        raise UpdateSecurityError(f"archive member escapes the slot: {member.name!r}", code="ES506")
    if not (member.isfile() or member.isdir()):
        raise UpdateSecurityError(
            f"archive member is neither a file nor a directory: {member.name!r}", code="ES506"
        )
    return "/".join(parts) or None


def _extract(
    tar_bytes: bytes, staging: Path, disk: Disk, cp: Checkpoints, progress: Progress | None
) -> dict[str, tuple[int, str]]:
    """Write every member into ``staging``, then sync every file and every directory (each
    directory's entries: a file synced but not its directory's entry is lost at a power
    cut). File creation and fsync wait on the device, not the CPU, so they overlap in a few
    threads (a bundle has hundreds of files)."""
    files: dict[str, tuple[int, str]] = {}
    made = {staging}  # every directory of the staging tree, also those the archive omits

    def make(directory: Path) -> None:
        if directory not in made:
            disk.mkdir(directory)
            made.update(p for p in (directory, *directory.parents) if staging in p.parents)

    with (
        tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar,
        disk.executor(IO_THREADS) as pool,
    ):
        pending: list[Future[None]] = []
        in_flight = 0
        members = tar.getmembers()
        total = sum(m.size for m in members if m.isfile())
        done = 0
        for member in members:
            name = _member_name(member)
            if name is None:
                continue
            target = staging / name
            if member.isdir():
                make(target)
                continue
            make(target.parent)
            source = tar.extractfile(member)
            data = source.read() if source is not None else b""
            pending.append(pool.submit(disk.write, target, data))
            in_flight += len(data)
            if in_flight > MAX_IN_FLIGHT:  # bound the memory of writes not yet done
                for f in pending:
                    f.result()
                pending.clear()
                in_flight = 0
            files[name] = (len(data), hashlib.sha256(data).hexdigest())
            done += len(data)
            if progress is not None:
                progress("install", done, total)
            if len(files) in _FILE_CHECKPOINTS:
                for f in pending:
                    f.result()
                cp(f"staging.file-{len(files)}")
        for f in pending:
            f.result()
        cp("staging.extracted")
        list(pool.map(disk.sync, [staging / n for n in files]))
        list(pool.map(disk.sync_dir, sorted(made)))
    return files


def _digest(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def _verify(staging: Path, files: dict[str, tuple[int, str]]) -> None:
    """Every file on disk against the archive's member list (what was signed)."""
    names = sorted(files)
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        found = dict(zip(names, pool.map(_digest, [staging / n for n in names]), strict=True))
    for name in names:
        if found[name] != files[name]:
            raise StorageError(f"{staging / name} was not written correctly", code="ES524")


def _tar_files(tar_bytes: bytes) -> dict[str, bytes]:
    """Every file member of the archive by its path inside the slot (escapes refused)."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        for member in tar.getmembers():
            name = _member_name(member)
            if name is None or member.isdir():
                continue
            source = tar.extractfile(member)
            out[name] = source.read() if source is not None else b""
    return out


def check_signed_list(tar_bytes: bytes, image_key: bytes, version: str) -> None:
    """The archive's files are exactly its signed list, of ``version`` (ES506).

    Checked on the archive in memory before anything is written: the bootstrap checks the
    same list with the same key at every start, so a release that would not start is
    never installed.
    """
    files = _tar_files(tar_bytes)
    if MANIFEST_NAME not in files or SIGNATURE_NAME not in files:
        raise UpdateSecurityError(
            f"version {version} carries no signed file list ({MANIFEST_NAME})", code="ES506"
        )
    # the same verifier and decoder as the bootstrap's start check (esecure_onkey)
    listed = verify_file_list(files[MANIFEST_NAME], files[SIGNATURE_NAME], image_key)
    if isinstance(listed, str):
        raise UpdateSecurityError(f"version {version}: {listed}", code="ES506")
    key = version_key(version)
    if key is None or version_key(listed.version) != key:
        raise UpdateSecurityError(
            f"the signed file list is of version {listed.version}, not {version}", code="ES506"
        )
    found = {
        name: (len(data), hashlib.sha256(data).hexdigest())
        for name, data in files.items()
        if name not in (MANIFEST_NAME, SIGNATURE_NAME)
    }
    problems = [f"{n}: not listed" for n in sorted(found.keys() - listed.files.keys())]
    problems += [f"{n}: missing" for n in sorted(listed.files.keys() - found.keys())]
    problems += [
        f"{n}: size or SHA-256 differs"
        for n in sorted(found.keys() & listed.files.keys())
        if found[n] != listed.files[n]
    ]
    if problems:
        listing = "; ".join(problems[:5])
        raise UpdateSecurityError(
            f"version {version} differs from its signed file list: {listing}", code="ES506"
        )


def install(
    data_dir: Path,
    tar_bytes: bytes,
    *,
    image_key: bytes,
    app: str,
    version: str,
    running_slot: str | None,
    disk: Disk,
    cp: Checkpoints,
    progress: Progress | None = None,
) -> str:
    """Install ``tar_bytes`` (already verified against signed metadata); return the slot.

    ``image_key`` is the PEM public key on the CD-ROM: the release's signed file list must
    verify with it and match the extracted files before the switch, as the bootstrap will
    check again at every start.
    """
    try:
        return _install(
            data_dir,
            tar_bytes,
            image_key=image_key,
            app=app,
            version=version,
            running_slot=running_slot,
            disk=disk,
            cp=cp,
            progress=progress,
        )
    except OSError as exc:
        raise StorageError(f"installing version {version} failed: {exc}", code="ES524") from exc


def _install(
    data_dir: Path,
    tar_bytes: bytes,
    *,
    image_key: bytes,
    app: str,
    version: str,
    running_slot: str | None,
    disk: Disk,
    cp: Checkpoints,
    progress: Progress | None,
) -> str:
    check_signed_list(tar_bytes, image_key, version)
    pointer = read_pointer(data_dir)
    slot = target_slot(pointer, running_slot)
    slots = data_dir / "slots"
    disk.make_dirs(slots)
    staging = slots / ".staging"
    cp("staging.begin")
    disk.remove(staging)
    disk.mkdir(staging)
    cache = cache_path(data_dir, app, version)
    disk.make_dirs(cache.parent)
    with disk.executor(1) as background:
        # the next patch base is written while the slot is: it only has to be durable
        # before the switch (and a missing or damaged base only costs a full download)
        cache_written = background.submit(disk.write_atomic, cache, tar_bytes)
        files = _extract(tar_bytes, staging, disk, cp, progress)
        cache_written.result()
    cp("staging.synced")
    _verify(staging, files)
    cp("staging.verified")

    cp("switch.begin")
    disk.remove(completion_path(data_dir, slot))
    disk.sync_dir(slots)
    cp("switch.record-removed")
    disk.remove(slot_dir(data_dir, slot))
    disk.sync_dir(slots)
    cp("switch.old-slot-removed")
    disk.replace(staging, slot_dir(data_dir, slot))
    disk.sync_dir(slots)
    cp("switch.renamed")
    disk.write_synced(
        completion_path(data_dir, slot), encode_completion(Completion(version, files))
    )
    disk.sync_dir(slots)
    cp("switch.record-written")

    keep = {cache.name}
    if pointer is not None:
        keep.add(cache_path(data_dir, app, pointer.version).name)
    stale = [old for old in sorted(cache.parent.glob("*.tar")) if old.name not in keep]
    for old in stale:
        disk.remove(old)
    if stale:
        disk.sync_dir(cache.parent)
    cp("switch.cache-written")

    previous = CD_SLOT
    if pointer is not None and pointer.active != slot and check_slot(data_dir, pointer.active)[0]:
        previous = pointer.active
    seq = pointer.seq + 1 if pointer is not None else 1
    new = Pointer(seq, slot, previous, version, good=False)
    disk.write_synced(pointer_path(data_dir, seq), encode_pointer(new))
    disk.sync_dir(data_dir)
    cp("switch.pointer-written")
    return slot


def mark_good(data_dir: Path, *, disk: Disk | None = None) -> bool:
    """Called by a new version once it reached its UI: stops the failed-start count.

    Returns False when there was nothing to mark (already good, or no update installed).
    The new record goes to the other record file (by sequence parity), synced with its
    directory: a cut while it is written leaves the record on trial in force.
    """
    d = disk or Disk()
    pointer = read_pointer(data_dir)
    if pointer is None or pointer.good:
        return False
    new = Pointer(pointer.seq + 1, pointer.active, pointer.previous, pointer.version, good=True)
    d.write_synced(pointer_path(data_dir, new.seq), encode_pointer(new))
    d.sync_dir(data_dir)
    return True
