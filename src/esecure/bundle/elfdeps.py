"""The shared libraries a Linux Firefox needs, bundled beside it: a portable Firefox.

Debian's Firefox ESR is linked against libraries of Debian 12 (``libvpx.so.7``,
``libevent-2.1.so.7``, NSPR…) that other distributions ship under other names or not at
all. The build walks every ELF file of the staged Firefox, reads what each needs
(``DT_NEEDED``, from the file's own dynamic section: :func:`read_dynamic`, a small reader
of the System V gABI structures), and resolves each name recursively, AppImage-style:

* provided by Firefox's own directory (libxul.so, libnss3.so…): nothing to do;
* one of :data:`HOST_FAMILIES` (glibc, the C++ runtime, X11/Wayland, GTK 3 and its stack,
  fontconfig/freetype, GL, ALSA, D-Bus, zlib): the host's, never bundled — each family
  says why (docs/architecture.md, "Minimum host");
* anything else: copied from this build machine (found as the dynamic loader would find
  it: ``/etc/ld.so.conf`` directories, then the standard ones, same ELF class and machine)
  into ``firefox/linux/bundled-libs/`` (:data:`esecure_onkey.layout.BUNDLED_LIBS_DIR`),
  and walked in turn;
* not found: ES927 naming every such library and the files that need it.

On the key, ``esecure_onkey.browser.prepare_firefox`` puts that directory first on
``LD_LIBRARY_PATH`` for Firefox's process alone; the launcher's own process loads the
NSPR libraries of it by absolute path before NSS (``esecure.launcher.nss``).

:func:`minimum_host` says what a host must have for a part of the image: the highest
``GLIBC_x.y`` (and ``GLIBCXX_``) symbol version any ELF file there needs, read from
``.gnu.version_r``, GTK 3 when something needs ``libgtk-3.so.0``, and every library it
needs that the image does not carry.
"""

from __future__ import annotations

import fnmatch
import mmap
import os
import shutil
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esecure.errors import UsageError
from esecure_onkey.layout import BUNDLED_LIBS_DIR

__all__ = [
    "HOST_FAMILIES",
    "MAX_BUNDLED",
    "BundledLibrary",
    "ElfDynamic",
    "ElfError",
    "HostFamily",
    "LibraryPlan",
    "MinimumHost",
    "bundle_libraries",
    "check_libraries",
    "elf_files",
    "host_family",
    "host_search_dirs",
    "minimum_host",
    "parse_dynamic",
    "plan_libraries",
    "read_dynamic",
    "version_key",
]

MAX_BUNDLED = 64
"""At most this many libraries are bundled (Debian 12's ESR 153 needs 6). More means the
walk went somewhere unexpected (a host family missing from the list): refused."""

_MAX_SECTIONS = 4096
_MAX_VERNEED = 1024


class ElfError(ValueError):
    """An ELF file whose dynamic structures cannot be read."""


# --- the host's base: never bundled --------------------------------------------------------
@dataclass(frozen=True)
class HostFamily:
    """Libraries a desktop Linux is assumed to have, taken from the host, and why."""

    name: str
    patterns: tuple[str, ...]  # fnmatch patterns of library names (sonames)
    why: str


