"""Starting a Firefox directory: which program per platform, ELF detection, the shadow
directory (built, reused, rebuilt, bounded, never half-made), and a real firefox-esr from a
directory with no exec bits (what a showexec FAT mount shows) loading a page."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import stat
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from esecure_onkey import browser
from esecure_onkey.browser import (
    LIBRARY_PATH,
    SHADOW_NAME,
    STAMP_NAME,
    FirefoxStartError,
    elf_headers_end,
    elf_kind,
    firefox_command,
    firefox_environment,
    pick_executable,
    prepare_firefox,
    read_elf_head,
    start_mode,
)
from esecure_onkey.layout import BUNDLED_LIBS_DIR

DEBIAN_FIREFOX = Path("/usr/lib/firefox-esr")
needs_firefox = pytest.mark.skipif(
    not (DEBIAN_FIREFOX / "firefox-esr").is_file(),
    reason="firefox-esr is installed by install-system-deps",
)


# --- crafted ELF files --------------------------------------------------------------------
def elf(*, bits=64, order="<", e_type=3, p_types=(6, 3, 1), phoff=None, phnum=None, size=0):
    """An ELF header with a program header table of ``p_types`` (padded to ``size``)."""
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if order == "<" else 2, 1])
    ident = ident.ljust(16, b"\0")
    ehsize, phentsize = (52, 32) if bits == 32 else (64, 56)
    phoff = ehsize if phoff is None else phoff
    count = len(p_types) if phnum is None else phnum
    if bits == 32:
        rest = struct.pack(order + "HHIIIIIHHHHHH", e_type, 3, 1, 0, phoff, 0, 0, ehsize,
                           phentsize, count, 0, 0, 0)  # fmt: skip
    else:
        rest = struct.pack(order + "HHIQQQIHHHHHH", e_type, 62, 1, 0, phoff, 0, 0, ehsize,
                           phentsize, count, 0, 0, 0)  # fmt: skip
    data = bytearray((ident + rest).ljust(phoff, b"\0"))
    for p_type in p_types:
        data += struct.pack(order + "I", p_type).ljust(phentsize, b"\0")
    return bytes(data.ljust(size, b"\0"))


PIE = elf(e_type=3, p_types=(6, 3, 1))  # PT_PHDR, PT_INTERP, PT_LOAD
LIBRARY = elf(e_type=3, p_types=(1, 1, 2))  # PT_LOAD, PT_LOAD, PT_DYNAMIC
STATIC = elf(e_type=2, p_types=(1,))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PIE, "program"),
        (LIBRARY, "library"),
        (STATIC, "program"),
        (elf(bits=32, order=">", e_type=3, p_types=(3,)), "program"),
        (elf(bits=32, order="<", e_type=3, p_types=(1,)), "library"),
        (elf(e_type=1, p_types=()), "other"),  # ET_REL: an object file
        (elf(e_type=4, p_types=(1,)), "other"),  # ET_CORE
        (PIE[:70], "program"),  # table cut off: cannot tell, copying is the safe side
        (elf(e_type=3, p_types=(1,), phnum=0xFFFF), "program"),  # PN_XNUM: not read
        (b"#!/bin/sh\nexec firefox-bin\n", "other"),
        (b"\x7fELF\x02\x01", "other"),
        (b"", "other"),
    ],
    ids=[
        "pie",
        "library",
        "static",
        "32-be-interp",
        "32-le-lib",
        "rel",
        "core",
        "cut",
        "pn-xnum",
        "script",
        "short",
        "empty",
    ],
)
def test_elf_kind(data, kind):
    """Programs are ET_EXEC or ET_DYN with PT_INTERP; libraries lack PT_INTERP."""
    assert elf_kind(data) == kind


def test_headers_end_reaches_the_end_of_the_program_header_table():
    """The bytes needed run to the last program header, wherever the table is."""
    assert elf_headers_end(PIE[:64]) == 64 + 3 * 56
    assert elf_headers_end(b"not elf") == 7


def test_read_elf_head_reads_a_table_placed_after_the_header(tmp_path):
    """A program header table far from the header is still read and its PT_INTERP found."""
    path = tmp_path / "prog"
    path.write_bytes(elf(e_type=3, p_types=(1, 3), phoff=4096, size=8192))
    head = read_elf_head(path)
    assert len(head) == 4096 + 2 * 56
    assert elf_kind(head) == "program"


@needs_firefox
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("firefox-esr", "program"),
        ("glxtest", "program"),
        ("libxul.so", "library"),
        ("libnss3.so", "library"),
        ("omni.ja", "other"),
    ],
)
def test_debian_firefox_files_are_told_apart_by_their_headers(name, kind):
    """Debian's firefox-esr: its programs and libraries as the headers say."""
    assert elf_kind(read_elf_head(DEBIAN_FIREFOX / name)) == kind


