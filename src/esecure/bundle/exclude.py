"""The exclude list: what the build never puts on an image, because it never runs there.

One list for the three places the build copies other people's files from: the Firefox
installation (:func:`firefox_excluded`, used by ``firefox.copy_firefox`` for images and
releases alike), the Python distributions of ``lib/<platform>/``
(:func:`deps_excluded`, used by ``freeze.assemble_lib`` and ``freeze.copy_deps``) and the
standard-library modules the frozen bootstrap leaves out (:data:`RUNTIME_MODULES`, read by
build_scripts/stdlib_modules.py and bootstrap.spec). docs/image-contents.md gives the
table with the reason for each entry; tests/bundle/test_exclude.py checks the table names
every entry and that none of them is on the built image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

__all__ = [
    "DEPS",
    "FIREFOX",
    "RUNTIME_MODULES",
    "Exclusion",
    "deps_excluded",
    "duplicate_launchers",
    "entries",
    "firefox_excluded",
]


@dataclass(frozen=True)
class Exclusion:
    """One entry: a glob on a path relative to the copied tree (``*`` stays within one
    path segment; a pattern ending in ``/`` is a directory, everything under it), the
    platforms it applies to (empty: all) and why it never runs."""

    pattern: str
    reason: str
    platforms: tuple[str, ...] = ()

    def matches(self, rel: str, platform: str) -> bool:
        """Whether ``rel`` (POSIX, relative to the tree) falls under this entry."""
        if self.platforms and platform not in self.platforms:
            return False
        if self.pattern.endswith("/"):
            parts = PurePosixPath(rel).parts[:-1]
            glob = self.pattern.rstrip("/")
            if "/" in glob:  # anchored: a directory at this exact place
                depth = glob.count("/") + 1
                return len(parts) >= depth and fnmatchcase("/".join(parts[:depth]), glob)
            return any(fnmatchcase(p, glob) for p in parts)
        if "/" in self.pattern:
            return fnmatchcase(rel, self.pattern)
        return fnmatchcase(PurePosixPath(rel).name, self.pattern)


_CRASH = "crash reporting: the key sends no crash reports (DisableTelemetry, no network)"
_UPDATE = "Mozilla's updater: the key's signed updates renew Firefox (DisableAppUpdate)"

FIREFOX: tuple[Exclusion, ...] = (
    Exclusion("crashreporter", _CRASH, ("linux",)),
    Exclusion("crashreporter.exe", _CRASH, ("windows",)),
    Exclusion("crashreporter.ini", _CRASH),
    Exclusion("crashhelper", _CRASH, ("linux",)),
    Exclusion("crashhelper.exe", _CRASH, ("windows",)),
    Exclusion("minidump-analyzer", _CRASH, ("linux",)),
    Exclusion("minidump-analyzer.exe", _CRASH, ("windows",)),
    Exclusion("Throbber-small.gif", "the crash reporter's window image", ("linux",)),
    Exclusion("pingsender", "sends telemetry pings at shutdown: telemetry is off", ("linux",)),
    Exclusion("pingsender.exe", "sends telemetry pings at shutdown: telemetry is off"),
    Exclusion("updater", _UPDATE, ("linux",)),
    Exclusion("updater.exe", _UPDATE, ("windows",)),
    Exclusion("updater.ini", _UPDATE),
    Exclusion("update-settings.ini", _UPDATE),
    Exclusion("precomplete", "the updater's list of files to remove"),
    Exclusion("removed-files", "the updater's list of files to remove"),
    Exclusion("maintenanceservice*.exe", "the Windows update service", ("windows",)),
    Exclusion("uninstall/", "the Windows uninstaller: the key is never installed", ("windows",)),
    Exclusion(
        "default-browser-agent.exe",
        "reports the default browser to Mozilla (DisableDefaultBrowserAgent)",
        ("windows",),
    ),
    Exclusion(
        "gmp-clearkey/",
        "the W3C ClearKey media-decryption test plug-in: the bank's pages play no "
        "encrypted media, and the site allow-list admits no other site",
    ),
)
"""Files of a Firefox installation (relative to it) never copied. Besides these, every
launcher name of ``esecure_onkey.browser`` other than the one the key starts is left out
when it is the same program (:func:`duplicate_launchers`)."""

_TESTS = "a distribution's own tests: never imported by the launcher"

DEPS: tuple[Exclusion, ...] = (
    Exclusion("tests/", _TESTS),
    Exclusion("test/", _TESTS),
    Exclusion("test_*.py", _TESTS),
    Exclusion(
        "securesystemslib/_vendor/ed25519/test_data/",
        "2.4 MB of signature test vectors of the vendored ed25519 (its tests only)",
    ),
    Exclusion("securesystemslib/_vendor/test-ed25519-upstream.sh", _TESTS),
    Exclusion("securesystemslib/unittest_toolbox.py", "helpers for securesystemslib's tests"),
    Exclusion("platformdirs/pytest_plugin.py", "a pytest plug-in: pytest never runs on a key"),
    Exclusion("*.pyi", "type stubs: read by type checkers, never by Python"),
    Exclusion(
        "*.dll",
        "Windows libraries (pywebview's WebView2 and .NET interop) in a Linux lib/",
        ("linux",),
    ),
)
"""Files of ``lib/<platform>/`` (relative to it) never copied."""

RUNTIME_MODULES: tuple[tuple[str, str], ...] = (
    ("test", "CPython's test suite"),
    ("idlelib", "the IDLE editor (a Tk program) and its tests"),
    ("tkinter", "Tk: the launcher's window is pywebview's"),
    ("_tkinter", "Tk: the launcher's window is pywebview's"),
    ("turtle", "a Tk teaching module"),
    ("turtledemo", "Tk demos"),
    ("lib2to3", "a Python 2 converter (a build tool) and its tests"),
    ("ensurepip", "installs pip: nothing is installed on a key"),
    ("venv", "creates environments: a build tool"),
    ("distutils", "a build tool"),
    ("pydoc_data", "pydoc's topic texts, for the interactive help()"),
    ("antigravity", "an easter egg"),
    ("this", "an easter egg"),
    ("__phello__", "a test package of the frozen-module machinery"),
    ("__hello__", "a test module of the frozen-module machinery"),
    ("_testcapi", "a C-API test extension"),
    ("_testbuffer", "a C-API test extension"),
    ("_testclinic", "a C-API test extension"),
    ("_testimportmultiple", "a C-API test extension"),
    ("_testinternalcapi", "a C-API test extension"),
    ("_testmultiphase", "a C-API test extension"),
    ("_testsinglephase", "a C-API test extension"),
    ("_xxtestfuzz", "a fuzzing test extension"),
    ("_ctypes_test", "ctypes' test extension"),
    ("xxlimited", "an example extension"),
    ("xxlimited_35", "an example extension"),
    ("xxsubtype", "an example extension"),
    ("readline", "line editing of an interactive prompt: the launcher has none"),
    ("curses", "terminal user interfaces: the launcher's is a window"),
    ("_curses", "terminal user interfaces (with libncursesw, libtinfo)"),
    ("_curses_panel", "terminal user interfaces (with libpanelw)"),
    ("nis", "NIS look-ups (deprecated; brings libtirpc and Kerberos' libraries)"),
    ("spwd", "the shadow password database (deprecated)"),
    ("ossaudiodev", "OSS audio (deprecated)"),
)
"""Top-level standard-library modules (and their submodules) the frozen bootstrap leaves
out: the application it starts never imports them. Test packages inside other packages
(``*/test/``, ``*/tests/``, ``idle_test``) are left out too."""


def entries() -> list[tuple[str, str, str, str]]:
    """(area, pattern, platforms, reason) of every entry, for the documentation table."""
    out = [("firefox", e.pattern, ", ".join(e.platforms) or "all", e.reason) for e in FIREFOX]
    out += [("lib", e.pattern, ", ".join(e.platforms) or "all", e.reason) for e in DEPS]
    out += [("runtime", name, "all", reason) for name, reason in RUNTIME_MODULES]
    return out


def _excluded(table: Iterable[Exclusion], rel: str, platform: str) -> bool:
    return any(e.matches(rel, platform) for e in table)


def firefox_excluded(rel: str, platform: str) -> bool:
    """Whether a file of a Firefox installation is left out (its path relative to it)."""
    return _excluded(FIREFOX, rel, platform)


def deps_excluded(rel: str, platform: str) -> bool:
    """Whether a file of ``lib/<platform>/`` is left out (its path relative to it); a
    compiled ``__pycache__/NAME.*.pyc`` goes with its ``NAME.py``."""
    path = PurePosixPath(rel)
    if path.parent.name == "__pycache__" and path.suffix == ".pyc":
        rel = (path.parent.parent / (path.name.split(".", 1)[0] + ".py")).as_posix()
    return _excluded(DEPS, rel, platform)


def duplicate_launchers(source: Path, started: str, names: Iterable[str]) -> list[str]:
    """The other launcher names of ``names`` in ``source`` that are the same program as
    ``started`` (same bytes once links are followed): Debian's ``firefox-bin`` is a link
    to ``firefox-esr``, which a copy would turn into a second 0.6 MB program."""
    first = (source / started).read_bytes()
    out = []
    for name in names:
        other = source / name
        if name != started and other.is_file() and other.read_bytes() == first:
            out.append(name)
    return sorted(out)
