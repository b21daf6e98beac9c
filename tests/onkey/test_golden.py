"""Golden files of on-key format 1: samples of every file a key holds for years.

They were written once by the writers of format 1 and are never regenerated: a reader of
today must read them, and a writer whose output differs from them byte for byte has
changed the format (which needs a new format version and a reader for both, not new
golden bytes). Signatures are by a test-only key kept beside them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from esecure.bundle.build import product_json
from esecure.bundle.manifest import FileEntry, encode_manifest, verify_manifest
from esecure.bundle.personalize import Record, identity_json
from esecure.config import load_project
from esecure.launcher.diagnostics.proxy import configured_proxy, network_proxy
from esecure.scaffold import InitOptions, init_project
from esecure_onkey.components import (
    decode_component_list,
    decode_release,
    digest,
    encode_component_list,
    encode_release,
)
from esecure_onkey.ed25519 import check_signature
from esecure_onkey.filelist import verify_file_list
from esecure_onkey.product import decode_identity, decode_product
from esecure_onkey.records import (
    Pointer,
    decode_component_completion,
    decode_pointer,
    encode_component_completion,
    encode_pointer,
    seal,
    unseal,
)

GOLDEN = Path(__file__).parent / "golden"
PUB = (GOLDEN / "test-image-signing.pub.pem").read_bytes()


def _golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def test_component_list_reads_and_its_writer_reproduces_it():
    """The app component's list: decoded, signature valid, re-encoded byte for byte."""
    data = _golden("component.list")
    assert check_signature(data, _golden("component.sig"), PUB, "component.list") == ""
    listed = decode_component_list(data)
    assert listed.component == "app"
    assert listed.files["esecure/launcher/app.pyc"][0] == 56789
    assert encode_component_list("app", listed.files) == data


def test_release_record_reads_and_its_writer_reproduces_it():
    """A release record naming seven components: decoded, signed, re-encoded exactly."""
    data = _golden("release.json")
    assert check_signature(data, _golden("release.sig"), PUB, "release.json") == ""
    record = decode_release(data)
    assert (record.product, record.version) == ("demo-bank", "1.2.0")
    assert record.components["app"] == digest(_golden("component.list"))
    assert encode_release(record.product, record.version, record.components) == data


def test_pointer_record_reads_and_its_writer_reproduces_it():
    """A pointer on trial naming that release, the CD-ROM's before it."""
    data = _golden("pointer.bin")
    pointer = decode_pointer(data)
    assert pointer == Pointer(7, digest(_golden("release.json")), "cd", "1.2.0", good=False)
    assert encode_pointer(pointer) == data


def test_completion_record_reads_and_its_writer_reproduces_it():
    """The completion record of the app component."""
    data = _golden("component.complete")
    cid = digest(_golden("component.list"))
    assert decode_component_completion(data) == cid
    assert encode_component_completion(cid) == data


def test_image_manifest_reads_and_its_writer_reproduces_it():
    """MANIFEST.json of an image: the on-key reader and esecure verify's both read it."""
    data = _golden("MANIFEST.json")
    listed = verify_file_list(data, _golden("MANIFEST.json.sig"), PUB)
    assert not isinstance(listed, str), listed
    manifest = verify_manifest(data, _golden("MANIFEST.json.sig"), PUB)
    entries = [FileEntry(p, s, h) for p, (s, h) in listed.files.items()]
    assert encode_manifest(manifest.product, manifest.version, entries) == data


def test_identity_reads_and_personalisations_writer_reproduces_it():
    """identity.json as `esecure personalize` writes it."""
    data = _golden("identity.json")
    identity = decode_identity(data)
    assert identity is not None
    assert identity.serial == "K7QX2M9PLR"
    record = Record(identity.serial, "2026-12-batch-01", "2026-12-01T10:00:00+00:00")
    assert identity_json(record, "demo-bank") == data


def test_product_json_reads_and_the_builds_writer_reproduces_it(tmp_path):
    """product.json of the golden esecure.toml: the bootstrap's reader and the build's
    writer (a demo project whose esecure.toml is the golden one)."""
    data = _golden("product.json")
    product = decode_product(data)
    assert product is not None
    assert (product.id, product.version) == ("demo-bank", "1.0.0")
    init_project(tmp_path / "p", InitOptions(demo=True), passphrase=None)
    shutil.copyfile(GOLDEN / "esecure.toml", tmp_path / "p" / "esecure.toml")
    assert product_json(load_project(tmp_path / "p")) == data


def _with_extra_key(data: bytes) -> bytes:
    doc = json.loads(data)
    doc["added-in-a-later-version"] = {"optional": True}
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("name", "decode"),
    [
        ("component.list", decode_component_list),
        ("release.json", decode_release),
        ("identity.json", decode_identity),
        ("product.json", decode_product),
    ],
)
def test_a_format_1_reader_ignores_an_added_optional_key(name, decode):
    """Adding an optional key is not a format change: today's reader reads the file."""
    assert decode(_with_extra_key(_golden(name))) == decode(_golden(name))


def test_a_sealed_record_with_an_added_optional_key_still_reads():
    """Pointer and completion records too (their body is sealed JSON)."""
    body = unseal(_golden("pointer.bin"))
    assert body is not None
    extended = seal({**body, "added-in-a-later-version": 1})
    assert decode_pointer(extended) == decode_pointer(_golden("pointer.bin"))


@pytest.mark.parametrize("name", ["component.list", "release.json"])
def test_another_format_number_is_refused(name):
    """A format 2 file is not read as format 1 (it needs its own reader)."""
    doc = json.loads(_golden(name))
    doc["format"] = 2
    decode = decode_component_list if name == "component.list" else decode_release
    with pytest.raises(ValueError, match="format 2"):
        decode(json.dumps(doc).encode())


def test_product_json_on_the_defaults_has_no_network_and_reads_as_the_host_settings():
    """`network` is an optional key of format 1's product.json (issue 11), written only
    when [network] is set: the golden file (the defaults) has none, as before, and its
    launcher connections follow the host's proxy settings."""
    data = _golden("product.json")
    assert b'"network"' not in data
    doc = json.loads(data)
    assert network_proxy(doc) == "system"
    assert configured_proxy(doc) == "system"
