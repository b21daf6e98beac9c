"""Readers of the two small JSON files every key carries (format 1).

``product.json`` (an application root's, written by ``esecure build`` and publish)::

    {"format": 1, "id": "demo-bank", "version": "1.0.0", "data": {"label": "ESECDATA"},
     "name": ..., "urls": {...}, ...}

The bootstrap reads only ``id``, ``version`` and ``data.label`` of the CD-ROM's copy; the
launcher reads the rest of the running application's copy.

``identity.json`` (the data area's, written by ``esecure personalize``)::

    {"format": 1, "serial": "...", "batch": "...", "created": "...", "product": "demo-bank"}

Readers ignore keys they do not know; a missing or wrong required key is None (the
caller names the file and the fix).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from esecure_onkey.layout import IDENTITY_FILE, PRODUCT_FILE

__all__ = [
    "MAX_SERIAL",
    "Identity",
    "Product",
    "decode_identity",
    "decode_product",
    "product_version",
    "read_identity",
    "read_product",
]

MAX_SERIAL = 32


@dataclass(frozen=True)
class Product:
    """What the bootstrap needs of a ``product.json``."""

    id: str
    version: str | None  # None: absent or not a string
    data_label: str


@dataclass(frozen=True)
class Identity:
    """A key's identity file."""

    serial: str
    batch: str | None
    product: str | None


def _object(data: bytes) -> dict[str, object] | None:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def decode_product(data: bytes) -> Product | None:
    """The id, version and data label of ``product.json`` bytes, or None."""
    doc = _object(data)
    if doc is None:
        return None
    pid, version, data_section = doc.get("id"), doc.get("version"), doc.get("data")
    label = data_section.get("label") if isinstance(data_section, dict) else None
    if not (isinstance(pid, str) and pid and isinstance(label, str) and label):
        return None
    return Product(pid, version if isinstance(version, str) else None, label)


def read_product(root: Path) -> Product | None:
    """``decode_product`` of ``root/product.json``; None when unreadable."""
    try:
        return decode_product((root / PRODUCT_FILE).read_bytes())
    except OSError:
        return None


def product_version(root: Path) -> str | None:
    """The ``version`` of ``root/product.json`` alone (the CD-ROM application's version)."""
    try:
        doc = _object((root / PRODUCT_FILE).read_bytes())
    except OSError:
        return None
    version = doc.get("version") if doc is not None else None
    return version if isinstance(version, str) else None


def decode_identity(data: bytes) -> Identity | None:
    """The identity in ``identity.json`` bytes, or None when it has no usable serial."""
    doc = _object(data)
    if doc is None:
        return None
    serial, batch, product = doc.get("serial"), doc.get("batch"), doc.get("product")
    if not (isinstance(serial, str) and 0 < len(serial) <= MAX_SERIAL):
        return None
    return Identity(
        serial,
        batch if isinstance(batch, str) else None,
        product if isinstance(product, str) else None,
    )


def read_identity(data_dir: Path) -> Identity | None:
    """``decode_identity`` of the data area's identity file; None when missing or unusable
    (OSError propagates for the caller to name a blocked file)."""
    path = data_dir / IDENTITY_FILE
    if not path.exists():
        return None
    return decode_identity(path.read_bytes())
