"""The exclude list: its table in docs/, and what each copy step leaves out."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from esecure.bundle import exclude
from esecure.bundle.firefox import copy_firefox, installation_files

ROOT = Path(__file__).resolve().parents[2]


def test_every_entry_is_in_the_documented_table():
    """docs/image-contents.md gives each entry of the one exclude list with its reason."""
    doc = (ROOT / "docs" / "image-contents.md").read_text(encoding="utf-8")
    for area, pattern, _platforms, _reason in exclude.entries():
        assert f"| {area} | `{pattern}` |" in doc, f"{area} {pattern} missing from the table"


def _fake_firefox(root: Path) -> Path:
    root.mkdir()
    (root / "firefox-esr").write_bytes(b"\x7fELF program")
    (root / "firefox-esr").chmod(0o755)
    (root / "firefox-bin").symlink_to("firefox-esr")  # Debian's second name
    for name in ("libxul.so", "omni.ja", "crashreporter", "crashhelper", "pingsender"):
        (root / name).write_bytes(name.encode())
    (root / "gmp-clearkey" / "0.1").mkdir(parents=True)
    (root / "gmp-clearkey" / "0.1" / "libclearkey.so").write_bytes(b"k")
    (root / "browser").mkdir()
    (root / "browser" / "omni.ja").write_bytes(b"b")
    return root


def test_firefox_copy_leaves_out_what_never_runs(tmp_path):
    """The crash reporter, crash helper, pingsender, ClearKey and the second name of the
    program the key starts are not copied; the program the key starts and the rest are,
    and each copied file's origin is returned."""
    source = _fake_firefox(tmp_path / "ff")
    copied = copy_firefox(source, tmp_path / "out", "linux")
    assert sorted(copied) == ["browser/omni.ja", "firefox-esr", "libxul.so", "omni.ja"]
    assert copied["firefox-esr"] == source / "firefox-esr"
    on_disk = sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    )
    assert on_disk == sorted(copied)


def test_a_different_second_program_is_kept(tmp_path):
    """firefox-bin is left out only when it is the same program as the one started."""
    source = _fake_firefox(tmp_path / "ff")
    (source / "firefox-bin").unlink()
    (source / "firefox-bin").write_bytes(b"another program")
    names = [p.name for p in installation_files(source, "linux")]
    assert "firefox-bin" in names
    assert "firefox-esr" in names


@pytest.mark.parametrize(
    ("rel", "excluded"),
    [
        ("securesystemslib/_vendor/ed25519/test_data/ed25519", True),
        ("certifi/tests/test_certify.py", True),
        ("bsdiff4/test_all.py", True),
        ("bsdiff4/__pycache__/test_all.cpython-311.pyc", True),
        ("backports/zstd/__init__.pyi", True),
        ("webview/lib/WebBrowserInterop.x64.dll", True),
        ("cryptography/hazmat/primitives/hashes.py", False),
        ("tuf/ngclient/updater.py", False),
        ("securesystemslib/_vendor/ed25519/ed25519.py", False),
    ],
)
def test_deps_exclusions(rel, excluded):
    """Tests and test data, type stubs and Windows DLLs leave lib/linux; code stays."""
    assert exclude.deps_excluded(rel, "linux") is excluded


def test_windows_lib_keeps_its_dlls():
    """pywebview's WebView2 DLLs run on Windows: only a Linux lib/ leaves them out."""
    assert not exclude.deps_excluded("webview/lib/Microsoft.Web.WebView2.Core.dll", "windows")


def test_frozen_stdlib_leaves_out_the_runtime_list():
    """build_scripts/stdlib_modules.py (what bootstrap.spec freezes) reads the same list."""
    spec = importlib.util.spec_from_file_location(
        "stdlib_modules", ROOT / "build_scripts" / "stdlib_modules.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frozen = set(module.stdlib_modules())
    for name, _reason in exclude.RUNTIME_MODULES:
        assert name not in frozen
        assert not any(m.startswith(f"{name}.") for m in frozen)
    assert {"json", "ssl", "ctypes", "sqlite3", "unittest"} <= frozen
