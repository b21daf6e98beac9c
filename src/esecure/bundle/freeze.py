"""The launcher, frozen: the PyInstaller bootstrap, and the Python parts of a release.

A *launcher directory* (what ``--launcher-dir PLATFORM=DIR`` takes, and what
:func:`freeze_launcher` writes) holds, for one platform::

    <launcher_name>[.exe]     the bootstrap executable (PyInstaller onedir)
    runtime-<platform>/       its contents directory (Python runtime + stdlib)
    lib/<platform>/           the application's third-party run-time packages, .pyc
                              compiled (unchecked-hash: valid on a read-only medium)

Its lib/<platform>/ becomes the ``deps-<platform>`` component (without e-secure's own
packages, should an older launcher directory carry them: :func:`copy_deps`). The ``app``
component — the ``esecure`` package, compiled the same way — is platform independent and
always assembled from this machine's esecure (:func:`assemble_app`). Everything is
reproducible: PyInstaller runs with ``PYTHONHASHSEED=0`` and ``SOURCE_DATE_EPOCH``; files
are copied in sorted order and compiled with fixed, relative paths.
"""

from __future__ import annotations

import fnmatch
import os
import py_compile
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import esecure
import esecure_onkey
from esecure._tools import PYINSTALLER, SYSTEM, Runner
from esecure.bundle.exclude import deps_excluded
from esecure.errors import ToolError, UsageError
from esecure_onkey.layout import contents_dir, executable_name, platform_name

__all__ = [
    "APP_PACKAGES",
    "EXCLUDED_DISTRIBUTIONS",
    "LAUNCHER_ROOTS",
    "assemble_app",
    "assemble_lib",
    "check_launcher_dir",
    "copy_deps",
    "freeze_launcher",
    "licence_files",
    "phase_reporter",
    "runtime_distributions",
]

# What the launcher imports at run time (the closure of their requirements is shipped).
# pyzstd: the update client applies zstd patches on the key (updater/_zstd.py).
LAUNCHER_ROOTS = ("cryptography", "packaging", "platformdirs", "tufup", "pywebview", "pyzstd")
# Never shipped: build tools (tufup.repo needs setuptools; the launcher never imports it).
EXCLUDED_DISTRIBUTIONS = frozenset(
    {"setuptools", "pip", "wheel", "pyinstaller", "pyinstaller-hooks-contrib", "esecure"}
)
FREEZE_TIMEOUT = 900
# e-secure's own top-level packages: never in a deps component (the app component carries
# esecure; the bootstrap's runtime carries esecure_onkey, the one copy an application uses).
APP_PACKAGES = ("esecure", "esecure_onkey")
_NEEDED_BY = "freezing the launcher"
_SKIP_PARTS = {"__pycache__"}


def build_scripts_dir() -> Path:
    """Where the PyInstaller spec lives (a source checkout: build_scripts/)."""
    here = Path(esecure.__file__).resolve().parents[2] / "build_scripts"
    if not (here / "bootstrap.spec").is_file():
        raise ToolError(
            f"the PyInstaller spec is not at {here}/bootstrap.spec; freeze from a source "
            "checkout of e-secure (pip install -e .), or pass --launcher-dir",
            code="ES913",
        )
    return here


# --- lib/<platform> -------------------------------------------------------------------


def runtime_distributions(
    roots: Iterable[str] = LAUNCHER_ROOTS,
) -> list[metadata.Distribution]:
    """The installed distributions the launcher needs: the roots and their requirements
    (with the extras asked for, markers evaluated for this interpreter), sorted by name."""
    found: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(r, frozenset()) for r in roots]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in EXCLUDED_DISTRIBUTIONS:
            continue
        try:
            dist = found.get(key) or metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ToolError(
                f"the launcher needs {name}, which is not installed here", code="ES913"
            ) from None
        found[key] = dist
        for extra in sorted(extras | {""}):
            if (key, extra) in done:
                continue
            done.add((key, extra))
            for text in dist.requires or []:
                req = Requirement(text)
                if req.marker is None:
                    active = extra == ""
                else:
                    active = req.marker.evaluate({"extra": extra})
                if active:
                    todo.append((req.name, frozenset(req.extras)))
    return [found[k] for k in sorted(found)]


LICENCE_NAMES = ("LICEN[CS]E*", "COPYING*", "NOTICE*", "AUTHORS*")
"""A distribution's licence files, when its metadata names none (no License-File)."""


def licence_files(dist: metadata.Distribution) -> list[str]:
    """The paths (relative to the installation) of a distribution's licence texts: those its
    metadata names (License-File, in ``.dist-info/licenses/`` or ``.dist-info/``), else
    the files of its ``.dist-info`` named like a licence. Sorted; may be empty."""
    info = [f for f in dist.files or [] if f.parts and f.parts[0].endswith(".dist-info")]
    named = set(dist.metadata.get_all("License-File") or [])
    out = set()
    for f in info:
        inner = PurePosixPath(*f.parts[1:]).as_posix()
        if inner in named or inner.removeprefix("licenses/") in named:
            out.add(f.as_posix())
    if not out:
        out = {
            f.as_posix()
            for f in info
            if f.name != "RECORD" and any(fnmatch.fnmatchcase(f.name, p) for p in LICENCE_NAMES)
        }
    return sorted(out)


