"""Attacks on the data area: a release runs only when the CD-ROM's image-signing key vouches
for it and every component it names is what was signed.

Each test prepares a data area as an attacker who could write it once would, then starts
the real bootstrap in a clean child interpreter (``python -S -m esecure_onkey``) and
asserts which application ran, why, that the attacker's code did not run, and that the
bootstrap changed nothing in the store.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure_onkey import layout
from esecure_onkey.components import digest, encode_component_list
from esecure_onkey.records import encode_component_completion
from tests.onkey.fixtures import (
    PLATFORM,
    app_files,
    default_components,
    listed,
    make_cd,
    make_release,
    point,
    put_component,
    put_release,
    sign,
)
from tests.onkey_child import bootstrap_command, bootstrap_env

APP = "esecure/launcher/app.py"
FIREFOX = f"firefox-{PLATFORM}"
GENUINE = "'genuine', boot.version, boot.reason"
NSPR = f"{layout.BUNDLED_LIBS_DIR}/libnspr4.so"  # bundled beside a Linux Firefox
EVIL_CODE = (
    "import os, pathlib\n"
    "pathlib.Path(os.environ['ATTACK_MARK']).write_text('pwned')\n"
    "def main(argv, boot):\n"
    "    print('attacker')\n"
    "    return 0\n"
)
OTHER_KEY = ed25519.Ed25519PrivateKey.generate()


def _padded(files: dict[str, bytes]) -> dict[str, bytes]:
    """Launcher code padded to one size, so the attacker's can replace it byte for byte."""
    return {**files, APP: files[APP].ljust(400, b"#")}


def _evil(version: str) -> dict[str, bytes]:
    files = app_files(version, "'attacker'")
    files[APP] = EVIL_CODE.encode()
    return _padded(files)


@pytest.fixture
def key(tmp_path: Path) -> dict[str, object]:
    """CD-ROM 1.0 with its own application; a genuine release 2.0 (new app) in force."""
    cd, data = tmp_path / "cd", tmp_path / "data"
    components = default_components("1.0")
    components["app"] = _padded(app_files("1.0", "'cd-app', boot.reason"))
    ids = make_cd(cd, "1.0", components)
    rid = make_release(data, ids, "2.0", {"app": _padded(app_files("2.0", GENUINE))})
    point(data, 1, rid, "cd", "2.0", good=True)
    return {"cd": cd, "data": data, "ids": ids, "rid": rid, "mark": tmp_path / "attack-mark"}


def _app_id(key: dict[str, object]) -> str:
    record = (layout.release_file(key["data"], key["rid"], ".json")).read_text()  # type: ignore[arg-type]
    return record.split('"app": "')[1][:64]


def _store(data: Path) -> dict[str, str]:
    return {
        p.relative_to(data).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(layout.store_dir(data).rglob("*"))
        if p.is_file()
    }


def _start(key: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bootstrap_command(),
        capture_output=True,
        text=True,
        env=bootstrap_env(
            ESECURE_CD_ROOT=str(key["cd"]),
            ESECURE_DATA_DIR=str(key["data"]),
            ATTACK_MARK=str(key["mark"]),
        ),
        check=False,
        timeout=60,
    )


def _refused(key: dict[str, object], why: str, *, ran: str = "cd-app") -> None:
    """Start: the attacker's code does not run, ``ran`` does with ``why`` in its reason,
    and the store is exactly as the attacker left it (the bootstrap wrote nothing there)."""
    before = _store(key["data"])  # type: ignore[arg-type]
    proc = _start(key)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(ran), proc.stdout
    assert why in proc.stdout, proc.stdout
    assert "attacker" not in proc.stdout
    assert not Path(key["mark"]).exists(), "the attacker's code ran"  # type: ignore[arg-type]
    assert _store(key["data"]) == before  # type: ignore[arg-type]


def test_genuine_release_runs_and_the_store_stays_clean(key):
    """Control: the signed release runs, twice, and Python writes no __pycache__ there."""
    for _ in range(2):
        proc = _start(key)
        assert proc.stdout == "genuine 2.0 version 2.0 from the data area\n", proc.stderr
    assert not list(layout.store_dir(key["data"]).rglob("__pycache__"))


