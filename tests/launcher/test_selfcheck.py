"""The self-check's decisions on small signed trees (the real image is in tests/bundle):
a CD-ROM in components, and a release running from the data area's store."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.bundle import release, tree
from esecure.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, encode_manifest, sign_manifest
from esecure.errors import IntegrityError, StorageError
from esecure.launcher import app, selfcheck
from esecure.launcher.selfcheck import (
    check_running_release,
    hashed_at_start,
    host_policy_weakenings,
    read_windows_group_policies,
    self_check,
)
from esecure_onkey import layout
from esecure_onkey.boot import Choice, cd_choice
from esecure_onkey.components import (
    component_names,
    decode_release,
    digest,
    encode_component_list,
    encode_release,
    mount,
)
from esecure_onkey.records import encode_component_completion

KEY = ed25519.Ed25519PrivateKey.generate()
OTHER = ed25519.Ed25519PrivateKey.generate()
PLATFORM = "linux"
POLICIES = b'{"policies": {"BlockAboutConfig": true}}'
FILES = {
    "e-secure": b"\x7fELF",
    "app/product.json": b"{}",
    "app/esecure/__init__.py": b"",
    "lib/linux/six.py": b"X = 1\n",
    "firefox/linux/libxul.so": b"big" * 1000,
    "firefox/linux/distribution/policies.json": POLICIES,
    "profile/user.js": b'user_pref("a", 1);\n',
}


def _pem(key: ed25519.Ed25519PrivateKey = KEY) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _sign(data: bytes, key: ed25519.Ed25519PrivateKey = KEY) -> bytes:
    return base64.b64encode(key.sign(data)) + b"\n"


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def _sign_medium(root: Path) -> None:
    """The release files and the manifest, as `esecure build` writes them."""
    generated = (MANIFEST_NAME, SIGNATURE_NAME, layout.CD_RELEASE, layout.CD_RELEASE_SIG)
    paths = [
        p
        for p in tree.walk_files(root)
        if p not in generated and not p.startswith(layout.CD_COMPONENTS + "/")
    ]
    files = tree.entries(root, paths)
    extra = release.release_files("p", "1.0.0", files, [PLATFORM], _sign)
    _write(root, extra)
    every = sorted([*files, *release.entries_of(extra)], key=lambda f: f.path)
    data = encode_manifest("p", "1.0.0", every)
    (root / MANIFEST_NAME).write_bytes(data)
    (root / SIGNATURE_NAME).write_bytes(sign_manifest(data, KEY))


@pytest.fixture
def medium(tmp_path: Path) -> Path:
    root = tmp_path / "cd"
    _write(root, {**FILES, layout.IMAGE_KEY: _pem()})
    _sign_medium(root)
    return root


def _check(root: Path):
    return self_check(root, platform=PLATFORM)


def test_sound_medium_passes(medium):
    """All present, hashes right: passes, hashing the launcher's files but not Firefox's."""
    result = _check(medium)
    # 8 files, 5 component lists + 5 signatures, release.json + its signature
    assert result.files == 8 + 10 + 2
    assert result.hashed == result.files - 1  # all but firefox/linux/libxul.so


def test_start_hashes_launcher_trust_and_policies_only():
    """The at-start predicate covers the launcher, trust/, profile and policies."""

    def hashed(path: str) -> bool:
        return hashed_at_start(path, "windows")

    assert hashed("e-secure.exe")
    assert hashed("runtime-windows/python311.dll")
    assert hashed("app/esecure/__init__.py")
    assert hashed("app/product.json")
    assert hashed("lib/windows/six.py")
    assert hashed("release.json")
    assert hashed("components/" + "0" * 64 + "/list")
    assert hashed("trust/ca.pem")
    assert hashed("firefox/windows/distribution/policies.json")
    assert not hashed("firefox/windows/xul.dll")
    assert not hashed("lib/linux/six.py")
    assert not hashed("runtime-linux/libpython3.11.so")
    assert hashed("firefox/windows/nss3.dll")
    assert not hashed("firefox/linux/libnss3.so")


def test_bundled_libraries_hashed_at_start_are_those_the_launcher_loads():
    """On Linux the bundled NSPR (loaded into the launcher's process before NSS) is hashed
    at start; the other bundled libraries (only Firefox's process loads them) are sized,
    and a file of the same name elsewhere in Firefox is not taken for it."""

    def hashed(path: str) -> bool:
        return hashed_at_start(path, "linux")

    for name in ("libnspr4.so", "libplc4.so", "libplds4.so"):
        assert hashed(f"firefox/linux/{layout.BUNDLED_LIBS_DIR}/{name}")
        assert not hashed(f"firefox/linux/browser/{name}")
        assert not hashed_at_start(f"firefox/linux/{layout.BUNDLED_LIBS_DIR}/{name}", "windows")
    assert hashed("firefox/linux/libnss3.so")
    assert not hashed(f"firefox/linux/{layout.BUNDLED_LIBS_DIR}/libvpx.so.7")
    assert layout.launcher_loaded("linux") >= set(layout.nss_dependencies("linux"))


def test_attack_changed_unhashed_file_of_other_size(medium):
    """A Firefox file of another size is caught by the size check: ES101 naming it."""
    (medium / "firefox/linux/libxul.so").write_bytes(b"short")
    with pytest.raises(IntegrityError, match=r"firefox/linux/libxul\.so: size 5") as info:
        _check(medium)
    assert info.value.code == "ES101"


def test_missing_file_is_e4(medium):
    """A listed file that is gone while every other one matches (what a quarantine
    leaves): ES102 naming it and saying so."""
    (medium / "app/product.json").unlink()
    with pytest.raises(
        StorageError, match=r"app/product\.json: listed in the manifest but missing"
    ) as info:
        _check(medium)
    assert info.value.code == "ES102"
    assert "what an antivirus quarantine leaves" in info.value.detail


def test_missing_and_changed_files_are_e1(medium):
    """A missing file next to a changed one is no quarantine: ES101 naming both."""
    (medium / "app/product.json").unlink()
    record = medium / layout.CD_RELEASE
    record.write_bytes(record.read_bytes().replace(b'"1.0.0"', b'"9.0.0"'))
    with pytest.raises(
        IntegrityError, match=r"product\.json: listed.*release\.json: content"
    ) as info:
        _check(medium)
    assert info.value.code == "ES101"


def test_changed_release_record_is_e1(medium):
    """release.json (which the bootstrap trusts by its place) changed: ES101 naming it."""
    record = medium / layout.CD_RELEASE
    record.write_bytes(record.read_bytes().replace(b'"1.0.0"', b'"9.0.0"'))
    with pytest.raises(IntegrityError, match=r"release\.json: content differs"):
        _check(medium)


def test_missing_manifest_is_e1(medium):
    """No manifest at all: ES101 naming MANIFEST.json."""
    (medium / MANIFEST_NAME).unlink()
    with pytest.raises(IntegrityError, match=r"MANIFEST\.json is missing"):
        _check(medium)


def test_blocked_file_is_e4(medium, monkeypatch):
    """A listed file that exists but cannot be opened (antivirus): ES102 naming it."""
    real = tree.hash_file

    def blocked(path: Path) -> str:
        if path.name == "product.json":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(tree, "hash_file", blocked)
    with pytest.raises(StorageError, match=r"product\.json: cannot be opened") as info:
        _check(medium)
    assert info.value.code == "ES102"


def test_host_policies_that_drop_the_keys_are_reported(medium):
    """A Linux host policies file without BlockAboutConfig weakens the key's Firefox."""
    firefox = medium / "firefox" / PLATFORM
    found = host_policy_weakenings(firefox, "linux", {"DisableTelemetry": True})
    assert [w.policy for w in found] == ["BlockAboutConfig"]
    assert host_policy_weakenings(firefox, "linux", json.loads(POLICIES)["policies"]) == []


def test_no_group_policy_reader_off_windows():
    """The Windows registry reader answers None on other systems."""
    assert read_windows_group_policies() is None


def _app_self_check(medium: Path, monkeypatch, stance: str, capsys) -> tuple[int, str, str]:
    (medium / "app/product.json").write_text(
        json.dumps({"launcher_name": "e-secure", "firefox": {"host_policies": stance}})
    )
    _sign_medium(medium)  # product.json changed: sign again as the build would have
    monkeypatch.setenv("ESECURE_CD_ROOT", str(medium))
    monkeypatch.setattr(selfcheck, "read_linux_host_policies", lambda: {"DisableTelemetry": 1})
    code = app.main(["--self-check"])  # no bootstrap: the CD-ROM's release
    out = capsys.readouterr()
    return code, out.out, out.err


def test_weakening_host_policies_warn_by_default(medium, monkeypatch, capsys):
    """host_policies = "warn": ES105 names the dropped policy, the check still passes."""
    code, out, err = _app_self_check(medium, monkeypatch, "warn", capsys)
    assert code == 0
    assert "ES105" in err
    assert "BlockAboutConfig: removed" in err
    assert out.startswith("self-check: ok")


def test_weakening_host_policies_refused_by_configuration(medium, monkeypatch, capsys):
    """host_policies = "refuse" (in app/product.json): ES105 and exit 1."""
    code, out, err = _app_self_check(medium, monkeypatch, "refuse", capsys)
    assert code == 1
    assert "ES105" in err
    assert out == ""


# --- a release running from the data area's store ------------------------------------------


def _put_component(data: Path, name: str, files: dict[str, bytes], key=KEY) -> str:
    listing = encode_component_list(
        name, {p: (len(b), hashlib.sha256(b).hexdigest()) for p, b in files.items()}
    )
    cid = digest(listing)
    _write(layout.component_dir(data, cid), files)
    layout.component_file(data, cid, ".list").write_bytes(listing)
    layout.component_file(data, cid, ".sig").write_bytes(_sign(listing, key))
    layout.component_file(data, cid, ".complete").write_bytes(encode_component_completion(cid))
    return cid


def _from_store(medium: Path, data: Path, changed: dict[str, dict[str, bytes]], key=KEY) -> Choice:
    """A release 1.1.0 whose ``changed`` components are in the store (the others the
    CD-ROM's), as the bootstrap would have chosen it."""
    ids = dict(decode_release((medium / layout.CD_RELEASE).read_bytes()).components)
    for name, files in changed.items():
        ids[name] = _put_component(data, name, files)
    record = encode_release("p", "1.1.0", ids)
    rid = digest(record)
    layout.release_file(data, rid, ".json").parent.mkdir(parents=True)
    layout.release_file(data, rid, ".json").write_bytes(record)
    layout.release_file(data, rid, ".sig").write_bytes(_sign(record, key))
    dirs = {
        n: layout.component_dir(data, ids[n]) if n in changed else medium / mount(n)
        for n in component_names(PLATFORM)
    }
    return Choice(medium, rid, "1.1.0", dirs, "test", PLATFORM, data_dir=data)


def _app_files(**extra: bytes) -> dict[str, bytes]:
    return {
        "product.json": json.dumps({"default_language": "en"}).encode(),
        "esecure/__init__.py": b"# 1.1.0\n",
        **extra,
    }


def _run(choice: Choice, monkeypatch, capsys, host=None) -> tuple[int, str, str]:
    monkeypatch.setattr(selfcheck, "read_linux_host_policies", lambda: host)
    code = app.main(["--self-check"], boot=choice)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_self_check_covers_the_release_running_from_the_store(
    medium, tmp_path, monkeypatch, capsys
):
    """An app-only update runs: the store's app is checked with the CD-ROM's key, and said."""
    choice = _from_store(medium, tmp_path / "data", {"app": _app_files()})
    assert choice.from_store
    code, out, err = _run(choice, monkeypatch, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(
        f"self-check: version 1.1.0 from the data area (release {choice.release[:12]}): ok "
        "(app from the store; deps-linux, firefox-linux, profile, trust from the CD-ROM;"
    )
    assert lines[1].startswith("self-check: ok")


def test_self_check_names_a_changed_file_of_the_store(medium, tmp_path, monkeypatch, capsys):
    """A same-size change of a file of the running store component: ES101 naming it."""
    choice = _from_store(medium, tmp_path / "data", {"app": _app_files()})
    module = choice.component("app") / "esecure" / "__init__.py"
    module.write_bytes(b"# 6.6.6\n")
    code, out, err = _run(choice, monkeypatch, capsys)
    assert code == 1
    assert "ES101" in err
    assert "esecure/__init__.py differs from the signed list" in err
    assert "ok" not in out


def test_self_check_refuses_a_release_signed_with_another_key(
    medium, tmp_path, monkeypatch, capsys
):
    """A release record signed by another key (the data area's own trust/ is never used)."""
    other = ed25519.Ed25519PrivateKey.generate()
    choice = _from_store(medium, tmp_path / "data", {"app": _app_files()}, key=other)
    code, _out, err = _run(choice, monkeypatch, capsys)
    assert code == 1
    assert "ES101" in err
    assert "is not signed by the image-signing key" in err


def test_self_check_refuses_a_store_that_changed_since_the_start(medium, tmp_path):
    """The release resolves to other directories than those running: ES101."""
    choice = _from_store(medium, tmp_path / "data", {"app": _app_files()})
    moved = {**choice.dirs, "app": tmp_path / "elsewhere"}
    stale = Choice(
        medium, choice.release, "1.1.0", moved, "test", PLATFORM, data_dir=choice.data_dir
    )
    with pytest.raises(IntegrityError, match="is not the one that started"):
        check_running_release(stale)


def test_full_check_hashes_what_a_start_does_not(medium, tmp_path):
    """A same-size change of a Firefox binary in the store: only full=True names it."""
    firefox = {
        "libxul.so": b"new" * 1000,
        "distribution/policies.json": POLICIES,
    }
    choice = _from_store(medium, tmp_path / "data", {"firefox-linux": firefox})
    (choice.component("firefox") / "libxul.so").write_bytes(b"NEW" * 1000)
    assert check_running_release(choice).from_store == ("firefox-linux",)
    with pytest.raises(IntegrityError, match=r"libxul\.so differs from the signed list"):
        check_running_release(choice, full=True)


def test_running_firefox_and_product_are_the_stores(medium, tmp_path, monkeypatch, capsys):
    """The host policies are compared with the running Firefox's, and product.json is the
    running app's: the store's stance "refuse" and its stricter policies apply."""
    stricter = b'{"policies": {"BlockAboutConfig": true, "DisableTelemetry": true}}'
    refuse = json.dumps({"firefox": {"host_policies": "refuse"}}).encode()
    choice = _from_store(
        medium,
        tmp_path / "data",
        {
            "app": _app_files(**{"product.json": refuse}),
            "firefox-linux": {"libxul.so": b"x", "distribution/policies.json": stricter},
        },
    )
    code, _out, err = _run(choice, monkeypatch, capsys, host={"BlockAboutConfig": True})
    assert code == 1
    assert "ES105" in err
    assert "DisableTelemetry: removed" in err


def test_the_cd_release_is_not_checked_as_a_store_release(medium, monkeypatch, capsys):
    """The CD-ROM's release (as the bootstrap chooses it with no update): the manifest only."""
    code, out, _err = _run(cd_choice(medium), monkeypatch, capsys)
    assert code == 0
    assert out.splitlines() == [out.splitlines()[0]]
    assert out.startswith("self-check: ok")


def test_sizes_depth_hashes_nothing_and_still_checks_sizes_and_signature(medium):
    """The flow's start check ("sizes"): no file hashed; a file of another size and a
    broken signature are still ES101; a same-size change is left to the full check."""
    assert self_check(medium, platform=PLATFORM, depth="sizes").hashed == 0
    (medium / "app/product.json").write_bytes(b"[]")  # same size, other bytes
    self_check(medium, platform=PLATFORM, depth="sizes")
    with pytest.raises(IntegrityError, match=r"app/product\.json") as info:
        self_check(medium, platform=PLATFORM, depth="full")
    assert info.value.code == "ES101"
    (medium / "profile/user.js").write_bytes(b"x")
    with pytest.raises(IntegrityError, match=r"profile/user\.js: size 1"):
        self_check(medium, platform=PLATFORM, depth="sizes")


def test_sizes_depth_checks_the_signature(medium):
    """A manifest signed by another key fails the "sizes" check too."""
    (medium / SIGNATURE_NAME).write_bytes(_sign((medium / MANIFEST_NAME).read_bytes(), OTHER))
    with pytest.raises(IntegrityError) as info:
        self_check(medium, platform=PLATFORM, depth="sizes")
    assert info.value.code == "ES101"


def test_full_depth_hashes_every_file(medium):
    """The background check ("full") hashes every listed file, Firefox's too."""
    result = self_check(medium, platform=PLATFORM, depth="full")
    assert result.hashed == result.files