def _dist_files(dist: metadata.Distribution, platform: str) -> list[tuple[Path, str]]:
    """(source path, relative destination) of a distribution's importable files, its
    metadata (METADATA, top_level.txt, RECORD: the SBOM reads them) and its licence texts;
    never what the exclude list leaves out (esecure.bundle.exclude.DEPS)."""
    keep = set(licence_files(dist))
    out = []
    for f in dist.files or []:
        rel = f.as_posix()
        if rel.startswith(("..", "/")) or _SKIP_PARTS & set(f.parts):
            continue
        if f.parts[0].endswith(".dist-info"):
            if f.name not in ("METADATA", "top_level.txt", "RECORD") and rel not in keep:
                continue  # INSTALLER, direct_url.json: install-time details, not needed
        elif deps_excluded(rel, platform):
            continue
        if rel.endswith((".pyc", ".pth")):
            continue
        src = Path(str(f.locate()))
        if src.is_file():
            out.append((src, rel))
    return out


def _esecure_files() -> list[tuple[Path, str]]:
    package = Path(esecure.__file__).resolve().parent
    out = []
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package.parent)
        if path.is_file() and not (_SKIP_PARTS & set(rel.parts)) and path.suffix != ".pyc":
            out.append((path, rel.as_posix()))
    return out


