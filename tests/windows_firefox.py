"""A stand-in extracted Firefox ESR for Windows, built with mingw from
tests/windows/firefox_standin.c: a real PE32+ ``firefox.exe`` that records how it was
started, stand-in DLLs of the layout ``esecure.bundle.winfirefox`` requires, omni.ja
archives and application.ini. Never shipped; the release engineer supplies the real one.

With ``nss=True`` its NSS is real: NSS 3.125 for Windows (the version of Firefox 153's),
so the launcher's certificate delivery (ctypes on ``nss3.dll``) runs for real under Wine.
No Windows Firefox can be fetched here; the one Windows NSS that can is the mingw build
inside the ``never_fox`` wheel on PyPI (MIT wrapper; NSS and NSPR are MPL-2.0), pinned by
its sha256 and cached in ``~/.cache/e-secure/windows-nss``. Only its NSS, NSPR and SQLite
DLLs are used, folded into one ``nss3.dll`` as Mozilla's build has it (nss_fold.c).
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from esecure.bundle.winfirefox import REQUIRED, tree_sha256

SOURCE = Path(__file__).resolve().parent / "windows" / "firefox_standin.c"
FOLD_SOURCE = SOURCE.with_name("nss_fold.c")
VERSION = "128.5.0"
RECORD_ENV = "ESECURE_FIREFOX_RECORD"
HOLD_ENV = "ESECURE_FIREFOX_HOLD"
WINDOW_ENV = "ESECURE_FIREFOX_WINDOW"
STUBBORN_ENV = "ESECURE_FIREFOX_STUBBORN"


def _mingw(*args: str) -> None:
    proc = subprocess.run(
        ["x86_64-w64-mingw32-gcc", "-O2", "-s", "-Wl,--no-insert-timestamp", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"mingw (build_scripts/install-system-deps.sh): {proc.stderr}"


NSS_DISTRIBUTION = "never-fox==0.3.15"
NSS_WHEEL = "never_fox-0.3.15-py3-none-win_amd64.whl"
NSS_WHEEL_SHA256 = "4052b1501ca217028d3105e8de369b88f473db36cc2db1ca348a151cda822284"
NSS_CACHE = Path.home() / ".cache" / "e-secure" / "windows-nss"
_VENDOR = "never_fox-0.3.15.data/purelib/never_fox/_lib/vendor/"
# library -> one symbol nss_fold.c imports from it (the loader then loads it beside nss3.dll)
_FOLDED = {
    "nss3real": "NSS_Shutdown",
    "smime3": "SEC_PKCS12DecoderFinish",
    "nssutil3": "PORT_GetError",
    "libnspr4": "PR_GetError",
    "libplc4": "PL_strdup",
    "libplds4": "PL_NewHashTable",
}
_BESIDE = ("softokn3.dll", "freebl3.dll", "libsqlite3-0.dll")  # loaded by name from nss3's dir
_EXPORT = re.compile(r"^\s*\[\s*\d+\]\s+(\S+)\s*$")


def windows_nss_wheel() -> Path:
    """The pinned wheel holding a Windows NSS, downloaded once (pip) into the cache."""
    wheel = NSS_CACHE / NSS_WHEEL
    if not wheel.is_file():
        NSS_CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=NSS_CACHE) as tmp:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--platform",
                    "win_amd64",
                    "--python-version",
                    "3.11",
                    "-d",
                    tmp,
                    NSS_DISTRIBUTION,
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert proc.returncode == 0, f"pip download {NSS_DISTRIBUTION}: {proc.stderr[-2000:]}"
            (Path(tmp) / NSS_WHEEL).replace(wheel)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert digest == NSS_WHEEL_SHA256, f"{wheel}: sha256 {digest}, pinned {NSS_WHEEL_SHA256}"
    return wheel


def _exports(dll: Path) -> list[str]:
    """The names ``dll`` exports (mingw's objdump)."""
    proc = subprocess.run(
        ["x86_64-w64-mingw32-objdump", "-p", str(dll)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    table = proc.stdout.split("[Ordinal/Name Pointer] Table", 1)[1]
    names = []
    for line in table.splitlines()[1:]:
        found = _EXPORT.match(line)
        if found is None:
            break
        names.append(found.group(1))
    return names


def _install_nss(directory: Path) -> None:
    """The real Windows NSS into the stand-in ``directory``: softokn3, freebl3 and SQLite as
    they are, and a folded nss3.dll forwarding to NSS, smime, nssutil and NSPR."""
    with zipfile.ZipFile(windows_nss_wheel()) as wheel:
        for name in (*(f"{m}.dll" for m in _FOLDED if m != "nss3real"), *_BESIDE, "nss3.dll"):
            target = directory / ("nss3real.dll" if name == "nss3.dll" else name)
            target.write_bytes(wheel.read(_VENDOR + name))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lines, seen = ["LIBRARY nss3.dll", "EXPORTS"], set()
        for module, anchor in _FOLDED.items():
            (work / f"{module}.def").write_text(f"LIBRARY {module}.dll\nEXPORTS\n  {anchor}\n")
            subprocess.run(
                [
                    "x86_64-w64-mingw32-dlltool",
                    "-d",
                    str(work / f"{module}.def"),
                    "-l",
                    str(work / f"lib{module}.a"),
                    "-D",
                    f"{module}.dll",
                ],
                capture_output=True,
                timeout=60,
                check=True,
            )
            for name in _exports(directory / f"{module}.dll"):
                if name not in seen:
                    seen.add(name)
                    lines.append(f"  {name} = {module}.{name}")
        (work / "nss3.def").write_text("\n".join(lines) + "\n")
        _mingw(
            "-shared",
            "-nostdlib",
            "-o",
            str(directory / "nss3.dll"),
            str(FOLD_SOURCE),
            str(work / "nss3.def"),
            *(str(work / f"lib{m}.a") for m in _FOLDED),
        )


def windows_firefox(directory: Path, *, nss: bool = False) -> tuple[Path, str]:
    """Write the stand-in into ``directory`` (new), with a real Windows NSS when ``nss``;
    return it and its tree hash (what the release engineer pins in [firefox]
    windows_sha256)."""
    directory.mkdir(parents=True)
    _mingw("-municode", "-o", str(directory / "firefox.exe"), str(SOURCE))
    dll = directory / "xul.dll"
    _mingw("-DSTANDIN_DLL", "-shared", "-o", str(dll), str(SOURCE))
    for rel in REQUIRED:
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".dll") and rel != "xul.dll":
            path.write_bytes(dll.read_bytes())
        elif rel.endswith("omni.ja"):
            with zipfile.ZipFile(path, "w") as archive:
                info = zipfile.ZipInfo("chrome.manifest", date_time=(2024, 1, 1, 0, 0, 0))
                archive.writestr(info, "# stand-in\n")
    if nss:
        _install_nss(directory)
    (directory / "application.ini").write_text(
        f"[App]\nVendor=Mozilla\nName=Firefox\nVersion={VERSION}\nBuildID=20240101000000\n"
    )
    return directory, tree_sha256(directory)


def read_records(path: Path) -> list[tuple[list[str], dict[str, str]]]:
    """The stand-in's record: one (argv, the environment variables it kept) per start."""
    starts: list[tuple[list[str], dict[str, str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        kind, _, value = line.partition("\t")
        if kind == "start":
            starts.append(([], {}))
        elif kind == "arg":
            starts[-1][0].append(value)
        elif kind == "env":
            name, _, val = value.partition("=")
            starts[-1][1][name] = val
    return starts


def record_events(path: Path) -> list[str]:
    """What the stand-in's browser process recorded (``window``, ``activated``, ``closed
    WM_CLOSE``, ``closed ignored``, ``timeout``), in order, without the process ids."""
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        kind, _, value = line.partition("\t")
        if kind == "closed":
            events.append(f"closed {value}")
        elif kind in {"window", "activated", "timeout"}:
            events.append(kind)
    return events
