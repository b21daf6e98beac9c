"""The demo image's own release, read back from the ISO by pycdlib (an independent reader:
plain JSON, hashlib and cryptography, not the code under test), and run from the data
area's store by the real frozen bootstrap."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path

import pycdlib
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.config import load_project
from esecure.trust import load_private_key
from esecure_onkey import layout
from esecure_onkey.records import Pointer, encode_component_completion, encode_pointer

pytestmark = pytest.mark.slow

MOUNTS = {
    "app": "app",
    "deps-linux": "lib/linux",
    "firefox-linux": "firefox/linux",
    "profile": "profile",
    "trust": "trust",
}


class _Iso:
    """Every file of an ISO (Rock Ridge names) with its bytes on demand."""

    def __init__(self, path: Path) -> None:
        self.reader = pycdlib.PyCdlib()
        self.reader.open(str(path))
        self.files: set[str] = set()
        for directory, _dirs, names in self.reader.walk(rr_path="/"):
            base = directory.strip("/")
            self.files.update(f"{base}/{n}" if base else n for n in names)

    def read(self, path: str) -> bytes:
        buf = io.BytesIO()
        self.reader.get_file_from_iso_fp(buf, rr_path=f"/{path}")
        return buf.getvalue()


@pytest.fixture(scope="module")
def iso(demo_image):
    reader = _Iso(demo_image.cdrom)
    yield reader
    reader.reader.close()


def _public_key(project: Path) -> ed25519.Ed25519PublicKey:
    pem = load_project(project).trust.image_signing_public_key.read_bytes()
    key = serialization.load_pem_public_key(pem)
    assert isinstance(key, ed25519.Ed25519PublicKey)
    return key


def _verifies(key: ed25519.Ed25519PublicKey, data: bytes, sig: bytes) -> None:
    key.verify(base64.b64decode(sig.strip(), validate=True), data)  # raises if not


def test_release_record_is_signed_and_names_the_image_components(iso, demo_image):
    """release.json: signed by the project's key, this product and version, and exactly the
    components a Linux start runs."""
    data = iso.read("release.json")
    _verifies(_public_key(demo_image.project), data, iso.read("release.json.sig"))
    record = json.loads(data)
    assert (record["format"], record["product"], record["version"]) == (1, "demo-bank", "1.0.0")
    assert sorted(record["components"]) == sorted(MOUNTS)
    lists = {p for p in iso.files if p.startswith("components/")}
    assert lists == {
        f"components/{cid}/{f}" for cid in record["components"].values() for f in ("list", "sig")
    }
    assert "product.json" not in iso.files  # only app/product.json


def test_each_list_hashes_to_its_id_and_matches_its_mount(iso, demo_image):
    """Each component's list: SHA-256 = the id release.json names, signed, and naming every
    file under its mount with its size and SHA-256, no more and no fewer."""
    key = _public_key(demo_image.project)
    record = json.loads(iso.read("release.json"))
    covered = set()
    for name, cid in record["components"].items():
        data = iso.read(f"components/{cid}/list")
        assert hashlib.sha256(data).hexdigest() == cid, name
        _verifies(key, data, iso.read(f"components/{cid}/sig"))
        doc = json.loads(data)
        assert (doc["format"], doc["component"]) == (1, name)
        prefix = MOUNTS[name] + "/"
        under = {p[len(prefix) :] for p in iso.files if p.startswith(prefix)}
        listed = {f["path"]: f for f in doc["files"]}
        assert set(listed) == under, name
        for rel, entry in listed.items():
            content = iso.read(prefix + rel)
            assert (entry["size"], entry["sha256"]) == (
                len(content),
                hashlib.sha256(content).hexdigest(),
            ), prefix + rel
        covered |= {prefix + p for p in under}
    outside = {
        p for p in iso.files if p.split("/")[0] in {"app", "lib", "firefox", "profile", "trust"}
    }
    assert outside == covered


def test_manifest_lists_the_release_files(iso):
    """MANIFEST.json lists release.json, its signature and every component list."""
    listed = {f["path"] for f in json.loads(iso.read("MANIFEST.json"))["files"]}
    assert {"release.json", "release.json.sig", "app/product.json"} <= listed
    assert {p for p in iso.files if p.startswith("components/")} <= listed


# --- the CD-ROM's components by reference: an app-only release in the data area ------------


def _sign(project: Path, data: bytes) -> bytes:
    key = load_private_key(load_project(project).trust.image_signing_key)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return base64.b64encode(key.sign(data)) + b"\n"


def _app_only_release(extracted: Path, project: Path, data: Path) -> tuple[str, str]:
    """Release 1.1.0 of the demo in ``data``: a new app in the store (the CD-ROM's app with
    another version), every other component the CD-ROM's by reference. Returns (release
    id, app id)."""
    staging = data / "app"
    shutil.copytree(extracted / "app", staging)
    init = staging / "esecure" / "__init__.py"
    for pyc in (staging / "esecure" / "__pycache__").glob("__init__.*.pyc"):
        pyc.unlink()
    init.write_text(init.read_text().replace('"0.1.0"', '"1.1.0"'))
    files = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())
    entries = [
        {
            "path": rel,
            "sha256": hashlib.sha256((staging / rel).read_bytes()).hexdigest(),
            "size": (staging / rel).stat().st_size,
        }
        for rel in files
    ]
    body = ",\n".join(json.dumps(e, sort_keys=True) for e in entries)
    listing = f'{{"component": "app", "format": 1, "files": [\n{body}\n]}}\n'.encode()
    cid = hashlib.sha256(listing).hexdigest()
    (data / "store").mkdir()
    staging.rename(layout.component_dir(data, cid))
    layout.component_file(data, cid, ".list").write_bytes(listing)
    layout.component_file(data, cid, ".sig").write_bytes(_sign(project, listing))
    layout.component_file(data, cid, ".complete").write_bytes(encode_component_completion(cid))
    ids = json.loads((extracted / "release.json").read_bytes())["components"]
    ids["app"] = cid
    doc = {"components": ids, "format": 1, "product": "demo-bank", "version": "1.1.0"}
    record = (json.dumps(doc, sort_keys=True) + "\n").encode()
    rid = hashlib.sha256(record).hexdigest()
    layout.release_file(data, rid, ".json").parent.mkdir()
    layout.release_file(data, rid, ".json").write_bytes(record)
    layout.release_file(data, rid, ".sig").write_bytes(_sign(project, record))
    pointer = Pointer(1, rid, layout.CD, "1.1.0", good=True)
    layout.pointer_path(data, 1).write_bytes(encode_pointer(pointer))
    return rid, cid


def _bootstrap(extracted: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(extracted / "e-secure"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(data.parent), "ESECURE_DATA_DIR": str(data)},
    )


def test_frozen_bootstrap_runs_an_app_only_release_over_the_cd_components(
    extracted, demo_image, scratch
):
    """The real bootstrap of the image runs the store's app with the CD-ROM's deps, Firefox,
    profile and trust (by the ids of its release.json), and the self-check says so."""
    data = scratch / "data"
    data.mkdir()
    rid, _cid = _app_only_release(extracted, demo_image.project, data)
    version = _bootstrap(extracted, data, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout == "e-secure 1.1.0 (version 1.1.0 from the data area)\n"
    check = _bootstrap(extracted, data, "--self-check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(
        f"self-check: version 1.1.0 from the data area (release {rid[:12]}): ok (app from the "
        "store; deps-linux, firefox-linux, profile, trust from the CD-ROM;"
    )
    assert check.stdout.splitlines()[1].startswith("self-check: ok")


def test_changed_store_file_sends_the_bootstrap_back_to_the_cd(extracted, demo_image, scratch):
    """A byte of the store's app changed: the real bootstrap refuses that release, names the
    file, and runs the CD-ROM's app (whose components are all on the image)."""
    data = scratch / "data"
    data.mkdir()
    _rid, cid = _app_only_release(extracted, demo_image.project, data)
    product = layout.component_dir(data, cid) / "product.json"
    content = product.read_bytes()
    product.write_bytes(content[:10] + bytes([content[10] ^ 1]) + content[11:])
    version = _bootstrap(extracted, data, "--version")
    assert version.returncode == 0, version.stderr
    assert "product.json differs from the signed list" in version.stdout
    assert "application shipped on the CD-ROM" in version.stdout
