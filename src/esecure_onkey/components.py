"""Components and releases (format 1): what a release is made of, and how each is named.

A *component* is a directory tree that is installed, checked and referenced as one: its
*file list* names every file with its size and SHA-256, and the component's id is the
SHA-256 of that list's bytes, so equal contents share one id and one copy on the key. A
*release* is a small record naming, per component, the id of the version it runs; its id
is the SHA-256 of its bytes. Both are signed with the project's image-signing key
(``.sig``: the Ed25519 signature of the exact bytes, base64 on one line).

Components (names fixed by format 1) and where each appears in an application root (the
CD-ROM's layout)::

    app             app/              the esecure package (compiled) and product.json
    deps-<p>        lib/<p>/          third-party packages of platform p
    firefox-<p>     firefox/<p>/      the portable Firefox of platform p
    profile         profile/          the Firefox profile template
    trust           trust/            CA certificate(s), image-signing public key, TUF root

A start on platform p runs ``app``, ``deps-p``, ``firefox-p``, ``profile`` and ``trust``.

File list bytes (UTF-8, one file per line, paths POSIX and sorted)::

    {"component": "app", "format": 1, "files": [
    {"path": "esecure/__init__.pyc", "sha256": "<64 hex>", "size": 123},
    ...
    ]}

Release record bytes (one line)::

    {"components": {"app": "<id>", ...}, "format": 1, "product": "demo-bank", "version": "1.2.0"}

Readers ignore keys they do not know; another ``format`` is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from esecure_onkey.filelist import check_path
from esecure_onkey.layout import PLATFORMS
from esecure_onkey.versions import version_key

__all__ = [
    "FORMAT",
    "KINDS",
    "ComponentList",
    "ReleaseRecord",
    "component_names",
    "decode_component_list",
    "decode_release",
    "digest",
    "encode_component_list",
    "encode_release",
    "is_id",
    "mount",
    "parse_component_name",
]

FORMAT = 1
KINDS = ("app", "deps", "firefox", "profile", "trust")
_PER_PLATFORM = {"deps": "lib", "firefox": "firefox"}
_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ComponentList:
    """A decoded component file list (trusted only once its id or signature was checked)."""

    component: str
    files: dict[str, tuple[int, str]]  # POSIX path -> (size, sha256 hex), sorted by path


@dataclass(frozen=True)
class ReleaseRecord:
    """A decoded release record."""

    product: str
    version: str
    components: dict[str, str]  # component name -> component id


def digest(data: bytes) -> str:
    """The id of a file list or a release record: SHA-256 of its exact bytes, hex."""
    return hashlib.sha256(data).hexdigest()


def is_id(value: object) -> bool:
    """Whether ``value`` is a well-formed id (64 lowercase hex digits)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def parse_component_name(name: object) -> tuple[str, str | None]:
    """(kind, platform or None) of a component name; ValueError for any other name."""
    if isinstance(name, str):
        kind, _, platform = name.partition("-")
        if kind in _PER_PLATFORM and platform in PLATFORMS:
            return kind, platform
        if kind in KINDS and kind not in _PER_PLATFORM and not platform and "-" not in name:
            return kind, None
    raise ValueError(f"{name!r} is not a component name")


def component_names(platform: str) -> tuple[str, ...]:
    """The components a start on ``platform`` runs, in a fixed order."""
    return ("app", f"deps-{platform}", f"firefox-{platform}", "profile", "trust")


def mount(name: str) -> str:
    """Where component ``name`` appears in an application root (the CD-ROM's layout)."""
    kind, platform = parse_component_name(name)
    return f"{_PER_PLATFORM[kind]}/{platform}" if platform else kind


def encode_component_list(name: str, files: Mapping[str, tuple[int, str]]) -> bytes:
    """The canonical bytes of component ``name``'s file list."""
    parse_component_name(name)
    lines = []
    for path, (size, sha256) in sorted(files.items()):
        check_path(path)
        if isinstance(size, bool) or size < 0 or not is_id(sha256):
            raise ValueError(f"{path}: bad size or SHA-256")
        lines.append(json.dumps({"path": path, "sha256": sha256, "size": size}, sort_keys=True))
    head = json.dumps({"component": name, "format": FORMAT})
    body = ",\n".join(lines)
    return f'{head[:-1]}, "files": [\n{body}{chr(10) if lines else ""}]}}\n'.encode()


def decode_component_list(data: bytes) -> ComponentList:
    """Decode strictly; ValueError/TypeError/KeyError naming what is wrong."""
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict):
        raise TypeError("the component list is not a JSON object")
    if doc.get("format") != FORMAT:
        raise ValueError(f"format {doc.get('format')!r}, this reader reads {FORMAT}")
    name = doc["component"]
    parse_component_name(name)
    files: dict[str, tuple[int, str]] = {}
    for entry in doc["files"]:
        path, size, sha256 = check_path(entry["path"]), entry["size"], entry["sha256"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"{path}: size {size!r} is not a byte count")
        if not is_id(sha256):
            raise ValueError(f"{path}: {sha256!r} is not a lowercase hex SHA-256")
        if path in files:
            raise ValueError(f"{path} is listed twice")
        files[path] = (size, sha256)
    return ComponentList(str(name), dict(sorted(files.items())))


def encode_release(product: str, version: str, components: Mapping[str, str]) -> bytes:
    """The canonical bytes of a release record."""
    if version_key(version) is None:
        raise ValueError(f"{version!r} is not a version")
    for name, cid in components.items():
        parse_component_name(name)
        if not is_id(cid):
            raise ValueError(f"{name}: {cid!r} is not a component id")
    doc = {
        "components": dict(sorted(components.items())),
        "format": FORMAT,
        "product": product,
        "version": version,
    }
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


def decode_release(data: bytes) -> ReleaseRecord:
    """Decode strictly; ValueError/TypeError/KeyError naming what is wrong."""
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict):
        raise TypeError("the release record is not a JSON object")
    if doc.get("format") != FORMAT:
        raise ValueError(f"format {doc.get('format')!r}, this reader reads {FORMAT}")
    product, version, components = doc["product"], doc["version"], doc["components"]
    if not isinstance(product, str) or not product:
        raise TypeError(f"product {product!r} is not a name")
    if not isinstance(version, str) or version_key(version) is None:
        raise ValueError(f"version {version!r} is not a version")
    if not isinstance(components, dict):
        raise TypeError("components is not an object")
    out: dict[str, str] = {}
    for name, cid in components.items():
        parse_component_name(name)
        if not is_id(cid):
            raise ValueError(f"{name}: {cid!r} is not a component id")
        out[name] = cid
    return ReleaseRecord(product, version, out)