HOST_FAMILIES: tuple[HostFamily, ...] = (
    HostFamily(
        "glibc",
        (
            "ld-linux*.so.*",
            "libc.so.*",
            "libm.so.*",
            "libdl.so.*",
            "libpthread.so.*",
            "librt.so.*",
            "libresolv.so.*",
            "libutil.so.*",
            "libanl.so.*",
            "libmvec.so.*",
        ),
        "the dynamic loader and the C library are the host's: they must match each other "
        "and the host's NSS modules and locales, so they are never bundled; the image needs "
        "a glibc at least as new as the highest GLIBC_ version it uses (reported)",
    ),
    HostFamily(
        "C++ runtime",
        ("libstdc++.so.*", "libgcc_s.so.*"),
        "one copy per process: host libraries loaded into Firefox (Mesa's GL drivers, GTK "
        "input-method modules) are built against the host's newer libstdc++, and an older "
        "bundled copy found first would break them; the image needs the GLIBCXX_ version "
        "reported",
    ),
    HostFamily(
        "X11 and Wayland",
        ("libX*.so.*", "libxcb*.so.*", "libxkbcommon*.so.*", "libwayland-*.so.*"),
        "the display protocols' client libraries, present with any graphical session and "
        "stable for decades",
    ),
    HostFamily(
        "GTK 3 and its stack",
        (
            "libgtk-3.so.*",
            "libgdk-3.so.*",
            "libgdk_pixbuf-2.0.so.*",
            "libglib-2.0.so.*",
            "libgobject-2.0.so.*",
            "libgio-2.0.so.*",
            "libgmodule-2.0.so.*",
            "libgthread-2.0.so.*",
            "libpango*-1.0.so.*",
            "libcairo*.so.*",
            "libatk*.so.*",
            "libatspi.so.*",
            "libharfbuzz*.so.*",
            "libfribidi.so.*",
        ),
        "the desktop's toolkit: its themes, input methods, settings and image loaders are "
        "the host's and version-matched to it; GTK 3 keeps its ABI within 3.x",
    ),
    HostFamily(
        "fonts",
        ("libfontconfig.so.*", "libfreetype.so.*"),
        "they read the host's font configuration, whose format follows the host's version",
    ),
    HostFamily(
        "GL and video",
        (
            "libGL*.so.*",
            "libEGL.so.*",
            "libOpenGL.so.*",
            "libgbm.so.*",
            "libdrm*.so.*",
            "libva*.so.*",
            "libvulkan.so.*",
        ),
        "the graphics drivers are the host's and must match its kernel and GPU",
    ),
    HostFamily(
        "sound",
        ("libasound.so.*", "libpulse*.so.*"),
        "ALSA's plugins and configuration (and PulseAudio's) are the host's",
    ),
    HostFamily(
        "D-Bus",
        ("libdbus-1.so.*",),
        "it talks to the host's own bus daemon; its ABI has been stable since 1.0",
    ),
    HostFamily(
        "zlib",
        ("libz.so.*",),
        "present on every Linux and shared by the host libraries in Firefox's process "
        "(freetype, libpng, GIO): an older bundled copy found first could lack a symbol "
        "version they need",
    ),
)


def host_family(name: str) -> HostFamily | None:
    """The family of :data:`HOST_FAMILIES` library ``name`` belongs to, or None (pure)."""
    return next(
        (f for f in HOST_FAMILIES if any(fnmatch.fnmatchcase(name, p) for p in f.patterns)),
        None,
    )


# --- ELF (System V gABI: "ELF Header", "Sections", "Dynamic Section"; LSB: "Symbol Versioning")
_MAGIC = b"\x7fELF"
_SHT_DYNAMIC = 6
_SHT_GNU_VERNEED = 0x6FFFFFFE
_DT_NULL, _DT_NEEDED, _DT_SONAME = 0, 1, 14


@dataclass(frozen=True)
class ElfDynamic:
    """What an ELF file's dynamic section says: its machine and class (a 64-bit x86 file
    needs 64-bit x86 libraries), its own name, the libraries it needs, and the symbol
    versions it needs from each (``.gnu.version_r``)."""

    machine: int
    elf_class: int
    soname: str | None
    needed: tuple[str, ...]
    versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _cstr(data: Any, offset: int, limit: int) -> str:  # noqa: ANN401 - bytes or mmap
    if not 0 <= offset < limit:
        raise ElfError(f"string offset {offset} outside its table")
    end = data.find(b"\0", offset, limit)
    if end < 0:
        raise ElfError("unterminated string")
    return bytes(data[offset:end]).decode("utf-8", "replace")


def parse_dynamic(data: Any) -> ElfDynamic | None:  # noqa: ANN401 - bytes or mmap
    """The dynamic section of the ELF file ``data`` (bytes or an mmap), or None when it is
    not ELF or has none (a static program, an object file). Raises ElfError when its
    structures point outside the file."""
    if bytes(data[:4]) != _MAGIC or len(data) < 52:
        return None
    order = {1: "<", 2: ">"}.get(data[5])
    elf_class = data[4]
    if order is None or elf_class not in {1, 2}:
        return None
    try:
        return _parse(data, order, elf_class)
    except struct.error as exc:
        raise ElfError(f"truncated ELF structure ({exc})") from None


