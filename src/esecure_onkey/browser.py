"""Starting a given Firefox directory: which program, and how, on each platform.

Updates install a new Firefox into the key's FAT data partition. Linux desktops mount FAT
with ``showexec``: no file there has an exec bit unless its name ends in .exe/.com/.bat,
so ``execve`` of Firefox's programs fails (EACCES), while the mount is not ``noexec`` and
its shared libraries map executable (``mmap(PROT_EXEC)``) as from any other disk. So:

* linux: the program is the first of ``firefox``, ``firefox-esr``, ``firefox-bin``
  present (Mozilla's tarball has the first, Debian's install directory the second). It
  runs in place when it can be executed (the CD-ROM, a host install); else through a
  *shadow directory* (below).
* windows: ``firefox.exe``, in place. Windows has no exec bits: whether a file runs is
  decided by its extension and its ACL, and FAT carries no ACL, so an .exe runs from FAT.
* macos: ``Contents/MacOS/firefox`` of the .app (the directory itself, or ``Firefox.app``
  inside it), in place. Assumed, not tested here (no macOS machine): macOS's ``msdos``
  driver stores no modes on FAT and shows every file with the mount's mask, which for the
  volumes Disk Arbitration mounts includes the exec bits (``-rwxrwxrwx``); and the
  program must run from inside its signed .app bundle, which a tree of copies and links
  would no longer be. If a macOS key is ever seen without exec bits, the start fails
  with PermissionError and this table (:data:`RULES`) is where to change it.

The shadow directory (Linux), ``<scratch>/firefox-shadow``: Firefox's real programs —
ELF files that have a program interpreter (``PT_INTERP``) or are ``ET_EXEC``, found by
their headers, not by a list of names: firefox-esr, firefox-bin, glxtest, vaapitest,
vulkantest, pingsender, crashreporter, crashhelper… about 7.5 MB for ESR 153 — are
copied there with mode 0755, and every other entry is a symbolic link to the original.
Firefox finds its own directory through ``/proc/self/exe`` (the copy, in the shadow), so
its libraries, ``omni.ja`` and ``distribution/`` (the policies!) are the key's own files
seen through the links, and its child processes (``firefox-esr -contentproc``, glxtest)
are started from the shadow's executable copies. ``scratch`` is a host-side, per-user
directory the launcher passes; nothing is ever written into the Firefox directory.

A shadow is reused when its stamp (``.e-secure-shadow.json``: the source directory, the
linked names, and each copied program's size and SHA-256) equals the one computed from
the source now, and its copies still hash to it; otherwise it is rebuilt under a
temporary name and renamed into place, so no half-made shadow ever carries the final
name. What is copied is bounded (:data:`MAX_SHADOW_BYTES`).

The environment (Linux): a Firefox built on one distribution needs libraries another
may lack or ship under other names (``libvpx.so.7``, NSPR…); the build copies them into
``bundled-libs/`` beside it (``esecure.bundle.elfdeps``). Firefox loads its own libraries
by absolute path, but the names *they* need are found by the dynamic loader, so
:attr:`FirefoxStart.env` is the environment for Firefox's process alone with that
directory first on ``LD_LIBRARY_PATH`` and whatever the host had there after it (only on
Linux, only when the directory exists). The launcher passes it to the Firefox it starts
and never sets it in its own process. Firefox's content, GPU and socket processes
inherit it, as they must (they load the same libxul.so). So do host programs Firefox
starts (``xdg-open`` for a download opened from the download panel, a file chooser's
helpers): they find the key's NSPR, libevent, libvpx and libffi before the host's copies
of the same names, which share the same ABI (a soname changes when it breaks) but may
lack a symbol a newer host program needs. Accepted: the lock-down leaves little to
start (PDFs open inside Firefox, no add-ons, no external protocol handlers are set),
what is bundled is a short list of libraries, and the alternatives are worse (editing
Firefox's files to carry a ``RUNPATH`` changes bytes Mozilla and Debian built; a wrapper
that cleans the environment cannot sit between Firefox and its own children, which it
starts through ``/proc/self/exe``).

Why not the dynamic loader (``/lib64/ld-linux-x86-64.so.2 firefox-esr``), which runs a
program without its exec bit: Firefox then finds neither its libraries nor the program of
its child processes. Measured with Debian's firefox-esr 153: it exits at once with
"Couldn't load XPCOM." (status 255), having looked for libxul.so beside
``/proc/self/exe``, which is the loader in /lib64; and its content processes are
``/proc/self/exe -contentproc …`` (seen through the shadow: every child's exe is the
shadow's copy), which under the loader would be the loader without the program.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import struct
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from esecure_onkey.layout import BUNDLED_LIBS_DIR, PLATFORMS
from esecure_onkey.store import sha256_file

__all__ = [
    "LIBRARY_PATH",
    "MAX_SHADOW_BYTES",
    "RULES",
    "SHADOW_NAME",
    "STAMP_NAME",
    "ElfKind",
    "FirefoxStart",
    "FirefoxStartError",
    "PlatformRule",
    "Program",
    "ShadowPlan",
    "StartMode",
    "elf_headers_end",
    "elf_kind",
    "encode_stamp",
    "find_executable",
    "firefox_command",
    "firefox_environment",
    "library_path",
    "over_limit",
    "pick_executable",
    "prepare_firefox",
    "read_elf_head",
    "rule",
    "start_mode",
]

MAX_SHADOW_BYTES = 64 * 1024 * 1024
"""At most this many bytes of programs are copied (ESR 153: ~7.5 MB). More means the
directory is not what we think (a library taken for a program): refused, nothing copied."""

SHADOW_NAME = "firefox-shadow"
STAMP_NAME = ".e-secure-shadow.json"
STAMP_FORMAT = 1
_TEMP_PREFIX = ".firefox-shadow."  # building or being removed; never the final name
_CHUNK = 1 << 20

LIBRARY_PATH = "LD_LIBRARY_PATH"

StartMode = Literal["in place", "shadow", "refuse"]
ElfKind = Literal["program", "library", "other"]


class FirefoxStartError(Exception):
    """This Firefox directory cannot be started here; the message says why and the fix."""


@dataclass(frozen=True)
class PlatformRule:
    """How a platform starts Firefox: candidate programs (paths relative to the Firefox
    directory, the first present wins) and whether a program that cannot be executed in
    place is run through a shadow directory; ``start_args``, given before the caller's.

    Windows: Firefox's launcher process starts the browser process and exits at once;
    ``-wait-for-browser`` keeps it until the browser ends, so the process the launcher
    started lives as long as the session's Firefox (what "Firefox closed" is told by)."""

    executables: tuple[str, ...]
    shadow: bool
    start_args: tuple[str, ...] = ()


