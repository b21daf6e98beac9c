"""The Windows freeze under Wine: its output, its reproducibility, and its refusals."""

from __future__ import annotations

import hashlib
import shutil
import struct
from pathlib import Path

import pytest
from tests.fake_runner import FakeRunner

from esecure._tools import Result, SubprocessRunner
from esecure.bundle import winfreeze
from esecure.bundle.wine import Prefix, cache_root
from esecure.bundle.winfreeze import check_psf_signatures, freeze_windows_launcher
from esecure.errors import IntegrityError, ToolError


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _pe_machine(path: Path) -> tuple[bytes, int]:
    data = path.read_bytes()
    (offset,) = struct.unpack_from("<I", data, 0x3C)
    (machine,) = struct.unpack_from("<H", data, offset + 4)
    return data[offset : offset + 4], machine


@pytest.mark.slow
def test_the_launcher_directory_is_complete(windows_launcher):
    """e-secure.exe is a PE32+ for x86-64; runtime-windows/ holds python311.dll and
    python3.dll (abi3 extensions need it); lib/windows/ holds the Windows wheels (the .NET
    bridge of pywebview, cryptography's .pyd), compiled, without e-secure's packages."""
    assert _pe_machine(windows_launcher / "e-secure.exe") == (b"PE\0\0", 0x8664)
    runtime = windows_launcher / "runtime-windows"
    assert (runtime / "python311.dll").is_file()
    assert (runtime / "python3.dll").is_file()
    lib = windows_launcher / "lib" / "windows"
    assert (lib / "cryptography" / "hazmat" / "bindings" / "_rust.pyd").is_file()
    assert (lib / "pythonnet").is_dir()
    assert list((lib / "cryptography" / "__pycache__").glob("__init__.cpython-311.pyc"))
    assert not (lib / "esecure").exists()
    assert not (lib / "esecure_onkey").exists()
    assert not list(lib.rglob("*.so"))


@pytest.mark.slow
def test_two_freezes_are_byte_identical(windows_launcher, windows_image):
    """The session's freeze and the one `esecure build` made for its image (same
    SOURCE_DATE_EPOCH, the cache reused) are the same bytes, file for file (e-secure.exe,
    signed in the image, in test_authenticode: signing the session's gives the image's)."""
    _built, cd = windows_image
    for part in ("runtime-windows", "lib/windows"):
        assert _tree(cd / part) == _tree(windows_launcher / part), part


def _cpython_copy(dest: Path) -> Path:
    """The checked binaries of the cached Windows CPython (made by the session's freeze)."""
    source = next((cache_root() / "wine").glob("prefix-*/drive_c/cpython"))
    dest.mkdir()
    for name in ("python311.dll", "python3.dll", "python.exe"):
        shutil.copyfile(source / name, dest / name)
    shutil.copytree(source / "DLLs", dest / "DLLs")
    return dest


@pytest.mark.slow
def test_attack_altered_cpython_binary_is_refused(windows_launcher, tmp_path):
    """One byte of the CPython's _ssl.pyd changed: its PSF signature no longer verifies and
    the freeze refuses that CPython (ES974), naming the file."""
    del windows_launcher  # the session's freeze filled the cache
    root = _cpython_copy(tmp_path / "cp311")
    pyd = root / "DLLs" / "_ssl.pyd"
    data = bytearray(pyd.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pyd.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as info:
        check_psf_signatures(root, SubprocessRunner())
    assert info.value.code == "ES974"
    assert "DLLs/_ssl.pyd of the Windows CPython has no valid Authenticode signature" in str(
        info.value
    )


@pytest.mark.slow
def test_attack_unsigned_cpython_binary_is_refused(windows_launcher, tmp_path):
    """python3.dll replaced by an unsigned PE (WinPython's own, unsigned .pyd): ES974."""
    del windows_launcher
    root = _cpython_copy(tmp_path / "cp311")
    unsigned = next((cache_root() / "wine").glob("prefix-*/drive_c/cpython/Lib/site-packages"))
    shutil.copyfile(next(unsigned.glob("msvc_runtime*.pyd")), root / "python3.dll")
    with pytest.raises(IntegrityError) as info:
        check_psf_signatures(root, SubprocessRunner())
    assert info.value.code == "ES974"
    assert "python3.dll of the Windows CPython" in str(info.value)


def test_attack_cpython_download_with_another_hash_is_refused(tmp_path, monkeypatch):
    """The cached CPython distribution is not the pinned one: ES974 before anything of it
    is unpacked or run; the message names the file and says to delete it."""
    cache = tmp_path / "cache" / "wine"
    downloads = cache / "downloads"
    downloads.mkdir(parents=True)
    (downloads / winfreeze.CPYTHON_SDIST).write_bytes(b"not the pinned CPython")
    monkeypatch.setenv("ESECURE_CACHE", str(tmp_path / "cache"))
    runner = FakeRunner()
    with pytest.raises(IntegrityError) as info:
        freeze_windows_launcher(tmp_path / "out", launcher_name="e-secure", epoch=0, runner=runner)
    assert info.value.code == "ES974"
    assert f"{downloads / winfreeze.CPYTHON_SDIST} has sha256" in str(info.value)
    assert not (tmp_path / "out").exists()
    assert not list(cache.glob("prefix-*/drive_c/cpython"))
    assert [c.args for c in runner.calls if c.tool == "wine"] == [("wineboot", "-i")]


def test_missing_wine_is_es919_with_the_install_command(tmp_path):
    """No Wine on the machine: ES919 naming wine, what needs it and the install command;
    nothing written."""
    runner = FakeRunner(absent=frozenset({"wine"}))
    with pytest.raises(ToolError) as info:
        freeze_windows_launcher(
            tmp_path / "out", launcher_name="e-secure", epoch=0, runner=runner, cache=tmp_path
        )
    assert info.value.code == "ES919"
    assert info.value.detail == (
        "wine is not installed, and freezing the Windows launcher needs it: install it with "
        "`sudo apt-get install --no-install-recommends wine wine64`"
    )
    assert not (tmp_path / "out").exists()


def test_a_failing_step_is_es970_naming_the_step_and_its_fix(tmp_path):
    """wineboot fails: ES973 names the step ('Wine prefix'), Wine's last lines, the fix."""
    runner = FakeRunner(
        answer=lambda _tool, _args: Result(1, "", "wine: could not load kernel32.dll\n")
    )
    with pytest.raises(ToolError) as info:
        freeze_windows_launcher(
            tmp_path / "out", launcher_name="e-secure", epoch=0, runner=runner, cache=tmp_path
        )
    assert info.value.code == "ES973"
    assert info.value.detail == (
        "Windows freeze, step 'Wine prefix': wine failed (exit 1): wine: could not load "
        "kernel32.dll. Fix: run build_scripts/install-system-deps.sh (Wine)"
    )


def test_linux_paths_seen_from_windows():
    """Drive Z: is the Linux root in every prefix."""
    assert Prefix.windows_path(Path("/srv/a b/c.spec")) == "Z:\\srv\\a b\\c.spec"