def _parse(data: Any, order: str, elf_class: int) -> ElfDynamic | None:  # noqa: ANN401
    (machine,) = struct.unpack_from(order + "H", data, 18)
    if elf_class == 2:
        (shoff,) = struct.unpack_from(order + "Q", data, 40)
        shentsize, shnum = struct.unpack_from(order + "HH", data, 58)
        section, dyn = order + "IIQQQQIIQQ", order + "qQ"
    else:
        (shoff,) = struct.unpack_from(order + "I", data, 32)
        shentsize, shnum = struct.unpack_from(order + "HH", data, 46)
        section, dyn = order + "IIIIIIIIII", order + "iI"
    if shoff == 0 or shnum == 0:
        return None
    if shnum > _MAX_SECTIONS or shentsize < struct.calcsize(section):
        raise ElfError(f"{shnum} section headers of {shentsize} bytes")
    headers = [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum)]

    def body(index: int) -> tuple[int, int]:
        if not 0 <= index < shnum:
            raise ElfError(f"section {index} does not exist")
        offset, size = headers[index][4], headers[index][5]
        if offset + size > len(data):
            raise ElfError(f"section {index} runs past the end of the file")
        return offset, offset + size

    dynamic = next((h for h in headers if h[1] == _SHT_DYNAMIC), None)
    if dynamic is None:
        return None
    start, end = body(headers.index(dynamic))
    strings, strings_end = body(dynamic[6])
    needed: list[str] = []
    soname = None
    step = struct.calcsize(dyn)
    for offset in range(start, end - step + 1, step):
        tag, value = struct.unpack_from(dyn, data, offset)
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed.append(_cstr(data, strings + value, strings_end))
        elif tag == _DT_SONAME:
            soname = _cstr(data, strings + value, strings_end)
    versions: dict[str, tuple[str, ...]] = {}
    for header in headers:
        if header[1] == _SHT_GNU_VERNEED:
            versions.update(_verneed(data, order, header, body))
    return ElfDynamic(machine, elf_class, soname, tuple(needed), versions)


