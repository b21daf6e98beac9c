"""Attacks on the data area: a slot runs only when the CD-ROM's image-signing key vouches for it.

Each test prepares a data area as an attacker who could write it once would, then starts
the real bootstrap in a clean child interpreter (``python -S bootstrap.py``) and asserts
which application ran, why, and that the attacker's code did not run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure_onkey import layout
from esecure_onkey.boot import check_slot, verify_app_root, write_pointer
from esecure_onkey.records import Pointer, encode_pointer
from tests.onkey_child import bootstrap_command, bootstrap_env

from .slots import make_cd, make_slot, record_slot, sign_root

PLATFORM = layout.platform_name()
APP = f"lib/{PLATFORM}/esecure/launcher/app.py"
NSS = f"firefox/{PLATFORM}/libnss3.so"
GENUINE_APP = (
    "import argparse\n"
    "def main(argv, boot):\n"
    "    print('genuine', boot.slot, boot.reason)\n"
    "    return 0\n"
)
EVIL = (
    "import os, pathlib\n"
    "pathlib.Path(os.environ['ATTACK_MARK']).write_text('pwned')\n"
    "def main(argv, boot):\n"
    "    print('attacker')\n"
    "    return 0\n"
)

# a genuine but old release (say, with a since-fixed hole): marks that it ran
OLD_RELEASE_APP = (
    "import os, pathlib\n"
    "def main(argv, boot):\n"
    "    pathlib.Path(os.environ['ATTACK_MARK']).write_text('old release ran')\n"
    "    return 0\n"
)


def _app_files(app: str) -> dict[str, bytes]:
    lib = f"lib/{PLATFORM}/esecure"
    return {
        f"{lib}/__init__.py": b"",
        f"{lib}/launcher/__init__.py": b"",
        APP: app.encode().ljust(400, b"#"),  # same size whatever the code: a padding comment
        f"firefox/{PLATFORM}/omni.ja": b"omni" * 100,
        NSS: b"\x7fELF" + b"\0" * 100,
        "product.json": b"{}\n",
    }


def _cd(cd: Path, version: str) -> Path:
    """A CD-ROM with its own application (prints "cd-app"), key and product.json."""
    for name, content in _app_files(GENUINE_APP.replace("genuine", "cd-app")).items():
        (cd / name).parent.mkdir(parents=True, exist_ok=True)
        (cd / name).write_bytes(content)
    return make_cd(cd, version)


@pytest.fixture
def key_area(tmp_path: Path) -> tuple[Path, Path, Path]:
    """CD-ROM 1.0 with its own application; a genuine, signed slot B (2.0) active and good."""
    cd, data = _cd(tmp_path / "cd", "1.0"), tmp_path / "data"
    make_slot(data, "B", "2.0", _app_files(GENUINE_APP))
    write_pointer(data, Pointer(1, "B", "cd", "2.0", good=True))
    return cd, data, tmp_path / "attack-mark"


def _start(cd: Path, data: Path, mark: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bootstrap_command(),
        capture_output=True,
        text=True,
        env=bootstrap_env(
            ESECURE_CD_ROOT=str(cd), ESECURE_DATA_DIR=str(data), ATTACK_MARK=str(mark)
        ),
        check=False,
        timeout=60,
    )


def _assert_cd_ran(proc: subprocess.CompletedProcess[str], mark: Path, why: str) -> None:
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("cd-app None "), proc.stdout
    assert why in proc.stdout, proc.stdout
    assert "attacker" not in proc.stdout
    assert not mark.exists(), "the attacker's code ran"


def test_genuine_slot_runs_and_stays_clean(key_area):
    """Control: the signed slot runs, twice, and Python writes no __pycache__ into it."""
    cd, data, mark = key_area
    for _ in range(2):
        proc = _start(cd, data, mark)
        assert proc.stdout == "genuine B version 2.0 from slot B\n", proc.stderr
    assert not list((data / "slots" / "B").rglob("__pycache__"))


def test_forged_slot_with_self_made_records_does_not_run(key_area):
    """A slot the attacker wrote, with valid-looking completion and pointer records: refused."""
    cd, data, mark = key_area
    make_slot(data, "A", "9.0", _app_files(EVIL), key=None)
    (data / "pointer-0").write_bytes(encode_pointer(Pointer(2, "A", "B", "9.0", good=True)))
    proc = _start(cd, data, mark)
    assert proc.stdout.startswith("genuine B "), proc.stdout  # falls back to the genuine slot
    assert "no readable signed MANIFEST.json: previous slot used" in proc.stdout
    assert not mark.exists(), "the attacker's code ran"


def test_forged_slot_without_a_genuine_fallback_runs_the_cd(key_area):
    """The forged slot and no other usable slot: the CD-ROM's application runs."""
    cd, data, mark = key_area
    make_slot(data, "A", "9.0", _app_files(EVIL), key=None)
    (data / "pointer-0").write_bytes(encode_pointer(Pointer(2, "A", "cd", "9.0", good=True)))
    _assert_cd_ran(_start(cd, data, mark), mark, "no readable signed MANIFEST.json")