def _copy_and_compile(files: list[tuple[Path, str]], dest: Path) -> None:
    """Copy (source, relative path) pairs into ``dest`` in sorted order, then compile every
    module with its relative path and unchecked hashes (valid on a read-only medium)."""
    for src, rel in sorted(files, key=lambda t: t[1]):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        target.chmod(0o755 if src.suffix == ".so" else 0o644)
    for src in sorted(dest.rglob("*.py")):
        rel = src.relative_to(dest).as_posix()
        try:
            py_compile.compile(
                str(src),
                dfile=rel,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError:
            continue  # py2-only or template files some packages ship: never imported
    for pyc in dest.rglob("*.pyc"):
        pyc.chmod(0o644)


def assemble_lib(dest: Path, progress: Callable[[str], None] | None = None) -> list[str]:
    """The ``deps`` component of this platform in ``dest``: the launcher's third-party
    run-time distributions, copied and compiled (never e-secure's own packages).

    Returns the distribution names shipped.
    """
    dists = runtime_distributions()
    files = [f for dist in dists for f in _dist_files(dist, platform_name())]
    stray = sorted({rel.split("/")[0] for _src, rel in files} & set(APP_PACKAGES))
    if stray:  # a third-party distribution claiming e-secure's names would shadow them
        raise ToolError(f"a run-time distribution ships {', '.join(stray)}/", code="ES913")
    if progress is not None:
        progress(f"lib: {len(files)} files from {len(dists)} distributions; compiling")
    _copy_and_compile(files, dest)
    return [d.metadata["Name"] for d in dists]


def assemble_app(dest: Path, progress: Callable[[str], None] | None = None) -> int:
    """The ``app`` component's code in ``dest``: this machine's ``esecure`` package, copied
    and compiled (platform independent; the build adds ``product.json``).

    Returns the number of source files copied.
    """
    files = _esecure_files()
    if progress is not None:
        progress(f"app: {len(files)} files of the esecure package; compiling")
    _copy_and_compile(files, dest)
    return len(files)


def _is_app_entry(name: str) -> bool:
    """Whether a top-level entry of a lib/ directory belongs to e-secure's distribution."""
    if name in APP_PACKAGES:
        return True
    stem, dot, ext = name.rpartition(".")
    return (
        bool(dot)
        and ext in {"dist-info", "egg-info"}
        and (canonicalize_name(stem.split("-")[0]) == "esecure")
    )


def copy_deps(lib: Path, dest: Path, platform: str) -> None:
    """A launcher directory's ``lib/<platform>`` into ``dest`` as the ``deps`` component:
    everything but e-secure's own packages (an older launcher directory carried them) and
    what the exclude list leaves out (esecure.bundle.exclude.DEPS)."""

    def ignore(directory: str, names: list[str]) -> list[str]:
        here = Path(directory)
        out = [n for n in names if here == lib and _is_app_entry(n)]
        for n in names:
            rel = (here / n).relative_to(lib).as_posix()
            probe = f"{rel}/-" if (here / n).is_dir() else rel  # a directory: a file in it
            if ".dist-info" not in rel and deps_excluded(probe, platform):
                out.append(n)
        return out

    shutil.copytree(lib, dest, symlinks=False, ignore=ignore)


# --- the bootstrap -------------------------------------------------------------------------


def _run_pyinstaller(
    name: str,
    platform: str,
    work: Path,
    epoch: int,
    log: Callable[[str], None],
    *,
    runner: Runner,
) -> Path:
    spec = build_scripts_dir() / "bootstrap.spec"
    bootstrap = Path(esecure_onkey.__file__).resolve().parent / "__main__.py"
    env = {
        **os.environ,
        "PYTHONHASHSEED": "0",
        "SOURCE_DATE_EPOCH": str(epoch),
        "ESECURE_FREEZE_SCRIPT": str(bootstrap),
        "ESECURE_FREEZE_NAME": name,
        "ESECURE_FREEZE_CONTENTS": contents_dir(platform),
        "TZ": "UTC",
        # PyInstaller's binary cache (where it strips libraries) is per user and shared,
        # and --clean empties it: two freezes at once (two builds, a build beside the
        # tests) would strip into each other's cache. Each freeze gets its own.
        "PYINSTALLER_CONFIG_DIR": str(work / "pyinstaller-config"),
    }
    args = [
        str(spec),
        "--noconfirm",
        "--clean",
        "--log-level",
        "INFO",
        "--distpath",
        str(work / "dist"),
        "--workpath",
        str(work / "build"),
    ]
    runner.find(PYINSTALLER, needed_by=_NEEDED_BY)
    log("freezing the bootstrap with PyInstaller (about a minute)")
    on_line = phase_reporter(log)
    runner.run(
        PYINSTALLER,
        args,
        needed_by=_NEEDED_BY,
        code="ES913",
        timeout=FREEZE_TIMEOUT,
        env=env,
        cwd=work,
        on_line=on_line,
    )
    return work / "dist" / name


_PHASES = (
    ("Initializing module dependency graph", "analysing the standard library"),
    ("Looking for dynamic libraries", "collecting shared libraries"),
    ("Building PYZ", "building the Python archive"),
    ("Building EXE", "building the executable"),
    ("Building COLLECT", "assembling the onedir tree"),
)


def phase_reporter(log: Callable[[str], None]) -> Callable[[str], None]:
    """A PyInstaller output-line callback that reports each phase once, as it starts."""
    shown: str | None = None

    def on_line(line: str) -> None:
        nonlocal shown
        phase = _phase(line)
        if phase and phase != shown:
            shown = phase
            log(f"  PyInstaller: {phase}")

    return on_line


def _phase(line: str) -> str | None:
    """The progress message for a PyInstaller log line, if it starts a phase."""
    for marker, message in _PHASES:
        if marker in line:
            return message
    return None


def freeze_launcher(
    out: Path,
    *,
    launcher_name: str,
    epoch: int,
    log: Callable[[str], None] = lambda _m: None,
    runner: Runner = SYSTEM,
) -> Path:
    """Freeze the host platform's launcher directory into ``out`` (which must not exist).

    PyInstaller's phases are reported through ``log`` as it reaches them. A missing
    PyInstaller is ES919; a failing one is ES913 with its last lines.
    """
    platform = platform_name()
    name = executable_name(launcher_name, platform)
    with tempfile.TemporaryDirectory(prefix="esecure-freeze-") as tmp:
        frozen = _run_pyinstaller(launcher_name, platform, Path(tmp), epoch, log, runner=runner)
        out.mkdir(parents=True)
        shutil.move(str(frozen / name), out / name)
        shutil.move(str(frozen / contents_dir(platform)), out / contents_dir(platform))
    log("assembling lib/ from the installed distributions")
    assemble_lib(out / "lib" / platform, progress=log)
    check_launcher_dir(out, platform, launcher_name)
    return out


def check_launcher_dir(directory: Path, platform: str, launcher_name: str) -> None:
    """Raise ES916 naming what a launcher directory lacks."""
    name = executable_name(launcher_name, platform)
    needed = [
        (directory / name, "the bootstrap executable"),
        (directory / contents_dir(platform), "its contents directory"),
        (directory / "lib" / platform, "its third-party packages (lib/)"),
    ]
    for path, what in needed:
        if not path.exists():
            raise UsageError(
                f"{directory} is not a {platform} launcher directory: {what} {path} is missing",
                code="ES916",
            )


_SPEC = re.compile(r"(?P<platform>linux|windows|macos)=(?P<dir>.+)")


def parse_launcher_dir(value: str) -> tuple[str, Path]:
    """``PLATFORM=DIR`` from the command line."""
    match = _SPEC.fullmatch(value)
    if not match:
        raise UsageError(
            f"--launcher-dir {value!r}: expected PLATFORM=DIR with PLATFORM linux, windows "
            "or macos",
            code="ES916",
        )
    return match.group("platform"), Path(match.group("dir"))