def _verneed(
    data: Any,  # noqa: ANN401 - bytes or mmap
    order: str,
    header: tuple[int, ...],
    body: Any,  # noqa: ANN401 - the section-bounds function of _parse
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(library file, version names) of each Verneed entry of a ``.gnu.version_r``."""
    start, end = header[4], header[4] + header[5]
    if end > len(data):
        raise ElfError(".gnu.version_r runs past the end of the file")
    strings, strings_end = body(header[6])
    offset, count = start, header[7]
    for _ in range(min(count, _MAX_VERNEED)):
        if not start <= offset <= end - 16:
            raise ElfError(".gnu.version_r entry outside its section")
        _ver, cnt, file_name, aux, following = struct.unpack_from(order + "HHIII", data, offset)
        names: list[str] = []
        at = offset + aux
        for _ in range(min(cnt, _MAX_VERNEED)):
            if not start <= at <= end - 16:
                raise ElfError(".gnu.version_r auxiliary entry outside its section")
            _hash, _flags, _other, name, next_aux = struct.unpack_from(order + "IHHII", data, at)
            names.append(_cstr(data, strings + name, strings_end))
            if next_aux == 0:
                break
            at += next_aux
        yield _cstr(data, strings + file_name, strings_end), tuple(names)
        if following == 0:
            break
        offset += following


def read_dynamic(path: Path) -> ElfDynamic | None:
    """:func:`parse_dynamic` of the file at ``path`` (mapped, not read whole: libxul.so is
    over 100 MB). ElfError names the file."""
    with path.open("rb") as handle:
        if handle.read(4) != _MAGIC:
            return None
        size = os.fstat(handle.fileno()).st_size
        with mmap.mmap(handle.fileno(), size, access=mmap.ACCESS_READ) as data:
            try:
                return parse_dynamic(data)
            except ElfError as exc:
                raise ElfError(f"{path}: {exc}") from None


def elf_files(root: Path) -> Iterator[tuple[Path, ElfDynamic]]:
    """Every dynamically linked ELF file under ``root`` (sorted; a link to a file counts,
    as the build copies its target: Debian's ``firefox-bin``; links to folders are not
    walked)."""
    for directory, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(directory) / name
            if not path.is_file():
                continue
            info = read_dynamic(path)
            if info is not None:
                yield path, info


# --- finding a library on the build host ------------------------------------------------------
_MULTIARCH = {62: "x86_64-linux-gnu", 183: "aarch64-linux-gnu", 3: "i386-linux-gnu"}


def _ld_so_conf(path: Path, depth: int = 0) -> list[Path]:
    """The directories ``/etc/ld.so.conf`` lists, its ``include`` globs followed (bounded)."""
    found: list[Path] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return found
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include") and depth < 4:
            pattern = line.split(None, 1)[1] if " " in line else ""
            base = Path("/") if pattern.startswith("/") else path.parent
            for included in sorted(base.glob(pattern.lstrip("/"))):
                found.extend(_ld_so_conf(included, depth + 1))
        elif line.startswith("/"):
            found.append(Path(line))
    return found


def host_search_dirs(machine: int = 62, conf: Path = Path("/etc/ld.so.conf")) -> list[Path]:
    """Where the dynamic loader of this machine looks for a library, in its order (after
    LD_LIBRARY_PATH, which the build ignores): ``ld.so.conf``'s directories, then the
    standard ones (multiarch first)."""
    triple = _MULTIARCH.get(machine)
    standard = [Path(f"/lib/{triple}"), Path(f"/usr/lib/{triple}")] if triple else []
    standard += [Path("/lib64"), Path("/usr/lib64"), Path("/lib"), Path("/usr/lib")]
    ordered: list[Path] = []
    for directory in [*_ld_so_conf(conf), *standard]:
        if directory not in ordered and directory.is_dir():
            ordered.append(directory)
    return ordered


def _find(name: str, wanted: ElfDynamic, search: Sequence[Path]) -> Path | None:
    """The first ``name`` in ``search`` of the same ELF class and machine as ``wanted``."""
    for directory in search:
        candidate = directory / name
        if not candidate.is_file():
            continue
        try:
            info = read_dynamic(candidate.resolve())
        except (OSError, ElfError):
            continue
        if info is not None and (info.machine, info.elf_class) == (
            wanted.machine,
            wanted.elf_class,
        ):
            return candidate.resolve()
    return None


# --- the plan and the copy --------------------------------------------------------------------
@dataclass(frozen=True)
class BundledLibrary:
    """A library copied beside Firefox: its name (the soname files ask for, and its file
    name on the key), where it came from on the build machine (symlinks resolved), where it
    is on the image, its size, and the files that need it."""

    name: str
    source: Path
    image_path: str
    size: int
    needed_by: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """For the build report."""
        return {
            "name": self.name,
            "source": str(self.source),
            "image_path": self.image_path,
            "size": self.size,
            "needed_by": list(self.needed_by),
        }


@dataclass(frozen=True)
class LibraryPlan:
    """What a Firefox directory needs: libraries to bundle, libraries the host provides
    (by family), and names found nowhere (each with the files that need it)."""

    bundled: tuple[BundledLibrary, ...]
    host: Mapping[str, tuple[str, ...]]
    unresolved: Mapping[str, tuple[str, ...]]

    @property
    def bundled_bytes(self) -> int:
        """The bytes the bundled libraries add to the image."""
        return sum(b.size for b in self.bundled)


def plan_libraries(
    firefox_dir: Path, *, image_prefix: str, search: Sequence[Path] | None = None
) -> LibraryPlan:
    """Walk every ELF file of ``firefox_dir`` and what it needs, recursively (see the
    module's docstring). ``image_prefix`` is the directory's path on the image
    (``firefox/linux``); ``search`` the build host's library directories (default:
    :func:`host_search_dirs`)."""
    files = list(elf_files(firefox_dir))
    own = {p.name for p, _ in files} | {i.soname for _, i in files if i.soname}
    needers: dict[str, list[str]] = {}
    host: dict[str, set[str]] = {}
    found: dict[str, Path] = {}
    unresolved: dict[str, list[str]] = {}
    queue: list[tuple[str, ElfDynamic]] = [
        (p.relative_to(firefox_dir).as_posix(), i) for p, i in files
    ]
    dirs = list(search) if search is not None else None
    while queue:
        who, info = queue.pop(0)
        for name in info.needed:
            if name in own:
                continue
            family = host_family(name)
            if family is not None:
                host.setdefault(family.name, set()).add(name)
                continue
            needers.setdefault(name, [])
            if who not in needers[name]:
                needers[name].append(who)
            if name in found or name in unresolved:
                if name in unresolved and who not in unresolved[name]:
                    unresolved[name].append(who)
                continue
            if dirs is None:
                dirs = host_search_dirs(info.machine)
            path = _find(name, info, dirs)
            if path is None:
                unresolved[name] = [who]
                continue
            found[name] = path
            if len(found) > MAX_BUNDLED:
                raise UsageError(
                    f"{firefox_dir}: more than {MAX_BUNDLED} libraries to bundle "
                    f"({', '.join(sorted(found))}): a host family is missing from "
                    "esecure.bundle.elfdeps.HOST_FAMILIES",
                    code="ES927",
                )
            dep = read_dynamic(path)
            if dep is not None:
                queue.append((f"{BUNDLED_LIBS_DIR}/{name}", dep))
    bundled = tuple(
        BundledLibrary(
            name,
            path,
            f"{image_prefix}/{BUNDLED_LIBS_DIR}/{name}",
            path.stat().st_size,
            tuple(sorted(needers[name])),
        )
        for name, path in sorted(found.items())
    )
    return LibraryPlan(
        bundled,
        {k: tuple(sorted(v)) for k, v in sorted(host.items())},
        {k: tuple(sorted(v)) for k, v in sorted(unresolved.items())},
    )


def check_libraries(
    firefox_dir: Path, *, image_prefix: str, search: Sequence[Path] | None = None
) -> LibraryPlan:
    """:func:`plan_libraries`; ES927 naming every library found nowhere and the files that
    need it (the build's pre-flight runs it on the source before the long steps)."""
    plan = plan_libraries(firefox_dir, image_prefix=image_prefix, search=search)
    if plan.unresolved:
        named = "; ".join(
            f"{name} (needed by {', '.join(by)})" for name, by in plan.unresolved.items()
        )
        raise UsageError(
            f"{firefox_dir}: no {', '.join(plan.unresolved)} on this build machine, and "
            f"Firefox needs them: {named}. Install the packages that provide them (or point "
            "[firefox] linux at a complete installation), then build again",
            code="ES927",
        )
    return plan


def bundle_libraries(
    firefox_dir: Path, *, image_prefix: str, search: Sequence[Path] | None = None
) -> LibraryPlan:
    """:func:`plan_libraries`, then copy each library into ``firefox_dir/bundled-libs/``
    (0644). ES927 names every library found nowhere (and what needs it) before anything is
    copied."""
    plan = check_libraries(firefox_dir, image_prefix=image_prefix, search=search)
    if plan.bundled:
        target = firefox_dir / BUNDLED_LIBS_DIR
        target.mkdir(exist_ok=True)
        for library in plan.bundled:
            shutil.copyfile(library.source, target / library.name)
            (target / library.name).chmod(0o644)
    return plan


# --- what a host must have -----------------------------------------------------------------
def version_key(version: str) -> tuple[int, ...]:
    """``2.34`` → (2, 34): symbol versions compared as numbers (pure)."""
    parts = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


@dataclass(frozen=True)
class MinimumHost:
    """What a host must have to run a part of the image."""

    glibc: str | None  # the highest GLIBC_x.y needed, e.g. "2.34"
    glibcxx: str | None  # the highest GLIBCXX_x.y.z needed (libstdc++), when any
    gtk3: bool  # something needs libgtk-3.so.0
    host_libraries: tuple[str, ...]  # every library needed that the part does not carry

    def as_dict(self) -> dict[str, Any]:
        """For the build report."""
        return {
            "glibc": self.glibc,
            "glibcxx": self.glibcxx,
            "gtk": "3" if self.gtk3 else None,
            "host_libraries": list(self.host_libraries),
        }


def _highest(names: Iterable[str], prefix: str) -> str | None:
    versions = [n[len(prefix) :] for n in names if n.startswith(prefix)]
    versions = [v for v in versions if version_key(v)]
    return max(versions, key=version_key) if versions else None


def minimum_host(roots: Iterable[Path]) -> MinimumHost:
    """The minimum host of every ELF file under ``roots`` (a part of an image: the
    bootstrap's runtime and lib/, or Firefox with its bundled libraries)."""
    needed: set[str] = set()
    provided: set[str] = set()
    symbol_versions: set[str] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for path, info in elf_files(root):
            provided.add(path.name)
            if info.soname:
                provided.add(info.soname)
            needed.update(info.needed)
            for names in info.versions.values():
                symbol_versions.update(names)
    return MinimumHost(
        glibc=_highest(symbol_versions, "GLIBC_"),
        glibcxx=_highest(symbol_versions, "GLIBCXX_"),
        gtk3="libgtk-3.so.0" in needed,
        host_libraries=tuple(sorted(needed - provided)),
    )
