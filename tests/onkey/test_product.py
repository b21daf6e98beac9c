"""The on-key readers of product.json and identity.json: what they accept and ignore."""

from __future__ import annotations

import json

from esecure.bundle.build import product_json
from esecure.bundle.personalize import Record, identity_json
from esecure.config import load_project
from esecure.scaffold import InitOptions, init_project
from esecure_onkey.product import decode_identity, decode_product, read_identity


def test_the_builders_product_json_reads_back(tmp_path):
    """What `esecure build` writes gives the id, version and data label to the reader."""
    init_project(tmp_path / "p", InitOptions(demo=True), passphrase=None)
    project = load_project(tmp_path / "p")
    got = decode_product(product_json(project))
    assert got is not None
    assert (got.id, got.version, got.data_label) == (
        project.product.id,
        project.product.version,
        project.image.data_label,
    )


def test_personalisations_identity_reads_back(tmp_path):
    """What `esecure personalize` writes is what the launcher reads."""
    data = identity_json(Record("A1B2C3D4E5", "batch-1", "2026-12-01"), "demo-bank")
    (tmp_path / "identity.json").write_bytes(data)
    got = read_identity(tmp_path)
    assert got is not None
    assert (got.serial, got.batch, got.product) == ("A1B2C3D4E5", "batch-1", "demo-bank")


def test_unknown_keys_are_ignored():
    """An added optional key is not a format change: readers of format 1 ignore it."""
    doc = {"format": 1, "serial": "S1", "new-optional": {"x": 1}}
    assert decode_identity(json.dumps(doc).encode()) is not None
    doc = {"format": 1, "id": "bank", "data": {"label": "D", "extra": 1}, "later": True}
    assert decode_product(json.dumps(doc).encode()) is not None


def test_unusable_files_read_as_none(tmp_path):
    """Missing, non-JSON, wrong types, an empty or over-long serial: None (ES209 upstream)."""
    assert read_identity(tmp_path) is None
    for data in (
        b"",
        b"[]",
        b"{",
        b'{"serial": 5}',
        b'{"serial": ""}',
        b'{"serial": "' + b"9" * 33 + b'"}',
    ):
        assert decode_identity(data) is None
    for data in (
        b"{}",
        b'{"id": "x"}',
        b'{"id": "x", "data": {"label": ""}}',
        b'{"id": 1, "data": {"label": "L"}}',
    ):
        assert decode_product(data) is None