def test_same_size_edit_of_a_listed_file_is_refused(key_area):
    """app.py replaced by attacker code of the same size (records recomputed): refused."""
    cd, data, mark = key_area
    app = data / "slots" / "B" / APP
    evil = _app_files(EVIL)[APP]
    assert len(evil) == app.stat().st_size
    app.write_bytes(evil)
    record_slot(data, "B", "2.0")
    _assert_cd_ran(_start(cd, data, mark), mark, f"{APP} differs from the signed manifest")


def test_extra_unlisted_module_in_lib_is_refused(key_area):
    """lib/<platform>/argparse.py added next to the genuine files: refused before any import."""
    cd, data, mark = key_area
    (data / "slots" / "B" / "lib" / PLATFORM / "argparse.py").write_text(EVIL)
    record_slot(data, "B", "2.0")
    _assert_cd_ran(
        _start(cd, data, mark), mark, f"lib/{PLATFORM}/argparse.py is not listed in the signed"
    )


def test_unlisted_pycache_in_lib_is_refused(key_area):
    """A planted __pycache__/*.pyc (imported before the .py) is an unlisted file: refused."""
    cd, data, mark = key_area
    cache = data / "slots" / "B" / "lib" / PLATFORM / "esecure" / "__pycache__"
    cache.mkdir()
    (cache / f"__init__.{sys.implementation.cache_tag}.pyc").write_bytes(b"\0" * 16)
    _assert_cd_ran(_start(cd, data, mark), mark, "is not listed in the signed manifest")


def test_manifest_re_signed_with_another_key_is_refused(key_area):
    """The attacker's app with a manifest signed by the attacker's own key: refused."""
    cd, data, mark = key_area
    slot = data / "slots" / "B"
    (slot / APP).write_text(EVIL)
    sign_root(slot, "2.0", ed25519.Ed25519PrivateKey.generate())
    record_slot(data, "B", "2.0")
    _assert_cd_ran(
        _start(cd, data, mark), mark, "MANIFEST.json is not signed by the image-signing key"
    )


def test_replayed_older_genuine_release_is_refused(tmp_path):
    """A genuine, signed release older than the CD-ROM's application is not run."""
    cd, data, mark = _cd(tmp_path / "cd", "3.0"), tmp_path / "data", tmp_path / "mark"
    make_slot(data, "A", "2.0", _app_files(OLD_RELEASE_APP))
    write_pointer(data, Pointer(1, "A", "cd", "2.0", good=True))
    _assert_cd_ran(_start(cd, data, mark), mark, "version 2.0 is older than the CD-ROM's 3.0")


def test_firefox_file_with_another_size_is_refused(key_area):
    """A Firefox file of another size than signed: the slot is refused."""
    cd, data, mark = key_area
    (data / "slots" / "B" / "firefox" / PLATFORM / "omni.ja").write_bytes(b"evil")
    record_slot(data, "B", "2.0")
    _assert_cd_ran(_start(cd, data, mark), mark, "omni.ja has 4 bytes, the manifest says 400")


def test_same_size_edit_of_a_launcher_loaded_nss_library_is_refused(key_area):
    """libnss3.so is loaded into the launcher by ctypes: hashed at every start, refused."""
    cd, data, mark = key_area
    nss = data / "slots" / "B" / NSS
    nss.write_bytes(nss.read_bytes().replace(b"\0", b"\1"))
    record_slot(data, "B", "2.0")
    _assert_cd_ran(_start(cd, data, mark), mark, f"{NSS} differs from the signed manifest")


def test_same_size_edit_of_firefox_is_caught_by_the_full_check_only(key_area):
    """Documented limit: a same-size edit of Firefox's own files passes the start check (sizes,
    sized for USB 2); the full check against the signed list (diagnostics) catches it, even
    with the completion record rewritten."""
    cd, data, mark = key_area
    omni = data / "slots" / "B" / "firefox" / PLATFORM / "omni.ja"
    omni.write_bytes(b"EVIL" * 100)
    record_slot(data, "B", "2.0")
    proc = _start(cd, data, mark)
    assert proc.stdout.startswith("genuine B "), proc.stdout
    assert not mark.exists()
    assert check_slot(data, "B", full=True)[0] is not None  # the record was rewritten too
    version, why = verify_app_root(data / "slots" / "B", cd, PLATFORM, full=True)
    assert version is None
    assert why == f"firefox/{PLATFORM}/omni.ja differs from the signed manifest"


def test_same_size_edit_of_product_json_is_refused(key_area):
    """product.json names the bank's URLs: a same-size edit (another site) is refused."""
    cd, data, mark = key_area
    product = data / "slots" / "B" / "product.json"
    product.write_bytes(b"[]\n")  # same 3 bytes as the genuine "{}\n"
    record_slot(data, "B", "2.0")
    _assert_cd_ran(_start(cd, data, mark), mark, "product.json differs from the signed manifest")


def test_unlisted_ca_in_trust_is_refused(key_area):
    """An extra CA certificate dropped into the slot's trust/: refused (unlisted)."""
    cd, data, mark = key_area
    trust = data / "slots" / "B" / "trust"
    trust.mkdir()
    (trust / "evil-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    record_slot(data, "B", "2.0")
    _assert_cd_ran(
        _start(cd, data, mark), mark, "trust/evil-ca.pem is not listed in the signed manifest"
    )