# --- which program, which mode (pure) -----------------------------------------------------
@pytest.mark.parametrize(
    ("platform", "present", "expected"),
    [
        ("linux", {"firefox", "firefox-bin"}, "firefox"),  # Mozilla's tarball
        ("linux", {"firefox-esr", "firefox-bin"}, "firefox-esr"),  # Debian's directory
        ("linux", {"firefox-bin"}, "firefox-bin"),
        ("linux", {"firefox.exe"}, None),
        ("windows", {"firefox.exe", "firefox"}, "firefox.exe"),
        ("windows", {"firefox"}, None),
        ("macos", {"Contents/MacOS/firefox"}, "Contents/MacOS/firefox"),
        ("macos", {"Firefox.app/Contents/MacOS/firefox"}, "Firefox.app/Contents/MacOS/firefox"),
        ("macos", {"firefox"}, None),
    ],
)
def test_pick_executable(platform, present, expected):
    """The first present of the platform's candidates starts Firefox."""
    assert pick_executable(present, platform) == expected


def test_unknown_platform_is_refused():
    """A platform name outside layout.PLATFORMS is a ValueError naming it."""
    with pytest.raises(ValueError, match="'beos'"):
        pick_executable({"firefox"}, "beos")


@pytest.mark.parametrize(
    ("platform", "runs", "noexec", "mode"),
    [
        ("linux", True, False, "in place"),
        ("linux", False, False, "shadow"),
        ("linux", False, True, "refuse"),
        ("windows", False, False, "in place"),
        ("windows", False, True, "in place"),
        ("macos", False, False, "in place"),
    ],
)
def test_start_mode(platform, runs, noexec, mode):
    """Only Linux shadows a program it cannot execute; a noexec mount is refused."""
    assert start_mode(platform, runs_in_place=runs, noexec_mount=noexec) == mode


# --- the shadow directory, on a small fake Firefox ----------------------------------------
PROGRAMS = {"firefox-esr": elf(size=3000), "glxtest": elf(e_type=2, p_types=(1,), size=700)}


def fake_firefox(directory: Path, mode: int = 0o644) -> Path:
    """A Firefox-shaped directory: two programs, a library, data, folders; all ``mode``."""
    directory.mkdir(parents=True)
    for name, data in PROGRAMS.items():
        (directory / name).write_bytes(data)
    (directory / "libxul.so").write_bytes(elf(e_type=3, p_types=(1, 2), size=5000))
    (directory / "omni.ja").write_bytes(b"PK" + b"x" * 100)
    (directory / "run.sh").write_text("#!/bin/sh\n")
    (directory / "distribution").mkdir()
    (directory / "distribution" / "policies.json").write_text('{"policies": {}}')
    (directory / "browser").mkdir()
    for path in directory.rglob("*"):
        if path.is_file():
            path.chmod(mode)
    return directory


