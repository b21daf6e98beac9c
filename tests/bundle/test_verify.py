"""`esecure verify` on small hand-made images: every view of an ISO, and odd trees."""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pycdlib
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.bundle import release
from esecure.bundle.iso import plan_iso
from esecure.bundle.manifest import (
    MANIFEST_NAME,
    PUBLIC_KEY_PATH,
    SIGNATURE_NAME,
    FileEntry,
    Observed,
    encode_manifest,
    sign_manifest,
)
from esecure.bundle.verify import compare_views, verify_image
from esecure.errors import EsecureError
from esecure_onkey.layout import CD_RELEASE, CD_RELEASE_SIG

KEY = ed25519.Ed25519PrivateKey.generate()
PUB = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
GENUINE = b"genuine launcher\n"
EVIL = b"EVIL launcher!!!\n"  # same length: only the data differs


def _sign(data: bytes) -> bytes:
    return sign_manifest(data, KEY)


def _entries(files: dict[str, bytes]) -> list[FileEntry]:
    return [FileEntry(p, len(d), hashlib.sha256(d).hexdigest()) for p, d in files.items()]


def _manifest(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` plus the manifest and its signature."""
    data = encode_manifest("p", "1.0", _entries(files))
    return {**files, MANIFEST_NAME: data, SIGNATURE_NAME: _sign(data)}


def _signed(files: dict[str, bytes], platforms: tuple[str, ...] = ("windows",)) -> dict[str, bytes]:
    """``files`` plus the release (component lists, release.json) and the manifest, as
    `esecure build` signs them."""
    extra = release.release_files("p", "1.0", _entries(files), platforms, _sign)
    return _manifest({**files, **extra})


FILES = _signed({"e-secure.exe": GENUINE, PUBLIC_KEY_PATH: PUB, "trust/ca.pem": b"ca\n"})
COUNT = len(FILES) - 2  # every file but the manifest and its signature


def _write_iso(
    out: Path,
    files: dict[str, bytes],
    *,
    rock_ridge: bool = True,
    tamper: Callable[[Any], None] | None = None,
) -> Path:
    """An ISO laid out as `esecure build` does (RR + Joliet names over one ISO 9660 tree)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09" if rock_ridge else None)
    keep = []
    for entry in plan_iso(sorted(files)).entries:
        name = entry.path.rpartition("/")[2] if rock_ridge else None
        if entry.is_dir:
            iso.add_directory(entry.iso_path, rr_name=name, joliet_path=f"/{entry.path}")
            continue
        fp = io.BytesIO(files[entry.path])
        keep.append(fp)
        iso.add_fp(
            fp, len(files[entry.path]), entry.iso_path, rr_name=name, joliet_path=f"/{entry.path}"
        )
    if tamper is not None:
        tamper(iso)
    iso.write(str(out))
    iso.close()
    return out


def _refused(image: Path) -> EsecureError:
    with pytest.raises(EsecureError) as info:
        verify_image(image, PUB)
    return info.value


def test_clean_iso_passes(tmp_path):
    """An ISO whose three views agree verifies."""
    result = verify_image(_write_iso(tmp_path / "ok.iso", FILES), PUB)
    assert (result.product, result.files) == ("p", COUNT)


def test_attack_joliet_view_holds_other_data(tmp_path):
    """Rock Ridge /e-secure.exe genuine, Joliet /e-secure.exe EVIL: ES915 naming it."""
    files = {k: v for k, v in FILES.items() if k != "e-secure.exe"}

    def plant(iso: Any) -> None:
        iso.add_fp(io.BytesIO(GENUINE), len(GENUINE), "/E_SECURE.EXE;1", rr_name="e-secure.exe")
        iso.add_fp(io.BytesIO(EVIL), len(EVIL), "/EVIL.EXE;1", rr_name="evil.exe")
        iso.add_hard_link(iso_old_path="/EVIL.EXE;1", joliet_new_path="/e-secure.exe")
        iso.rm_hard_link(iso_path="/EVIL.EXE;1")  # only Joliet still names the evil data

    image = _write_iso(tmp_path / "evil.iso", files, tamper=plant)
    check = pycdlib.PyCdlib()
    check.open(str(image))
    seen = io.BytesIO()
    check.get_file_from_iso_fp(seen, joliet_path="/e-secure.exe")
    check.close()
    assert seen.getvalue() == EVIL  # the attack is real: Windows would run this
    error = _refused(image)
    assert error.code == "ES915"
    assert "e-secure.exe: the Joliet (Windows) view holds other data" in error.detail


def test_attack_file_only_in_joliet(tmp_path):
    """A file Windows sees but Rock Ridge does not: ES915 naming it."""

    def plant(iso: Any) -> None:
        iso.add_fp(io.BytesIO(EVIL), len(EVIL), "/EXTRA.DLL;1", rr_name="extra.dll")
        iso.add_hard_link(iso_old_path="/EXTRA.DLL;1", joliet_new_path="/extra.dll")
        iso.rm_hard_link(iso_path="/EXTRA.DLL;1")

    error = _refused(_write_iso(tmp_path / "extra.iso", FILES, tamper=plant))
    assert error.code == "ES915"
    assert "extra.dll: only in the Joliet (Windows) view" in error.detail


def test_views_compare_plain_iso_orphans():
    """A plain ISO 9660 file pointing at data no named file has is reported (pure)."""
    named = {"a.txt": (30, 5)}
    out = compare_views(named, dict(named), {"A.TXT;1": (30, 5), "B.TXT;1": (31, 5)})
    assert [(m.path, m.problem) for m in out] == [("B.TXT;1", "unlisted")]


def test_views_agree_on_empty_files():
    """Two empty files may sit at different extents: no data, nothing to differ (pure)."""
    assert compare_views({"e": (0, 0)}, {"e": (40, 0)}, {"E.;1": (0, 0)}) == []


def test_iso_without_rock_ridge_is_es918(tmp_path):
    """An ISO with no Rock Ridge names: ES918 naming the file, not a generic error."""
    image = _write_iso(tmp_path / "plain.iso", FILES, rock_ridge=False)
    error = _refused(image)
    assert error.code == "ES918"
    assert str(image) in error.detail
    assert "Rock Ridge" in error.detail


def _tree(root: Path) -> Path:
    for path, data in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def test_clean_tree_passes(tmp_path):
    """An extracted tree matching its manifest verifies."""
    assert verify_image(_tree(tmp_path / "img"), PUB).files == COUNT


def test_attack_symlinked_directory(tmp_path):
    """A planted ``lib -> /outside`` directory link: ES915 naming it."""
    root = _tree(tmp_path / "img")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_bytes(EVIL)
    (root / "lib").symlink_to(outside, target_is_directory=True)
    error = _refused(root)
    assert error.code == "ES915"
    assert f"{root / 'lib'} is a symbolic link" in error.detail


def test_attack_fifo_is_refused_not_hashed(tmp_path):
    """A FIFO in the tree (would hang the hash): ES915 naming it."""
    root = _tree(tmp_path / "img")
    os.mkfifo(root / "trust" / "pipe")
    error = _refused(root)
    assert error.code == "ES915"
    assert f"{root / 'trust' / 'pipe'} is not a regular file or directory" in error.detail


def test_unreadable_tree_manifest_is_es918(tmp_path, monkeypatch):
    """An OS error reading the manifest of a tree: ES918 naming the file, no traceback."""
    root = _tree(tmp_path / "img")
    real = Path.read_bytes

    def failing(self: Path) -> bytes:
        if self.name == MANIFEST_NAME:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", failing)
    error = _refused(root)
    assert error.code == "ES918"
    assert f"{root / MANIFEST_NAME}: cannot be read" in error.detail


def test_unreadable_tree_file_is_named(tmp_path, monkeypatch):
    """An OS error hashing a listed file: ES915 naming it as unreadable."""
    root = _tree(tmp_path / "img")
    from esecure.bundle import verify  # noqa: PLC0415

    real = verify.hash_file

    def failing(path: Path) -> str:
        if path.name == "ca.pem":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(verify, "hash_file", failing)
    error = _refused(root)
    assert error.code == "ES915"
    assert "trust/ca.pem: cannot be opened (Permission denied)" in error.detail


def test_iso_written_by_the_build_passes(tmp_path):
    """The build's own ISO writer (empty file, nested directories) yields agreeing views."""
    from esecure.bundle.iso import plan_iso, write_iso  # noqa: PLC0415

    files = _signed(
        {
            "e-secure.exe": GENUINE,
            PUBLIC_KEY_PATH: PUB,
            "lib/linux/empty.txt": b"",
            "lib/linux/deeper/a-long-file-name.py": b"x = 1\n",
        },
        ("linux",),
    )
    root = tmp_path / "stage"
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    image = tmp_path / "cdrom.iso"
    write_iso(
        root,
        image,
        plan_iso(sorted(files), frozenset({"e-secure.exe"})),
        volume_label="TEST",
        epoch=1_700_000_000,
    )
    assert verify_image(image, PUB).files == len(files) - 2


def test_attack_rock_ridge_symlink(tmp_path):
    """A Rock Ridge symbolic link (Linux would follow it off the medium): ES915 naming it."""

    def plant(iso: Any) -> None:
        iso.add_symlink(symlink_path="/LINK.;1", rr_symlink_name="link", rr_path="/etc/passwd")

    error = _refused(_write_iso(tmp_path / "link.iso", FILES, tamper=plant))
    assert error.code == "ES915"
    assert "link is a symbolic link" in error.detail


def test_iso_with_udf_is_es918(tmp_path):
    """A UDF tree (Windows would read it instead of Joliet): ES918, not checked half-way."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", udf="2.60")
    for entry in plan_iso(sorted(FILES)).entries:
        if "/" not in entry.path and not entry.is_dir:
            data = FILES[entry.path]
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                entry.iso_path,
                rr_name=entry.path,
                joliet_path=f"/{entry.path}",
            )
    image = tmp_path / "udf.iso"
    iso.write(str(image))
    iso.close()
    error = _refused(image)
    assert error.code == "ES918"
    assert "UDF" in error.detail


def test_attack_second_joliet_record_of_the_same_name(tmp_path):
    """Two Joliet records named e-secure.exe (a reader takes either): ES915 naming it."""

    def plant(iso: Any) -> None:
        iso.add_fp(io.BytesIO(EVIL), len(EVIL), "/EVIL.EXE;1", rr_name="evil.exe")
        iso.add_hard_link(iso_old_path="/EVIL.EXE;1", joliet_new_path="/e-secure.exe")
        iso.rm_hard_link(iso_path="/EVIL.EXE;1")

    error = _refused(_write_iso(tmp_path / "twice.iso", FILES, tamper=plant))
    assert error.code == "ES915"
    assert "e-secure.exe has several extents or several records" in error.detail


# --- the image's release: release.json and each component's list ---------------------------


def _tree_of(root: Path, files: dict[str, bytes]) -> Path:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return root


def _without_manifest(files: dict[str, bytes]) -> dict[str, bytes]:
    return {p: d for p, d in files.items() if p not in (MANIFEST_NAME, SIGNATURE_NAME)}


def _list_of(files: dict[str, bytes], name: str) -> str:
    """The path of component ``name``'s list among ``files``."""
    record = json.loads(files[CD_RELEASE])
    return release.list_path(record["components"][name])


def test_attack_component_list_other_than_its_files(tmp_path):
    """trust/ca.pem changed and only the manifest signed again (the release not): ES915
    naming the file against component trust's list."""
    files = _without_manifest(FILES)
    files["trust/ca.pem"] = b"other CA\n"
    error = _refused(_tree_of(tmp_path / "img", _manifest(files)))
    assert error.code == "ES915"
    assert "trust/ca.pem: differs from component trust's list" in error.detail


def test_attack_release_signed_by_another_key(tmp_path):
    """release.json signed by another key, the manifest by the project's: ES915 naming it."""
    files = _without_manifest(FILES)
    other = ed25519.Ed25519PrivateKey.generate()
    files[CD_RELEASE_SIG] = sign_manifest(files[CD_RELEASE], other)
    error = _refused(_tree_of(tmp_path / "img", _manifest(files)))
    assert error.code == "ES915"
    assert "release.json.sig: release.json is not signed by the image-signing key" in error.detail


def test_attack_list_that_does_not_hash_to_its_id(tmp_path):
    """A component list edited in place (its folder still names the old id): ES915."""
    files = _without_manifest(FILES)
    at = _list_of(files, "trust")
    files[at] = files[at].replace(b'"trust"', b'"trust" ', 1)
    error = _refused(_tree_of(tmp_path / "img", _manifest(files)))
    assert error.code == "ES915"
    assert f"{at}: does not hash to trust's id in release.json" in error.detail


def test_release_must_name_what_each_platform_runs(tmp_path):
    """runtime-linux/ on the image but no deps-linux or firefox-linux in release.json."""
    files = {**_without_manifest(FILES), "runtime-linux/libpython.so": b"elf"}
    error = _refused(_tree_of(tmp_path / "img", _manifest(files)))
    assert error.code == "ES915"
    assert "release.json: names no deps-linux component (the image runs it)" in error.detail
    assert "release.json: names no firefox-linux component" in error.detail


def test_file_outside_every_component_is_named(tmp_path):
    """A signed file under lib/macos/, a mount of no component of the release: ES915."""
    files = {**_without_manifest(FILES), "lib/macos/six.py": b"X = 1\n"}
    error = _refused(_tree_of(tmp_path / "img", _manifest(files)))
    assert "lib/macos/six.py: not in any component of release.json" in error.detail


def test_list_the_release_does_not_name_is_named(tmp_path):
    """A component list (signed, listed in the manifest) release.json does not name."""
    stray = release.list_path("f" * 64)
    files = {**_without_manifest(FILES), stray: b"{}"}
    error = _refused(_tree_of(tmp_path / "img", _manifest(files)))
    assert f"{stray}: a component list release.json does not name" in error.detail


def test_check_release_passes_the_builds_release():
    """The pure check finds nothing in a release as the build derives it."""
    files = _without_manifest(FILES)
    observed = {
        p: Observed(size=len(d), sha256=hashlib.sha256(d).hexdigest()) for p, d in files.items()
    }
    small = {p: d for p, d in files.items() if p.startswith(("release.json", "components/"))}
    assert release.check_release(small, observed, PUB, product="p", version="1.0") == []
    assert [
        m.render() for m in release.check_release(small, observed, PUB, product="p", version="2.0")
    ] == ["release.json: names p 1.0, the manifest p 2.0"]