RULES: Mapping[str, PlatformRule] = {
    "linux": PlatformRule(("firefox", "firefox-esr", "firefox-bin"), shadow=True),
    "windows": PlatformRule(("firefox.exe",), shadow=False, start_args=("-wait-for-browser",)),
    "macos": PlatformRule(
        ("Contents/MacOS/firefox", "Firefox.app/Contents/MacOS/firefox"), shadow=False
    ),
}


def rule(platform: str) -> PlatformRule:
    """The rule of ``platform`` (one of :data:`esecure_onkey.layout.PLATFORMS`)."""
    try:
        return RULES[platform]
    except KeyError:
        raise ValueError(f"platform {platform!r}: expected one of {', '.join(PLATFORMS)}") from None


def library_path(libraries: str, current: str | None) -> str:
    """``LD_LIBRARY_PATH`` with ``libraries`` first, then what the host had (pure)."""
    return f"{libraries}:{current}" if current else libraries


def firefox_environment(
    environ: Mapping[str, str], platform: str, libraries: str | None
) -> dict[str, str]:
    """The environment of Firefox's process: ``environ`` with, on Linux, the key's
    ``libraries`` directory (None: the Firefox has none) first on ``LD_LIBRARY_PATH``
    (pure)."""
    env = dict(environ)
    if platform == "linux" and libraries is not None:
        env[LIBRARY_PATH] = library_path(libraries, environ.get(LIBRARY_PATH))
    return env


def pick_executable(present: Collection[str], platform: str) -> str | None:
    """Which of the candidate programs ``present`` (relative paths) starts Firefox."""
    return next((name for name in rule(platform).executables if name in present), None)


def start_mode(platform: str, *, runs_in_place: bool, noexec_mount: bool = False) -> StartMode:
    """In place when the program can be executed there or the platform has no exec bits
    to lack; else a shadow directory, unless the directory is on a ``noexec`` mount, where
    its libraries cannot be mapped executable either and a shadow would not help."""
    if runs_in_place or not rule(platform).shadow:
        return "in place"
    return "refuse" if noexec_mount else "shadow"