def test_forged_release_with_self_made_records_does_not_run(key):
    """A component and release the attacker wrote and signed with his own key: refused."""
    data = key["data"]
    evil = put_component(data, "app", _evil("9.0"), key=OTHER_KEY)
    rid = put_release(data, "9.0", {**key["ids"], "app": evil}, key=OTHER_KEY)
    point(data, 2, rid, key["rid"], "9.0", good=True)
    _refused(key, "is not signed by the image-signing key: version 2.0 used", ran="genuine")


def test_forged_release_without_a_genuine_fallback_runs_the_cd(key):
    """The forged release and the CD as previous: the CD-ROM's application runs."""
    data = key["data"]
    evil = put_component(data, "app", _evil("9.0"), key=OTHER_KEY)
    rid = put_release(data, "9.0", {**key["ids"], "app": evil}, key=OTHER_KEY)
    point(data, 2, rid, "cd", "9.0", good=True)
    _refused(key, "is not signed by the image-signing key: application shipped on the CD-ROM")


def test_same_size_edit_of_the_launcher_is_refused(key):
    """app.py replaced by attacker code of the same size (completion record intact)."""
    app = layout.component_dir(key["data"], _app_id(key)) / APP
    evil = _evil("2.0")[APP]
    assert len(evil) == app.stat().st_size
    app.write_bytes(evil)
    _refused(key, f"{APP} differs from the signed list")


def test_extra_unlisted_module_is_refused(key):
    """argparse.py added beside the genuine app files: refused before any import."""
    app = layout.component_dir(key["data"], _app_id(key))
    (app / "argparse.py").write_text(EVIL_CODE)
    _refused(key, "argparse.py is not in the signed list")


def test_unlisted_pycache_is_refused(key):
    """A planted __pycache__/*.pyc (imported before the .py) is refused."""
    app = layout.component_dir(key["data"], _app_id(key))
    (app / "esecure" / "__pycache__").mkdir()
    (app / "esecure" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"evil")
    _refused(key, "__init__.cpython-311.pyc is not in the signed list")


def test_release_record_re_signed_with_another_key_is_refused(key):
    """The genuine record's signature replaced by one of another key: refused."""
    data = key["data"]
    record = layout.release_file(data, key["rid"], ".json").read_bytes()
    layout.release_file(data, key["rid"], ".sig").write_bytes(sign(record, OTHER_KEY))
    _refused(key, "is not signed by the image-signing key")


def test_replayed_older_genuine_release_is_refused(tmp_path):
    """A genuine release older than the CD-ROM's (a since-fixed hole) never runs."""
    cd, data = tmp_path / "cd", tmp_path / "data"
    components = default_components("3.0")
    components["app"] = app_files("3.0", "'cd-app', boot.reason")
    ids = make_cd(cd, "3.0", components)
    old = make_release(data, ids, "2.0", {"app": app_files("2.0", "'old release'")})
    point(data, 1, old, "cd", "2.0", good=True)
    key = {"cd": cd, "data": data, "mark": tmp_path / "mark"}
    _refused(key, "version 2.0 is older than the CD-ROM's 3.0")


def test_a_component_swapped_for_another_genuine_one_is_refused(key):
    """store/<app id>/ replaced by the files of another genuine app version: refused."""
    data = key["data"]
    other = put_component(data, "app", _padded(app_files("2.5", "'other genuine'")))
    mine = layout.component_dir(data, _app_id(key))
    for path in mine.rglob("*"):
        if path.is_file():
            path.unlink()
    for path in layout.component_dir(data, other).rglob("*"):
        if path.is_file():
            target = mine / path.relative_to(layout.component_dir(data, other))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    _refused(key, "differs from the signed list")


def test_a_component_list_swapped_for_another_genuine_one_is_refused(key):
    """The list (and signature) of another genuine version put under this id: refused."""
    data = key["data"]
    other = put_component(data, "app", _padded(app_files("2.5", "'other genuine'")))
    mine = _app_id(key)
    for suffix in (".list", ".sig"):
        layout.component_file(data, mine, suffix).write_bytes(
            layout.component_file(data, other, suffix).read_bytes()
        )
    _refused(key, "its file list does not hash to its id")