def snapshot(directory: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``directory``: (mode, size, mtime_ns), links not followed."""
    out = {}
    for path in sorted(directory.rglob("*")):
        info = path.lstat()
        out[str(path.relative_to(directory))] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return out


@pytest.fixture
def source(tmp_path):
    return fake_firefox(tmp_path / "key" / "firefox" / "linux")


@pytest.fixture
def scratch(tmp_path):
    return tmp_path / "host" / "scratch"


def test_non_executable_firefox_runs_from_a_shadow(source, scratch):
    """Programs are copied 0755, everything else linked to the original, args kept."""
    start = prepare_firefox(source, "linux", scratch=scratch, args=["--headless", "URL"])
    shadow = scratch / SHADOW_NAME
    assert start.argv == (str(shadow / "firefox-esr"), "--headless", "URL")
    assert (start.mode, start.shadow, start.built) == ("shadow", shadow, True)
    assert start.copied_bytes == sum(len(d) for d in PROGRAMS.values())
    for name, data in PROGRAMS.items():
        copy = shadow / name
        assert not copy.is_symlink()
        assert stat.S_IMODE(copy.stat().st_mode) == 0o755
        assert copy.read_bytes() == data
    for name in ("libxul.so", "omni.ja", "run.sh", "distribution", "browser"):
        assert (shadow / name).readlink() == source / name
    assert sorted(p.name for p in shadow.iterdir()) == sorted(
        [*PROGRAMS, "libxul.so", "omni.ja", "run.sh", "distribution", "browser", STAMP_NAME]
    )


def test_only_the_copies_are_written_and_nothing_into_firefox(source, scratch):
    """Under scratch the only files are the program copies and the stamp (small); the
    Firefox directory is untouched through a build, a reuse and a rebuild."""
    before = snapshot(source)
    prepare_firefox(source, "linux", scratch=scratch)
    prepare_firefox(source, "linux", scratch=scratch)
    (scratch / SHADOW_NAME / "glxtest").write_bytes(b"tampered")
    assert prepare_firefox(source, "linux", scratch=scratch).built
    assert snapshot(source) == before
    files = [p for p in scratch.rglob("*") if p.is_file() and not p.is_symlink()]
    assert sorted(p.name for p in files) == sorted([*PROGRAMS, STAMP_NAME])
    stamp = (scratch / SHADOW_NAME / STAMP_NAME).stat().st_size
    assert sum(p.stat().st_size for p in files) == 3000 + 700 + stamp
    assert stamp < 4096


def test_a_matching_shadow_is_reused(source, scratch):
    """The second start finds the shadow valid and copies nothing."""
    first = prepare_firefox(source, "linux", scratch=scratch)
    inode = (scratch / SHADOW_NAME / "firefox-esr").stat().st_ino
    second = prepare_firefox(source, "linux", scratch=scratch)
    assert (first.built, second.built) == (True, False)
    assert second.argv == first.argv
    assert (scratch / SHADOW_NAME / "firefox-esr").stat().st_ino == inode


def _same_size_new_program(source, shadow):
    data = bytearray((source / "firefox-esr").read_bytes())
    data[-1] ^= 1
    (source / "firefox-esr").write_bytes(bytes(data))


def _copy_tampered(source, shadow):
    (shadow / "firefox-esr").write_bytes(b"\0" * 3000)


def _copy_made_non_executable(source, shadow):
    (shadow / "glxtest").chmod(0o644)


def _link_retargeted(source, shadow):
    (shadow / "omni.ja").unlink()
    (shadow / "omni.ja").symlink_to(source.parent / "omni.ja")


def _extra_file_in_shadow(source, shadow):
    (shadow / "libevil.so").write_bytes(b"x")


def _new_file_in_firefox(source, shadow):
    (source / "libnew.so").write_bytes(elf(e_type=3, p_types=(1,)))


def _stamp_missing(source, shadow):
    (shadow / STAMP_NAME).unlink()


def _shadow_is_a_link(source, shadow):
    real = shadow.parent / "elsewhere"
    shadow.rename(real)
    shadow.symlink_to(real)


@pytest.mark.parametrize(
    "change",
    [
        _same_size_new_program,
        _copy_tampered,
        _copy_made_non_executable,
        _link_retargeted,
        _extra_file_in_shadow,
        _new_file_in_firefox,
        _stamp_missing,
        _shadow_is_a_link,
    ],
)
def test_a_shadow_that_no_longer_matches_is_rebuilt(change, source, scratch):
    """Any difference between the shadow and the Firefox directory rebuilds it, correct."""
    prepare_firefox(source, "linux", scratch=scratch)
    change(source, scratch / SHADOW_NAME)
    start = prepare_firefox(source, "linux", scratch=scratch)
    assert start.built
    shadow = scratch / SHADOW_NAME
    assert not shadow.is_symlink()
    assert (shadow / "firefox-esr").read_bytes() == (source / "firefox-esr").read_bytes()
    assert not prepare_firefox(source, "linux", scratch=scratch).built
    assert [p.name for p in scratch.iterdir() if p.name.startswith(".firefox-shadow.")] == []


def test_another_firefox_directory_rebuilds(source, scratch, tmp_path):
    """The stamp names its source: the same files elsewhere (the other slot) rebuild."""
    prepare_firefox(source, "linux", scratch=scratch)
    other = fake_firefox(tmp_path / "slot-b" / "firefox" / "linux")
    start = prepare_firefox(other, "linux", scratch=scratch)
    assert start.built
    assert (scratch / SHADOW_NAME / "omni.ja").readlink() == other / "omni.ja"


def test_a_failed_rebuild_keeps_the_previous_shadow(source, scratch, monkeypatch):
    """A rebuild that fails midway leaves the previous shadow whole and no temporary one."""
    prepare_firefox(source, "linux", scratch=scratch)
    before = snapshot(scratch)
    _same_size_new_program(source, None)
    copied, real_copy = [], browser._copy

    def failing_copy(src, dst):
        if copied:
            raise OSError(28, "No space left on device")
        copied.append(dst)
        return real_copy(src, dst)

    monkeypatch.setattr(browser, "_copy", failing_copy)
    with pytest.raises(OSError, match="No space"):
        prepare_firefox(source, "linux", scratch=scratch)
    assert copied  # the build had started
    assert snapshot(scratch) == before


def test_leftovers_of_a_killed_build_are_removed(source, scratch):
    """Temporary shadows left by a killed start are cleared at the next build."""
    leftover = scratch / ".firefox-shadow.new-0123"
    leftover.mkdir(parents=True)
    (leftover / "firefox-esr").write_bytes(b"half")
    prepare_firefox(source, "linux", scratch=scratch)
    assert sorted(p.name for p in scratch.iterdir()) == [SHADOW_NAME]


def test_programs_over_the_limit_are_refused_before_anything_is_written(source, scratch):
    """More program bytes than the limit: FirefoxStartError naming them, scratch untouched."""
    with pytest.raises(FirefoxStartError, match="3700 bytes, more than the 3000"):
        prepare_firefox(source, "linux", scratch=scratch, limit=3000)
    assert not scratch.exists()


def test_executable_firefox_runs_in_place_and_writes_nothing(tmp_path, scratch):
    """A Firefox whose program can be executed (CD-ROM, host install) runs where it is."""
    directory = fake_firefox(tmp_path / "cd" / "firefox" / "linux", mode=0o755)
    start = prepare_firefox(directory, "linux", scratch=scratch, args=["-v"])
    assert start.argv == (str(directory / "firefox-esr"), "-v")
    assert (start.mode, start.shadow, start.built) == ("in place", None, False)
    assert not scratch.exists()


@pytest.mark.parametrize(
    ("platform", "program"),
    [
        ("windows", "firefox.exe"),
        ("macos", "Contents/MacOS/firefox"),
        ("macos", "Firefox.app/Contents/MacOS/firefox"),
    ],
)
def test_windows_and_macos_run_in_place_without_exec_bits(platform, program, tmp_path, scratch):
    """Windows (no exec bits) and macOS (msdos shows them set) run Firefox in place."""
    directory = tmp_path / "firefox" / platform
    (directory / program).parent.mkdir(parents=True)
    (directory / program).write_bytes(b"MZ" if platform == "windows" else b"\xcf\xfa\xed\xfe")
    (directory / program).chmod(0o644)
    argv = firefox_command(directory, platform, scratch=scratch, args=["--no-remote"])
    waits = ["-wait-for-browser"] if platform == "windows" else []  # its launcher process
    assert argv == [str(directory / program), *waits, "--no-remote"]
    assert not scratch.exists()


def test_bundled_libraries_go_first_on_the_library_path_of_firefox_alone(tmp_path, scratch):
    """A Firefox with bundled-libs/: its process's environment has that directory first on
    LD_LIBRARY_PATH, the host's value after it; the caller's environment is untouched."""
    directory = fake_firefox(tmp_path / "cd" / "firefox" / "linux", mode=0o755)
    (directory / BUNDLED_LIBS_DIR).mkdir()
    environ = {"PATH": "/usr/bin", LIBRARY_PATH: "/opt/host/lib"}
    before = dict(os.environ)
    start = prepare_firefox(directory, "linux", scratch=scratch, environ=environ)
    libs = str(directory.resolve() / BUNDLED_LIBS_DIR)
    assert start.env == {"PATH": "/usr/bin", LIBRARY_PATH: f"{libs}:/opt/host/lib"}
    assert environ == {"PATH": "/usr/bin", LIBRARY_PATH: "/opt/host/lib"}
    assert dict(os.environ) == before
    alone = prepare_firefox(directory, "linux", scratch=scratch, environ={"PATH": "/usr/bin"})
    assert alone.env[LIBRARY_PATH] == libs


def test_without_bundled_libraries_the_environment_is_the_callers(tmp_path, scratch):
    """No bundled-libs/ (Mozilla's tarball, an older image): the environment unchanged;
    None: this process's own."""
    directory = fake_firefox(tmp_path / "cd" / "firefox" / "linux", mode=0o755)
    environ = {"PATH": "/usr/bin", LIBRARY_PATH: "/opt/host/lib"}
    start = prepare_firefox(directory, "linux", scratch=scratch, environ=environ)
    assert start.env == environ
    assert prepare_firefox(directory, "linux", scratch=scratch).env == dict(os.environ)


@pytest.mark.parametrize(
    ("platform", "libraries", "current", "expected"),
    [
        ("linux", "/key/libs", None, "/key/libs"),
        ("linux", "/key/libs", "", "/key/libs"),
        ("linux", "/key/libs", "/a:/b", "/key/libs:/a:/b"),
        ("linux", None, "/a", "/a"),
        ("windows", "/key/libs", "/a", "/a"),
        ("macos", "/key/libs", None, None),
    ],
)
def test_firefox_environment(platform, libraries, current, expected):
    """Only Linux, only with a libraries directory, the key's first (pure)."""
    environ = {"HOME": "/home/u"} | ({LIBRARY_PATH: current} if current is not None else {})
    env = firefox_environment(environ, platform, libraries)
    assert env.get(LIBRARY_PATH) == expected
    assert env["HOME"] == "/home/u"


def test_bundled_libraries_under_a_path_with_a_colon_are_refused(tmp_path, scratch):
    """LD_LIBRARY_PATH cannot name a directory whose path holds ':': said, with the fix."""
    directory = fake_firefox(tmp_path / "KEY:1" / "firefox" / "linux", mode=0o755)
    (directory / BUNDLED_LIBS_DIR).mkdir()
    with pytest.raises(FirefoxStartError, match="without ':'"):
        prepare_firefox(directory, "linux", scratch=scratch)


def test_no_firefox_is_an_error_naming_the_candidates(tmp_path, scratch):
    """A directory without a Firefox program says which names were looked for."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(FirefoxStartError, match="firefox, firefox-esr, firefox-bin"):
        prepare_firefox(tmp_path / "empty", "linux", scratch=scratch)


def test_a_program_that_is_not_elf_is_refused(source, scratch):
    """A non-ELF ``firefox`` cannot be shadowed: refused, not linked and left to fail."""
    (source / "firefox").write_text("#!/bin/sh\n")
    with pytest.raises(FirefoxStartError, match="not an ELF program"):
        prepare_firefox(source, "linux", scratch=scratch)


def test_a_noexec_firefox_mount_is_refused(source, scratch, monkeypatch):
    """On a noexec mount the libraries cannot be mapped either: refused, nothing copied."""
    monkeypatch.setattr(browser, "_noexec", lambda _directory: True)
    with pytest.raises(FirefoxStartError, match="mounted noexec"):
        prepare_firefox(source, "linux", scratch=scratch)
    assert not scratch.exists()


def test_a_scratch_that_cannot_run_programs_is_reported(source, scratch, monkeypatch):
    """Copies that still cannot be executed (a noexec scratch) name the scratch directory."""
    real = browser._runs_in_place
    monkeypatch.setattr(
        browser, "_runs_in_place", lambda p: False if scratch in p.parents else real(p)
    )
    with pytest.raises(FirefoxStartError, match="must be on a file system that lets"):
        prepare_firefox(source, "linux", scratch=scratch)


# --- the real thing -----------------------------------------------------------------------
DEADLINE = 60.0
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"  # noqa: E501
POLICIES = """{"policies": {"Preferences": {
    "intl.accept_languages": {"Value": "x-esecure", "Status": "locked"}}}}"""
PAGE = b"""<!doctype html><html><body><h1>e-secure</h1>
<script>document.write('<img src="/from-script.gif">');</script></body></html>"""


class Site(http.server.BaseHTTPRequestHandler):
    """The page, and the image its script asks for (slow, so the content process that ran
    the script is still alive while the test looks at it); records each request's path
    and Accept-Language."""

    seen: list[tuple[str, str | None]]

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Accept-Language")))
        if self.path == "/from-script.gif":
            time.sleep(1.0)
            body, kind = GIF, "image/gif"
        else:
            body, kind = PAGE, "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def site_server() -> Iterator[str]:
    """The test site served on 127.0.0.1 (what it saw emptied first); yields its URL."""
    Site.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def _children(session: int) -> dict[int, tuple[str, str]]:
    """Processes of ``session``: pid -> (exe, command line)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != session:
                continue
            exe = str((entry / "exe").readlink())
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        out[int(entry.name)] = (exe, cmdline)
    return out


@pytest.fixture
def showexec_firefox(tmp_path):
    """Debian's firefox-esr copied (``cp -rL``) with the key's policies, every file 0644 and
    every folder 0755: what a showexec FAT mount shows of an installed update (295 MB,
    removed after the test)."""
    firefox = tmp_path / "data" / "slots" / "A" / "firefox" / "linux"
    firefox.parent.mkdir(parents=True)
    subprocess.run(["cp", "-rL", str(DEBIAN_FIREFOX), str(firefox)], check=True, timeout=120)
    (firefox / "distribution" / "policies.json").write_text(POLICIES)
    for path in [firefox, *firefox.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield firefox
    shutil.rmtree(firefox)


def _run_watched(argv: tuple[str, ...], home: Path) -> tuple[int, str, dict]:
    """Run Firefox (bounded by DEADLINE, its whole session killed after it), watching its
    processes: (exit status, end of stderr, pid -> (exe, command line) of all seen)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "TMPDIR": str(home),
        "MOZ_HEADLESS": "1",
        "MOZ_CRASHREPORTER_DISABLE": "1",
    }
    seen: dict[int, tuple[str, str]] = {}
    with (
        (home / "stderr").open("wb") as err,
        subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        ) as proc,
    ):
        deadline = time.monotonic() + DEADLINE
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                seen.update(_children(proc.pid))
                time.sleep(0.05)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    return proc.returncode, (home / "stderr").read_text(errors="replace")[-2000:], seen


@pytest.mark.slow
@needs_firefox
def test_firefox_without_exec_bits_starts_and_its_content_process_runs(showexec_firefox, tmp_path):
    """Debian's firefox-esr with no exec bits (showexec) cannot be executed in place;
    started through its shadow it applies the key's policies (read through the shadow's
    link to distribution/) and loads a page whose script (run only in a content process,
    itself started from the shadow's copy) fetches an image."""
    firefox = showexec_firefox
    with pytest.raises(PermissionError):
        subprocess.run([firefox / "firefox-esr", "--version"], check=False, timeout=30)
    before = snapshot(firefox)
    home, profile, shot = tmp_path / "home", tmp_path / "profile", tmp_path / "shot.png"
    home.mkdir()
    profile.mkdir()
    (profile / "user.js").write_text('user_pref("browser.shell.checkDefaultBrowser", false);\n')
    scratch = tmp_path / "host-cache"
    with site_server() as url:
        args = ["--headless", "--no-remote", "--profile", str(profile), "--screenshot"]
        start = prepare_firefox(firefox, "linux", scratch=scratch, args=[*args, str(shot), url])
        assert start.mode == "shadow"
        status, stderr, seen = _run_watched(start.argv, home)

    assert status == 0, stderr
    assert ("/", "x-esecure") in Site.seen, Site.seen  # the page, under the key's policy
    assert "/from-script.gif" in dict(Site.seen), Site.seen  # the page's script ran
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    content = {exe for exe, cmdline in seen.values() if "-contentproc" in cmdline}
    assert content == {str(scratch / SHADOW_NAME / "firefox-esr")}, seen
    assert snapshot(firefox) == before  # nothing written into the Firefox directory
    copies = [p for p in scratch.rglob("*") if p.is_file() and not p.is_symlink()]
    assert sum(p.stat().st_size for p in copies) < 16 * 1024 * 1024