# --- ELF (System V gABI, "ELF Header" and "Program Header") -------------------------------
_ELF_MAGIC = b"\x7fELF"
_ELFCLASS32, _ELFCLASS64 = 1, 2
_ET_EXEC, _ET_DYN = 2, 3
_PT_INTERP = 3
_PN_XNUM = 0xFFFF  # the real count is then in section header 0: not read, see elf_kind
_ELF_HEAD = 64  # an ELFCLASS64 header; ELFCLASS32's is 52
_MAX_HEAD = 64 * 1024  # program header tables sit right after the header in practice


def _header(data: bytes) -> tuple[str, int, int, int, int] | None:
    """(byte order, e_type, e_phoff, e_phentsize, e_phnum), or None if not ELF."""
    if data[:4] != _ELF_MAGIC or len(data) < 52:
        return None
    order = {1: "<", 2: ">"}.get(data[5])  # EI_DATA: ELFDATA2LSB, ELFDATA2MSB
    if order is None:
        return None
    (e_type,) = struct.unpack_from(order + "H", data, 16)
    if data[4] == _ELFCLASS32:
        (phoff,) = struct.unpack_from(order + "I", data, 28)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 42)
    elif data[4] == _ELFCLASS64 and len(data) >= 64:
        (phoff,) = struct.unpack_from(order + "Q", data, 32)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 54)
    else:
        return None
    return order, e_type, phoff, phentsize, phnum


def elf_headers_end(head: bytes) -> int:
    """How many leading bytes of the file :func:`elf_kind` needs: up to the end of the
    program header table (``len(head)`` when ``head`` is not an ELF header)."""
    fields = _header(head)
    if fields is None:
        return len(head)
    _, _, phoff, phentsize, phnum = fields
    return max(len(head), phoff + phentsize * phnum)


def elf_kind(data: bytes) -> ElfKind:
    """What the file starting with ``data`` is: a program (``ET_EXEC``, or ``ET_DYN`` with
    a ``PT_INTERP`` entry: a position-independent executable), a library (``ET_DYN``
    without one), or something else (not ELF, relocatable, core). An ``ET_DYN`` whose
    table cannot be read from ``data`` counts as a program: copying a library costs a few
    bytes, not copying a program breaks a start."""
    fields = _header(data)
    if fields is None:
        return "other"
    order, e_type, phoff, phentsize, phnum = fields
    if e_type == _ET_EXEC:
        return "program"
    if e_type != _ET_DYN:
        return "other"
    if phnum == _PN_XNUM or phentsize < 4 or phoff + phentsize * phnum > len(data):
        return "program"
    for index in range(phnum):
        (p_type,) = struct.unpack_from(order + "I", data, phoff + index * phentsize)
        if p_type == _PT_INTERP:
            return "program"
    return "library"


def read_elf_head(path: Path) -> bytes:
    """The leading bytes of ``path`` that :func:`elf_kind` needs (bounded)."""
    with path.open("rb") as handle:
        head = handle.read(_ELF_HEAD)
        end = min(elf_headers_end(head), _MAX_HEAD)
        return head + handle.read(end - len(head)) if end > len(head) else head


# --- the shadow directory: its plan and stamp (pure) --------------------------------------
@dataclass(frozen=True)
class Program:
    """A program copied into the shadow directory."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ShadowPlan:
    """What a shadow of ``source`` holds: copies of ``programs``, links for ``links``."""

    source: str  # the Firefox directory, absolute
    programs: tuple[Program, ...]
    links: tuple[str, ...]

    @property
    def copied_bytes(self) -> int:
        """The bytes the shadow's copies take."""
        return sum(p.size for p in self.programs)


def over_limit(sizes: Mapping[str, int], limit: int) -> bool:
    """Whether copying programs of these sizes would exceed ``limit`` bytes."""
    return sum(sizes.values()) > limit