def test_a_release_record_naming_another_releases_component_is_refused(key):
    """A record re-pointed at another genuine app version must be re-signed: with another
    key it is refused (the genuine record's bytes cannot change without its signature)."""
    data = key["data"]
    other = put_component(data, "app", _padded(app_files("2.5", "'other genuine'")))
    rid = put_release(data, "2.0", {**key["ids"], "app": other}, key=OTHER_KEY)
    point(data, 2, rid, "cd", "2.0", good=True)
    _refused(key, "is not signed by the image-signing key")


def test_an_unreferenced_component_planted_in_the_store_never_runs(key):
    """A complete, even genuinely signed, component no release names: the release in force
    runs; the planted one is never imported."""
    data = key["data"]
    put_component(data, "app", _evil("9.0"))
    proc = _start(key)
    assert proc.stdout.startswith("genuine 2.0"), proc.stdout
    assert not Path(key["mark"]).exists()


def test_a_component_list_signed_by_another_key_with_a_matching_id_is_refused(key):
    """An attacker's own list for the app id can never hash to it; with a list and
    completion record he made for an id of his own, the genuine release does not name it."""
    data = key["data"]
    files = _evil("2.0")
    listing = encode_component_list("app", listed(files))
    evil_id = digest(listing)
    put_component(data, "app", files, key=OTHER_KEY)
    assert layout.component_file(data, evil_id, ".complete").read_bytes() == (
        encode_component_completion(evil_id)
    )
    mine = _app_id(key)
    layout.component_file(data, mine, ".list").write_bytes(listing)
    layout.component_file(data, mine, ".sig").write_bytes(sign(listing, OTHER_KEY))
    _refused(key, "its file list does not hash to its id")


def _firefox_release(tmp_path: Path) -> tuple[dict[str, object], Path]:
    """CD-ROM 1.0 (its app prints "cd-app"); release 2.0 in force whose Firefox (one file
    added) is in the store. Returns the key and that Firefox's directory."""
    cd, data = tmp_path / "cd", tmp_path / "data"
    components = default_components("1.0")
    components["app"] = app_files("1.0", "'cd-app', boot.reason")
    ids = make_cd(cd, "1.0", components)
    firefox = {**components[FIREFOX], "browser/new.js": b"1", NSPR: b"nspr" * 10}
    rid = make_release(data, ids, "2.0", {FIREFOX: firefox})
    point(data, 1, rid, "cd", "2.0", good=True)
    fid = layout.release_file(data, rid, ".json").read_text().split(f'"{FIREFOX}": "')[1][:64]
    key = {"cd": cd, "data": data, "mark": tmp_path / "mark"}
    return key, layout.component_dir(data, fid)


def test_firefox_file_with_another_size_is_refused(tmp_path):
    """A Firefox of the store with a file of another size than listed: refused."""
    key, firefox = _firefox_release(tmp_path)
    (firefox / "omni.ja").write_bytes(b"short")
    _refused(key, "omni.ja has 5 bytes")


def test_same_size_edit_of_a_launcher_loaded_nss_library_is_refused(tmp_path):
    """libnss3.so runs in the launcher's process: hashed in full at every start."""
    key, firefox = _firefox_release(tmp_path)
    nss = firefox / "libnss3.so"
    nss.write_bytes(b"x" * nss.stat().st_size)
    _refused(key, "libnss3.so differs from the signed list")


def test_firefox_release_with_its_bundled_nspr_runs(tmp_path):
    """Control for the next test: that release, untouched, runs."""
    key, _firefox = _firefox_release(tmp_path)
    proc = _start(key)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "cd-app version 2.0 from the data area\n", proc.stdout


def test_same_size_swap_of_a_bundled_nspr_library_is_refused(tmp_path):
    """T11: libnspr4.so, bundled beside Firefox, is loaded into the launcher's process
    before NSS: swapped for other bytes of the same size on the data area, the release is
    refused at start (hashed in full, not only sized), the CD-ROM's application runs and
    the store is left as the attacker made it."""
    key, firefox = _firefox_release(tmp_path)
    nspr = firefox / NSPR
    nspr.write_bytes(b"EVIL" * 10)
    _refused(key, f"{NSPR} differs from the signed list")
