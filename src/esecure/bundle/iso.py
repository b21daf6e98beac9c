"""The CD-ROM partition as an ISO 9660 (level 3) + Joliet + Rock Ridge image, reproducibly.

:func:`plan_iso` is pure: it maps every path to an ISO 9660 identifier (A-Z, 0-9, _; names
at most 30 characters with the extension, directories 31; clashes get a ``~N`` suffix in
sorted order), checks Joliet's limit of 64 characters (pycdlib counts UTF-8 bytes, so a
name over 64 bytes is refused too, never truncated) and ISO 9660's depth of 8 levels (the
root is level 1: at most 7 directories below it, else pycdlib would relocate deep
directories under ``rr_moved``). :func:`write_iso` feeds the plan to pycdlib with its clock
fixed to ``SOURCE_DATE_EPOCH`` (pycdlib reads ``time.time()`` and ``time.localtime()`` in
four modules; pycdlib is pinned exactly for that reason), entries in sorted order and modes
fixed (0444 files, 0555 executables and directories), so the same tree gives the same bytes.
"""

from __future__ import annotations

import contextlib
import re
import time as _time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from esecure.errors import ToolError, UsageError

__all__ = ["IsoPlan", "PlannedEntry", "plan_iso", "write_iso"]

MAX_DIR_DEPTH = 7  # directories below the root (ECMA-119 6.8.2.1: 8 levels with the root)
JOLIET_MAX = 64
_FILE_MAX = 30
_DIR_MAX = 31
_BAD = re.compile(r"[^A-Z0-9_]")
_PYCDLIB_CLOCK_MODULES = ("pycdlib.pycdlib", "pycdlib.headervd", "pycdlib.dates")


@dataclass(frozen=True)
class PlannedEntry:
    """One file or directory: its real name (Rock Ridge, Joliet) and ISO 9660 path."""

    path: str  # real POSIX path, e.g. "firefox/linux/firefox-bin"
    iso_path: str  # e.g. "/FIREFOX/LINUX/FIREFOX_BIN.;1"
    is_dir: bool
    executable: bool


@dataclass(frozen=True)
class IsoPlan:
    """Directories first (parents before children), then files, all sorted."""

    entries: tuple[PlannedEntry, ...]


def _d_chars(text: str) -> str:
    return _BAD.sub("_", text.upper())


def _iso_dir_name(name: str) -> str:
    return _d_chars(name)[:_DIR_MAX] or "_"