def encode_stamp(plan: ShadowPlan) -> bytes:
    """The stamp of a shadow built from ``plan``; equal bytes mean the same shadow."""
    doc = {
        "format": STAMP_FORMAT,
        "source": plan.source,
        "programs": {p.name: {"size": p.size, "sha256": p.sha256} for p in plan.programs},
        "links": sorted(plan.links),
    }
    return (json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


# --- adapters: the file system ------------------------------------------------------------
@dataclass(frozen=True)
class FirefoxStart:
    """How a Firefox directory is started: ``argv``, its process's environment ``env``
    (the caller's own is never changed), and whether through a shadow (which this call
    built, or found valid and reused)."""

    argv: tuple[str, ...]
    mode: StartMode
    shadow: Path | None = None
    built: bool = False
    copied_bytes: int = 0
    env: Mapping[str, str] = field(default_factory=dict)


def find_executable(firefox_dir: Path, platform: str) -> Path | None:
    """The program that starts the Firefox in ``firefox_dir`` on ``platform``, or None."""
    present = [name for name in rule(platform).executables if (firefox_dir / name).is_file()]
    name = pick_executable(present, platform)
    return None if name is None else firefox_dir / name


def _runs_in_place(path: Path) -> bool:
    """Whether this user may execute ``path`` (an exec bit, and a mount that allows it:
    access(2) refuses X_OK on a ``noexec`` mount)."""
    return bool(path.stat().st_mode & 0o111) and os.access(path, os.X_OK)


def _noexec(directory: Path) -> bool:
    return bool(os.statvfs(directory).f_flag & os.ST_NOEXEC)


def _libraries(source: Path) -> str | None:
    """The bundled-libraries directory of the Firefox in ``source``, when it has one."""
    libraries = source / BUNDLED_LIBS_DIR
    if not libraries.is_dir():
        return None
    if ":" in str(libraries):  # LD_LIBRARY_PATH's separator: it cannot name this path
        raise FirefoxStartError(
            f"{libraries}: a path with ':' cannot be put on LD_LIBRARY_PATH; mount the "
            "key under a name without ':'"
        )
    return str(libraries)


def _scan(source: Path, limit: int) -> ShadowPlan:
    """The plan of a shadow of ``source`` as it is now (reads headers, hashes programs)."""
    sizes: dict[str, int] = {}
    links: list[str] = []
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.name == STAMP_NAME:
            raise FirefoxStartError(f"{source} holds {STAMP_NAME}: it is a shadow, not Firefox")
        path = source / entry.name
        if entry.is_file() and elf_kind(read_elf_head(path)) == "program":
            sizes[entry.name] = path.stat().st_size
        else:
            links.append(entry.name)
    if over_limit(sizes, limit):
        raise FirefoxStartError(
            f"{source}: its programs take {sum(sizes.values())} bytes, more than the "
            f"{limit} a shadow directory may copy ({', '.join(sizes)}); this is not a "
            "Firefox installation as published: reinstall the update"
        )
    programs = tuple(Program(n, size, sha256_file(source / n)) for n, size in sizes.items())
    return ShadowPlan(str(source), programs, tuple(links))


def _entry_matches(shadow: Path, name: str, plan: ShadowPlan) -> bool:
    """Whether ``shadow/name`` is the link, or the executable copy, that ``plan`` says."""
    path = shadow / name
    program = next((p for p in plan.programs if p.name == name), None)
    if program is None:
        return path.is_symlink() and path.readlink() == Path(plan.source) / name
    info = path.lstat()
    return (
        stat.S_ISREG(info.st_mode)
        and info.st_size == program.size
        and os.access(path, os.X_OK)
        and sha256_file(path) == program.sha256
    )


def _matches(shadow: Path, plan: ShadowPlan) -> bool:
    """Whether ``shadow`` is a complete shadow of ``plan``, copies included."""
    if shadow.is_symlink() or not shadow.is_dir():
        return False
    names = [p.name for p in plan.programs] + list(plan.links)
    try:
        return (
            (shadow / STAMP_NAME).read_bytes() == encode_stamp(plan)
            and {entry.name for entry in os.scandir(shadow)} == {*names, STAMP_NAME}
            and all(_entry_matches(shadow, name, plan) for name in names)
        )
    except OSError:
        return False


def _remove(path: Path) -> None:
    """Remove a shadow or a leftover; links inside are removed, never followed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _copy(source: Path, target: Path) -> str:
    """Copy ``source`` to a new file ``target`` (0755); the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
    with source.open("rb") as fin, os.fdopen(fd, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            digest.update(chunk)
            fout.write(chunk)
    target.chmod(0o755)  # the umask may have taken bits off
    return digest.hexdigest()


def _fill(building: Path, plan: ShadowPlan) -> None:
    """Copies, links, then the stamp (last: a stamp vouches for a complete directory)."""
    source = Path(plan.source)
    for program in plan.programs:
        if _copy(source / program.name, building / program.name) != program.sha256:
            raise FirefoxStartError(
                f"{source / program.name} changed while it was copied: start again"
            )
    for name in plan.links:
        (building / name).symlink_to(source / name)
    (building / STAMP_NAME).write_bytes(encode_stamp(plan))


def _build(plan: ShadowPlan, scratch: Path) -> Path:
    """Build the shadow of ``plan`` under a temporary name, then rename it into place."""
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    for leftover in scratch.glob(_TEMP_PREFIX + "*"):  # from a start that was killed
        _remove(leftover)
    final = scratch / SHADOW_NAME
    building = scratch / f"{_TEMP_PREFIX}new-{secrets.token_hex(8)}"
    building.mkdir(mode=0o700)
    try:
        _fill(building, plan)
        if final.exists() or final.is_symlink():
            old = scratch / f"{_TEMP_PREFIX}old-{secrets.token_hex(8)}"
            final.rename(old)
            building.rename(final)
            _remove(old)
        else:
            building.rename(final)
    except BaseException:
        _remove(building)
        raise
    return final


def prepare_firefox(
    firefox_dir: Path,
    platform: str,
    *,
    scratch: Path,
    args: Sequence[str] = (),
    limit: int = MAX_SHADOW_BYTES,
    environ: Mapping[str, str] | None = None,
) -> FirefoxStart:
    """How to start the Firefox in ``firefox_dir`` on ``platform`` with ``args``; on Linux,
    when its program cannot be executed in place, after building (or reusing) its shadow
    directory under ``scratch`` (a host-side, per-user directory; never the key).

    ``environ`` is the environment Firefox's would inherit (None: this process's); the
    result's ``env`` adds the key's bundled libraries to it (:func:`firefox_environment`).

    Raises FirefoxStartError when there is no Firefox there, when its directory is on a
    ``noexec`` mount, when its programs exceed ``limit`` bytes, or when ``scratch`` does not
    let programs run; OSError when the file system fails."""
    source = firefox_dir.resolve()
    executable = find_executable(source, platform)
    if executable is None:
        raise FirefoxStartError(
            f"no Firefox for {platform} in {source}: expected one of "
            f"{', '.join(rule(platform).executables)} there; reinstall the update"
        )
    env = firefox_environment(
        os.environ if environ is None else environ, platform, _libraries(source)
    )
    runs = _runs_in_place(executable) if rule(platform).shadow else True
    mode = start_mode(platform, runs_in_place=runs, noexec_mount=not runs and _noexec(source))
    args = (*rule(platform).start_args, *args)
    if mode == "in place":
        return FirefoxStart((str(executable), *args), mode, env=env)
    if mode == "refuse":
        raise FirefoxStartError(
            f"{source} is on a file system mounted noexec: Firefox's libraries cannot be "
            "loaded from it. Mount the key's data partition without noexec (the desktop's "
            "default, showexec, is fine)"
        )
    plan = _scan(source, limit)
    if executable.name not in {p.name for p in plan.programs}:
        raise FirefoxStartError(
            f"{executable} is not an ELF program: it cannot be started from {source}; "
            "reinstall the update"
        )
    shadow = scratch / SHADOW_NAME
    built = not _matches(shadow, plan)
    if built:
        _build(plan, scratch)
    program = shadow / executable.relative_to(source)
    if not _runs_in_place(program):
        raise FirefoxStartError(
            f"{program} cannot be executed: {scratch} must be on a file system that lets "
            "programs run (not noexec, not FAT); pass another scratch directory"
        )
    return FirefoxStart((str(program), *args), mode, shadow, built, plan.copied_bytes, env)


def firefox_command(
    firefox_dir: Path, platform: str, *, scratch: Path, args: Sequence[str] = ()
) -> list[str]:
    """The argv that starts the Firefox in ``firefox_dir`` with ``args`` (see
    :func:`prepare_firefox`, which also says whether a shadow was built)."""
    return list(prepare_firefox(firefox_dir, platform, scratch=scratch, args=args).argv)
