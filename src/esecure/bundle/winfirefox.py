"""The Windows Firefox ESR the release engineer supplies, checked before a build uses it.

No Windows Firefox can be fetched on the build machine: ``[firefox] windows`` names an
extracted Firefox ESR for Windows and ``[firefox] windows_sha256`` pins its tree. The
build checks (:func:`check_windows_firefox`, ES976 for each finding):

* the layout: :data:`REQUIRED` (what the key runs: the program, its XUL and mozglue, the
  NSS libraries the launcher loads to deliver the certificate, omni.ja and
  application.ini);
* the PE headers: ``firefox.exe`` is PE32+ for x86-64, each ``.dll`` of :data:`REQUIRED`
  a PE for x86-64;
* the version: ``Version=`` of application.ini;
* the tree hash (:func:`tree_sha256`) equals the pin: ``sha256sum`` of every file (symlinks
  followed), sorted by relative path, hashed again — in a shell, in the folder::

      find -L . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum

  ``esecure firefox-hash DIR`` prints it too.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from pathlib import Path

from esecure.errors import ConfigError, Problem

REQUIRED = (
    "firefox.exe",
    "xul.dll",
    "mozglue.dll",
    "nss3.dll",
    "freebl3.dll",
    "softokn3.dll",
    "omni.ja",
    "browser/omni.ja",
    "application.ini",
)
"""What an extracted Firefox ESR for Windows must hold for the key: the program and the
libraries it loads first, the NSS libraries ``launcher/nss.py`` loads on Windows, the two
omni.ja archives and application.ini (the version)."""

_MACHINE_AMD64 = 0x8664
_PE32_PLUS = 0x20B
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)*(esr)?$")


def pe_kind(path: Path) -> str:
    """ "PE32+ x86-64", "PE32 x86-64", "PE <machine>" or "not a PE file" — from the headers."""
    try:
        with path.open("rb") as f:
            dos = f.read(64)
            if len(dos) < 64 or dos[:2] != b"MZ":
                return "not a PE file"
            (offset,) = struct.unpack_from("<I", dos, 0x3C)
            f.seek(offset)
            header = f.read(4 + 20 + 2)
    except OSError:
        return "not a PE file"
    if len(header) < 26 or header[:4] != b"PE\0\0":
        return "not a PE file"
    (machine,) = struct.unpack_from("<H", header, 4)
    (magic,) = struct.unpack_from("<H", header, 24)
    arch = "x86-64" if machine == _MACHINE_AMD64 else f"machine 0x{machine:04x}"
    return f"{'PE32+' if magic == _PE32_PLUS else 'PE32'} {arch}"


def tree_files(directory: Path) -> list[str]:
    """Every file's path relative to ``directory`` (POSIX, symlinks followed), sorted as
    bytes (``LC_ALL=C sort``)."""
    found: list[str] = []
    for base, dirs, names in os.walk(directory, followlinks=True):
        dirs.sort()
        for name in names:
            path = Path(base) / name
            if path.is_file():
                found.append(path.relative_to(directory).as_posix())
    return sorted(found, key=lambda rel: rel.encode())


def tree_sha256(directory: Path) -> str:
    """The tree hash: SHA-256 of the ``sha256sum`` lines (``<hex>  <path>\\n``) of every
    file, sorted by path (see the module's docstring for the shell equivalent)."""
    outer = hashlib.sha256()
    for rel in tree_files(directory):
        inner = hashlib.sha256()
        with (directory / rel).open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                inner.update(chunk)
        outer.update(f"{inner.hexdigest()}  {rel}\n".encode())
    return outer.hexdigest()


def application_version(directory: Path) -> str | None:
    """``Version=`` of the ``[App]`` section of application.ini, or None."""
    try:
        text = (directory / "application.ini").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[App]" and line.startswith("Version="):
            return line.split("=", 1)[1].strip()
    return None


def check_windows_firefox(
    directory: Path,
    pinned: str,
    *,
    where: tuple[str, int | None],
    pin_where: tuple[str, int | None],
) -> str:
    """Check an extracted Windows Firefox ESR (layout, PE headers, version, tree hash
    against ``pinned``); return its version. Every finding is a :class:`Problem` of one
    ES976 :class:`ConfigError`, at ``where`` (the config's ``[firefox] windows``: file and
    line) or ``pin_where`` (its ``windows_sha256``)."""
    place, line = where
    problems: list[Problem] = []
    missing = [rel for rel in REQUIRED if not (directory / rel).is_file()]
    if missing:
        problems.append(
            Problem(
                place,
                f"an extracted Firefox ESR for Windows holding {', '.join(REQUIRED)}",
                f"{directory} without {', '.join(missing)}",
                "extract the Firefox ESR for Windows installer (7z x Firefox Setup.exe) and "
                "name its core/ folder",
                line=line,
            )
        )
    for rel in REQUIRED:
        path = directory / rel
        if not rel.endswith((".exe", ".dll")) or not path.is_file():
            continue
        kind = pe_kind(path)
        ok = kind == "PE32+ x86-64" if rel == "firefox.exe" else kind.endswith("x86-64")
        if not ok:
            problems.append(
                Problem(
                    place,
                    f"{rel} a Windows program for x86-64 (PE32+)",
                    f"{path}: {kind}",
                    "supply the 64-bit (win64) Firefox ESR for Windows",
                    line=line,
                )
            )
    version = application_version(directory)
    if (directory / "application.ini").is_file() and (
        version is None or not _VERSION.match(version)
    ):
        problems.append(
            Problem(
                place,
                "application.ini with a Version= such as 128.5.0 in [App]",
                f"{directory / 'application.ini'}: {version or 'no Version='}",
                "supply an unmodified Firefox ESR for Windows",
                line=line,
            )
        )
    if not problems:
        actual = tree_sha256(directory)
        if pinned != actual:
            problems.append(
                Problem(
                    pin_where[0],
                    f"the tree hash {pinned}" if pinned else "a pinned tree hash",
                    f"{actual} for {directory}",
                    f'if this is the Firefox you checked, set [firefox] windows_sha256 = "{actual}"'
                    " (also printed by `esecure firefox-hash DIR`); else supply the checked "
                    "Firefox",
                    line=pin_where[1],
                )
            )
    if problems:
        raise ConfigError(problems, code="ES976")
    return version or "unknown"
