"""ISO writing: identifiers, limits, reproducibility, and readback by pycdlib and xorriso."""

from __future__ import annotations

import filecmp
import io
import re
import subprocess
from pathlib import Path

import pycdlib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esecure.bundle.iso import plan_iso, write_iso
from esecure.errors import UsageError

EPOCH = 1_700_000_000

TREE = {
    "autorun.inf": b"[autorun]\r\nopen=e-secure.exe\r\n",
    "e-secure": b"\x7fELF launcher",
    "guide/Guide d'utilisation élève.html": "<p>é</p>".encode(),
    "firefox/linux/libxul.so": b"\0" * 5000,
    "firefox/linux/distribution/policies.json": b"{}",
    "lib/linux/a.b.c.d.py": b"x = 1\n",
    "lib/linux/A-B-C-D.PY": b"y = 2\n",
}


def _make(root: Path, tree: dict[str, bytes]) -> list[str]:
    for name, data in tree.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return sorted(tree)


@pytest.fixture
def iso(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    files = _make(root, TREE)
    out = tmp_path / "cd.iso"
    plan = plan_iso(files, frozenset({"e-secure"}))
    write_iso(root, out, plan, volume_label="E_SECURE", epoch=EPOCH)
    return out


def test_identifiers_are_iso9660_and_unique():
    """Names map to A-Z, 0-9, _ with a version; clashing names get distinct identifiers."""
    plan = plan_iso(sorted(TREE))
    idents = {e.path: e.iso_path for e in plan.entries}
    assert idents["e-secure"] == "/E_SECURE.;1"
    assert idents["lib/linux/A-B-C-D.PY"] != idents["lib/linux/a.b.c.d.py"]
    assert {idents["lib/linux/A-B-C-D.PY"], idents["lib/linux/a.b.c.d.py"]} == {
        "/LIB/LINUX/A_B_C_D.PY;1",
        "/LIB/LINUX/A_B_C_D_1.PY;1",
    }


def test_directories_come_before_their_files():
    """Parents are planned before children (pycdlib needs them to exist)."""
    plan = plan_iso(sorted(TREE))
    order = [e.path for e in plan.entries]
    assert (
        order.index("firefox")
        < order.index("firefox/linux")
        < order.index("firefox/linux/libxul.so")
    )


def test_joliet_name_too_long_is_an_error():
    """A 65-character name is refused with ES911 naming it, never truncated."""
    name = "guide/" + "a" * 61 + ".pdf"
    with pytest.raises(UsageError, match="65 characters") as info:
        plan_iso([name])
    assert info.value.code == "ES911"
    assert name in str(info.value)


def test_joliet_limit_counts_utf8_bytes_too():
    """40 accented letters are 80 UTF-8 bytes: refused, since pycdlib counts bytes."""
    with pytest.raises(UsageError, match="80 UTF-8 bytes"):
        plan_iso(["é" * 40])


def test_path_too_deep_is_an_error():
    """Eight directories below the root is refused with ES912; seven is fine."""
    plan_iso(["/".join("abcdefg") + "/f"])
    with pytest.raises(UsageError, match="8 directories deep") as info:
        plan_iso(["/".join("abcdefgh") + "/f"])
    assert info.value.code == "ES912"


def test_same_tree_same_bytes(tmp_path, iso):
    """Writing the same tree again (other directory, later) gives identical bytes."""
    root = tmp_path / "again"
    files = _make(root, TREE)
    out = tmp_path / "again.iso"
    write_iso(
        root, out, plan_iso(files, frozenset({"e-secure"})), volume_label="E_SECURE", epoch=EPOCH
    )
    assert out.read_bytes() == iso.read_bytes()


def test_pycdlib_reads_back_joliet_and_rock_ridge(iso):
    """Both trees hold every file with its real name and bytes, and the volume label."""
    reader = pycdlib.PyCdlib()
    reader.open(str(iso))
    try:
        assert reader.pvd.volume_identifier.rstrip() == b"E_SECURE"
        for name, data in TREE.items():
            for kwargs in ({"joliet_path": "/" + name}, {"rr_path": "/" + name}):
                buf = io.BytesIO()
                reader.get_file_from_iso_fp(buf, **kwargs)
                assert buf.getvalue() == data, (name, kwargs)
        record = reader.get_record(rr_path="/e-secure")
        assert record.rock_ridge.get_file_mode() == 0o100555
    finally:
        reader.close()


def test_xorriso_extracts_the_same_tree(tmp_path, iso):
    """xorriso, an independent reader, extracts the Rock Ridge tree byte for byte."""
    out = tmp_path / "x"
    proc = subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    src = tmp_path / "tree"
    cmp = filecmp.dircmp(src, out)
    assert not cmp.left_only and not cmp.right_only
    for name in TREE:
        assert (out / name).read_bytes() == (src / name).read_bytes()
    assert (out / "e-secure").stat().st_mode & 0o111
    pvd = subprocess.run(
        ["xorriso", "-indev", str(iso), "-pvd_info"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Volume Id    : E_SECURE" in pvd.stdout


def test_xorriso_lists_the_joliet_tree(iso):
    """With Rock Ridge ignored, xorriso sees the long Joliet names (what Windows shows)."""
    proc = subprocess.run(
        ["xorriso", "-rockridge", "off", "-indev", str(iso), "-ls", "/guide/"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "utilisation élève.html" in proc.stdout


_NAME = st.text(alphabet="abcABC019.-_ é~", min_size=1, max_size=40).filter(
    lambda n: n not in (".", "..") and n.strip() == n and "/" not in n
)


@settings(max_examples=200, deadline=None)
@given(st.sets(_NAME, min_size=1, max_size=30))
def test_identifiers_stay_valid_and_distinct(names):
    """Any set of names in one folder maps to distinct, valid ISO 9660 identifiers."""
    plan = plan_iso([f"d/{n}" for n in names])
    files = [e.iso_path.rsplit("/", 1)[1] for e in plan.entries if not e.is_dir]
    assert len(set(files)) == len(files) == len(names)
    for ident in files:
        stem_ext, _, version = ident.partition(";")
        stem, _, ext = stem_ext.partition(".")
        assert version == "1"
        assert re.fullmatch(r"[A-Z0-9_]*", stem + ext)
        assert len(stem) > 0 and len(stem) + len(ext) <= 30
