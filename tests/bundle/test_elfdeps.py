"""The ELF dynamic-section reader and the library plan, on Debian's real Firefox files:
``readelf`` (binutils) is the independent reader they are checked against."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from esecure.bundle import elfdeps
from esecure.demo.images import FIREFOX
from esecure.errors import UsageError
from esecure_onkey.layout import BUNDLED_LIBS_DIR

needs_firefox = pytest.mark.skipif(not FIREFOX.is_dir(), reason="firefox-esr is not installed")
LIBDIR = Path("/usr/lib/x86_64-linux-gnu")


def _readelf(path: Path, flag: str) -> str:
    return subprocess.run(
        ["readelf", flag, "-W", str(path)], capture_output=True, text=True, timeout=60, check=True
    ).stdout


@needs_firefox
def test_needed_and_soname_match_readelf_for_every_firefox_file():
    """Every ELF file of Debian's Firefox: the same DT_NEEDED list, in order, and SONAME."""
    files = list(elfdeps.elf_files(FIREFOX))
    assert len(files) > 10
    for path, info in files:
        dynamic = _readelf(path, "-d")
        assert list(info.needed) == re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)
        soname = re.findall(r"\(SONAME\)\s+Library soname: \[(.+?)\]", dynamic)
        assert info.soname == (soname[0] if soname else None)


@needs_firefox
def test_symbol_versions_match_readelf():
    """The versions libxul.so needs from each library (.gnu.version_r) are readelf's."""
    path = FIREFOX / "libxul.so"
    info = elfdeps.read_dynamic(path)
    assert info is not None
    text = _readelf(path, "-V")
    section = text.split("'.gnu.version_r'", 1)[1]
    names = set(re.findall(r"Name: (\S+)\s+Flags", section))
    assert {n for versions in info.versions.values() for n in versions} == names
    assert "libc.so.6" in info.versions
    assert any(v.startswith("GLIBC_2.") for v in info.versions["libc.so.6"])


@needs_firefox
def test_minimum_glibc_is_the_highest_version_readelf_shows():
    """minimum_host's glibc is the highest GLIBC_x.y any file of the tree needs."""
    highest = (0,)
    for path in FIREFOX.rglob("*"):
        if path.is_file() and path.read_bytes()[:4] == b"\x7fELF":
            for version in re.findall(r"Name: GLIBC_([0-9.]+)", _readelf(path, "-V")):
                highest = max(highest, elfdeps.version_key(version))
    minimum = elfdeps.minimum_host([FIREFOX])
    assert minimum.glibc is not None
    assert elfdeps.version_key(minimum.glibc) == highest
    assert minimum.gtk3
    assert "libgtk-3.so.0" in minimum.host_libraries


def test_not_elf_and_truncated_elf(tmp_path):
    """A text file is not ELF (None); an ELF cut short is ElfError naming the file."""
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert elfdeps.read_dynamic(text) is None
    cut = tmp_path / "libcut.so"
    cut.write_bytes((LIBDIR / "libc.so.6").read_bytes()[:4096])
    with pytest.raises(elfdeps.ElfError, match=r"libcut\.so"):
        elfdeps.read_dynamic(cut)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("libc.so.6", "glibc"),
        ("ld-linux-x86-64.so.2", "glibc"),
        ("libpthread.so.0", "glibc"),
        ("libstdc++.so.6", "C++ runtime"),
        ("libX11-xcb.so.1", "X11 and Wayland"),
        ("libxcb-shm.so.0", "X11 and Wayland"),
        ("libwayland-client.so.0", "X11 and Wayland"),
        ("libgtk-3.so.0", "GTK 3 and its stack"),
        ("libpango-1.0.so.0", "GTK 3 and its stack"),
        ("libcairo-gobject.so.2", "GTK 3 and its stack"),
        ("libfreetype.so.6", "fonts"),
        ("libEGL.so.1", "GL and video"),
        ("libasound.so.2", "sound"),
        ("libdbus-1.so.3", "D-Bus"),
        ("libz.so.1", "zlib"),
        ("libvpx.so.7", None),
        ("libnspr4.so", None),
        ("libffi.so.8", None),
        ("libevent-2.1.so.7", None),
    ],
)
def test_host_families(name, family):
    """What comes from the host, and what the key carries (pure)."""
    found = elfdeps.host_family(name)
    assert (found.name if found else None) == family