def _iso_file_name(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    ext = _d_chars(ext)[:8]
    stem = _d_chars(stem)[: _FILE_MAX - len(ext)] or "_"
    return stem, ext


def _unique(candidate: str, taken: set[str], budget: int) -> str:
    if candidate not in taken:
        return candidate
    for n in range(1, 100_000):
        suffix = f"_{n}"
        trial = candidate[: budget - len(suffix)] + suffix
        if trial not in taken:
            return trial
    raise UsageError(f"too many names clash with {candidate}", code="ES911")  # pragma: no cover


def _check_joliet(path: str, name: str) -> None:
    chars = len(name.encode("utf-16-be")) // 2
    octets = len(name.encode("utf-8"))
    if chars > JOLIET_MAX or octets > JOLIET_MAX:
        raise UsageError(
            f"{path}: the name {name!r} has {chars} characters ({octets} UTF-8 bytes); Joliet "
            f"(Windows) names are limited to {JOLIET_MAX}. Rename it to at most {JOLIET_MAX} "
            "ASCII characters (the build never truncates a name silently)",
            code="ES911",
        )


def plan_iso(files: list[str], executables: frozenset[str] = frozenset()) -> IsoPlan:
    """The identifiers of every file (POSIX paths) and of the directories that hold them."""
    dirs: set[str] = set()
    for f in files:
        parts = PurePosixPath(f).parts
        if len(parts) - 1 > MAX_DIR_DEPTH:
            raise UsageError(
                f"{f}: {len(parts) - 1} directories deep; ISO 9660 allows {MAX_DIR_DEPTH} "
                "below the root. Flatten that part of the tree",
                code="ES912",
            )
        for i in range(1, len(parts)):
            dirs.add("/".join(parts[:i]))
    iso_of: dict[str, str] = {"": ""}
    taken: dict[str, set[str]] = {}
    out: list[PlannedEntry] = []
    for d in sorted(dirs, key=lambda p: (p.count("/"), p)):
        parent, _, name = d.rpartition("/")
        _check_joliet(d, name)
        used = taken.setdefault(parent, set())
        ident = _unique(_iso_dir_name(name), used, _DIR_MAX)
        used.add(ident)
        iso_of[d] = f"{iso_of[parent]}/{ident}"
        out.append(PlannedEntry(d, iso_of[d], is_dir=True, executable=True))
    for f in sorted(files):
        parent, _, name = f.rpartition("/")
        _check_joliet(f, name)
        used = taken.setdefault(parent, set())
        stem, ext = _iso_file_name(name)
        clashing = {u.rpartition(".")[0] for u in used if u.rpartition(".")[2] == ext and "." in u}
        ident = f"{_unique(stem, clashing, _FILE_MAX - len(ext))}.{ext}"
        used.add(ident)
        iso_path = f"{iso_of[parent]}/{ident};1"
        out.append(PlannedEntry(f, iso_path, is_dir=False, executable=f in executables))
    return IsoPlan(tuple(out))


class _FixedClock(types.SimpleNamespace):
    """Stands in for the ``time`` module inside pycdlib: a fixed now, UTC everywhere."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self._epoch = epoch

    def time(self) -> float:
        return float(self._epoch)

    def localtime(self, secs: float | None = None) -> _time.struct_time:
        return _time.gmtime(self._epoch if secs is None else secs)

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401 - delegates to the time module
        return getattr(_time, name)


@contextlib.contextmanager
def _pycdlib_clock(epoch: int) -> Iterator[None]:
    import importlib  # noqa: PLC0415

    modules = [importlib.import_module(m) for m in _PYCDLIB_CLOCK_MODULES]
    saved = [m.time for m in modules]
    try:
        for m in modules:
            m.time = _FixedClock(epoch)  # type: ignore[attr-defined]
        yield
    finally:
        for m, original in zip(modules, saved, strict=True):
            m.time = original  # type: ignore[attr-defined]


def write_iso(
    root: Path,
    out: Path,
    plan: IsoPlan,
    *,
    volume_label: str,
    epoch: int,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Write ``plan`` (files read from ``root``) to ``out``; ``out`` is written in place,
    the caller renames it to its final name."""
    import pycdlib  # noqa: PLC0415 - heavy; only the build needs it
    from pycdlib.pycdlibexception import PyCdlibException  # noqa: PLC0415

    try:
        _write(
            pycdlib.PyCdlib(),
            root=root,
            out=out,
            plan=plan,
            volume_label=volume_label,
            epoch=epoch,
            progress=progress,
        )
    except PyCdlibException as exc:
        raise ToolError(f"pycdlib could not write {out}: {exc}", code="ES913") from None


def _write(
    iso: Any,  # noqa: ANN401 - pycdlib.PyCdlib (untyped)
    *,
    root: Path,
    out: Path,
    plan: IsoPlan,
    volume_label: str,
    epoch: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    with _pycdlib_clock(epoch):
        iso.new(
            interchange_level=3,
            joliet=3,
            rock_ridge="1.09",
            vol_ident=volume_label,
            sys_ident="LINUX",
            app_ident_str="E-SECURE",
        )
        try:
            for e in plan.entries:
                joliet = "/" + e.path
                if e.is_dir:
                    iso.add_directory(
                        e.iso_path,
                        rr_name=e.path.rpartition("/")[2],
                        joliet_path=joliet,
                        file_mode=0o040555,
                    )
                else:
                    iso.add_file(
                        str(root / e.path),
                        e.iso_path,
                        rr_name=e.path.rpartition("/")[2],
                        joliet_path=joliet,
                        file_mode=0o100555 if e.executable else 0o100444,
                    )

            def report(done: int, total: int, _opaque: object) -> None:
                if progress is not None:
                    progress(done, total)

            iso.write(str(out), blocksize=1 << 20, progress_cb=report)
        finally:
            iso.close()