def _firefox_like(tmp_path: Path) -> Path:
    """A directory with Debian Firefox's NSS (which needs NSPR by bare name)."""
    firefox = tmp_path / "firefox"
    firefox.mkdir()
    for name in ("libnss3.so", "libnssutil3.so"):
        shutil.copyfile(FIREFOX / name, firefox / name)
    return firefox


def _search(tmp_path: Path, names: list[str]) -> Path:
    search = tmp_path / "host-libs"
    search.mkdir()
    for name in names:
        shutil.copyfile(LIBDIR / name, search / name)
    return search


NSPR = ["libnspr4.so", "libplc4.so", "libplds4.so"]


@needs_firefox
def test_bundle_copies_nspr_beside_firefox(tmp_path):
    """NSS's NSPR is found in the search directories, copied into bundled-libs/ with its
    source and image path; libc stays the host's."""
    firefox = _firefox_like(tmp_path)
    search = _search(tmp_path, NSPR)
    plan = elfdeps.bundle_libraries(firefox, image_prefix="firefox/linux", search=[search])
    assert [b.name for b in plan.bundled] == NSPR
    for library in plan.bundled:
        assert library.source == search / library.name
        assert library.image_path == f"firefox/linux/{BUNDLED_LIBS_DIR}/{library.name}"
        copied = firefox / BUNDLED_LIBS_DIR / library.name
        assert copied.read_bytes() == (search / library.name).read_bytes()
        assert copied.stat().st_mode & 0o777 == 0o644
    assert plan.host["glibc"] == ("libc.so.6",)
    assert "libnss3.so" in plan.bundled[0].needed_by  # libnspr4.so
    assert plan.bundled_bytes == sum((search / n).stat().st_size for n in NSPR)


@needs_firefox
def test_unresolved_library_is_es927_naming_it_and_nothing_is_copied(tmp_path):
    """libplds4.so found nowhere: ES927 names it and the files that need it; no
    bundled-libs/ is written."""
    firefox = _firefox_like(tmp_path)
    search = _search(tmp_path, ["libnspr4.so", "libplc4.so"])
    with pytest.raises(UsageError) as info:
        elfdeps.bundle_libraries(firefox, image_prefix="firefox/linux", search=[search])
    assert info.value.code == "ES927"
    assert "libplds4.so (needed by libnss3.so, libnssutil3.so)" in info.value.detail
    assert not (firefox / BUNDLED_LIBS_DIR).exists()


@needs_firefox
def test_a_library_of_another_machine_is_passed_over(tmp_path):
    """A libnspr4.so for another machine (e_machine patched) earlier in the search is not
    taken: the loader would not take it either."""
    firefox = _firefox_like(tmp_path)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    data = bytearray((LIBDIR / "libnspr4.so").read_bytes())
    data[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    (foreign / "libnspr4.so").write_bytes(bytes(data))
    search = _search(tmp_path, NSPR)
    plan = elfdeps.plan_libraries(firefox, image_prefix="firefox/linux", search=[foreign, search])
    assert {b.name: b.source for b in plan.bundled}["libnspr4.so"] == search / "libnspr4.so"


def test_ld_so_conf_includes_are_followed(tmp_path):
    """ld.so.conf's directories, its include globs followed, before the standard ones."""
    (tmp_path / "conf.d").mkdir()
    extra = tmp_path / "extra-libs"
    extra.mkdir()
    (tmp_path / "conf.d" / "x.conf").write_text(f"# comment\n{extra}\n")
    conf = tmp_path / "ld.so.conf"
    conf.write_text("include conf.d/*.conf\n")
    dirs = elfdeps.host_search_dirs(62, conf)
    assert dirs[0] == extra
    assert Path("/usr/lib/x86_64-linux-gnu") in dirs


def test_version_key_compares_numbers():
    """2.4 < 2.34 < 2.36 (pure)."""
    assert elfdeps.version_key("2.4") < elfdeps.version_key("2.34") < elfdeps.version_key("2.36")
