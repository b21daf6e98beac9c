"""The CD-ROM's own release (format 1): its components' file lists and its release record.

Pure functions over the image's file entries and small files' bytes: the build derives
and signs, ``esecure verify`` checks, both with the same rules (docs/format-1.md, "The
CD-ROM"). The CD-ROM carries each of its components at its mount (``app/``,
``lib/<p>/``, ``firefox/<p>/``, ``profile/``, ``trust/``) and::

    components/<id>/list     the component's file list (paths relative to its mount);
                             <id> is the SHA-256 of these bytes
    components/<id>/sig      its signature by the image-signing key
    release.json             the release record: product, version, {component: id}
    release.json.sig         its signature

A component list is derived from the entries the manifest lists, so a file is hashed once
per build; every list and the record are signed with the key that signs MANIFEST.json,
and MANIFEST.json lists them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping

from esecure.bundle.manifest import FileEntry, Mismatch, Observed
from esecure_onkey.components import (
    component_names,
    decode_component_list,
    decode_release,
    digest,
    encode_component_list,
    encode_release,
    mount,
)
from esecure_onkey.ed25519 import check_signature
from esecure_onkey.layout import (
    CD_COMPONENTS,
    CD_RELEASE,
    CD_RELEASE_SIG,
    PLATFORMS,
    contents_dir,
)

__all__ = [
    "check_release",
    "component_files",
    "entries_of",
    "image_components",
    "list_path",
    "release_files",
    "signature_path",
]

Sign = Callable[[bytes], bytes]  # bytes -> the .sig file's bytes (base64 Ed25519, one line)
_DECODE_ERRORS = (UnicodeDecodeError, ValueError, KeyError, TypeError)


def list_path(cid: str) -> str:
    """Where the CD-ROM carries component ``cid``'s file list (POSIX, from the root)."""
    return f"{CD_COMPONENTS}/{cid}/list"


def signature_path(cid: str) -> str:
    """Where the CD-ROM carries the signature of component ``cid``'s file list."""
    return f"{CD_COMPONENTS}/{cid}/sig"


def image_components(platforms: Iterable[str]) -> list[str]:
    """The components an image for ``platforms`` carries, sorted: what a start on each of
    them runs (``app``, ``profile`` and ``trust`` once; ``deps-p`` and ``firefox-p`` each)."""
    return sorted({name for p in platforms for name in component_names(p)})


def component_files(files: Iterable[FileEntry], name: str) -> dict[str, tuple[int, str]]:
    """path relative to the mount -> (size, SHA-256) of every file under component
    ``name``'s mount, from an image's (or an application root's) entries."""
    prefix = mount(name) + "/"
    return {f.path[len(prefix) :]: (f.size, f.sha256) for f in files if f.path.startswith(prefix)}


def release_files(
    product: str, version: str, files: Iterable[FileEntry], platforms: Iterable[str], sign: Sign
) -> dict[str, bytes]:
    """The release files of an image (path from the CD-ROM root -> bytes): each
    component's list and signature, and the release record and its signature."""
    entries = list(files)
    out: dict[str, bytes] = {}
    ids: dict[str, str] = {}
    for name in image_components(platforms):
        data = encode_component_list(name, component_files(entries, name))
        cid = digest(data)
        ids[name] = cid
        out[list_path(cid)] = data
        out[signature_path(cid)] = sign(data)
    record = encode_release(product, version, ids)
    out[CD_RELEASE] = record
    out[CD_RELEASE_SIG] = sign(record)
    return out


def entries_of(files: Mapping[str, bytes]) -> list[FileEntry]:
    """Manifest entries of files given by their bytes."""
    return [FileEntry(p, len(d), hashlib.sha256(d).hexdigest()) for p, d in sorted(files.items())]


def _platforms(present: Iterable[str]) -> set[str]:
    """The platforms whose bootstrap runtime the image carries (``runtime-<p>/``)."""
    firsts = {path.split("/", 1)[0] for path in present}
    return {p for p in PLATFORMS if contents_dir(p) in firsts}


def _mount_of(path: str, names: Iterable[str]) -> str | None:
    """The component among ``names`` whose mount holds ``path``."""
    for name in names:
        if path.startswith(mount(name) + "/"):
            return name
    return None


def _is_component_path(path: str) -> bool:
    first, _, rest = path.partition("/")
    if first in ("app", "profile", "trust"):
        return bool(rest)
    return first in ("lib", "firefox") and "/" in rest


def check_release(
    small: Mapping[str, bytes],
    observed: Mapping[str, Observed],
    public_key_pem: bytes,
    *,
    product: str,
    version: str,
) -> list[Mismatch]:
    """Every way an image's release disagrees with its files, naming the culprit.

    ``small`` holds the bytes of release.json, release.json.sig and every file under
    components/; ``observed`` every file of the image, hashed. Checks: the record's and
    each list's signature with ``public_key_pem``; the record is this image's product and
    version and names every component a platform of the image runs; each list hashes to
    the id the record names (its folder's name) and names that component; each list
    matches the files under its component's mount, no more, no fewer; every file under a
    mount belongs to a component of the record; no list the record does not name.
    """
    out: list[Mismatch] = []
    data, signature = small.get(CD_RELEASE), small.get(CD_RELEASE_SIG)
    if data is None or signature is None:
        missing = CD_RELEASE if data is None else CD_RELEASE_SIG
        return [Mismatch(missing, "missing", "the image's release record is missing")]
    why = check_signature(data, signature, public_key_pem, CD_RELEASE)
    if why:
        return [Mismatch(CD_RELEASE_SIG, "signature", why)]
    try:
        record = decode_release(data)
    except _DECODE_ERRORS as exc:
        return [Mismatch(CD_RELEASE, "hash", f"signed but malformed ({exc})")]
    if (record.product, record.version) != (product, version):
        out.append(
            Mismatch(
                CD_RELEASE,
                "hash",
                f"names {record.product} {record.version}, the manifest {product} {version}",
            )
        )
    needed = sorted({n for p in _platforms(observed) for n in component_names(p)})
    out.extend(
        Mismatch(CD_RELEASE, "missing", f"names no {name} component (the image runs it)")
        for name in needed
        if name not in record.components
    )
    referenced = set()
    for name, cid in sorted(record.components.items()):
        at = list_path(cid)
        referenced.update({at, signature_path(cid)})
        listing, listing_sig = small.get(at), small.get(signature_path(cid))
        if listing is None or listing_sig is None:
            missing = at if listing is None else signature_path(cid)
            out.append(Mismatch(missing, "missing", f"the list of component {name} is missing"))
            continue
        if digest(listing) != cid:
            out.append(Mismatch(at, "hash", f"does not hash to {name}'s id in {CD_RELEASE}"))
            continue
        why = check_signature(listing, listing_sig, public_key_pem, at)
        if why:
            out.append(Mismatch(signature_path(cid), "signature", why))
            continue
        try:
            listed = decode_component_list(listing)
        except _DECODE_ERRORS as exc:
            out.append(Mismatch(at, "hash", f"signed but malformed ({exc})"))
            continue
        if listed.component != name:
            out.append(Mismatch(at, "hash", f"lists component {listed.component}, not {name}"))
            continue
        out.extend(_compare_component(name, listed.files, observed))
    out.extend(
        Mismatch(path, "unlisted", f"not in any component of {CD_RELEASE}")
        for path in sorted(observed)
        if _is_component_path(path) and _mount_of(path, record.components) is None
    )
    out.extend(
        Mismatch(path, "unlisted", f"a component list {CD_RELEASE} does not name")
        for path in sorted(small)
        if path.startswith(CD_COMPONENTS + "/") and path not in referenced
    )
    return sorted(out, key=lambda m: (m.path, m.problem))


def _compare_component(
    name: str, listed: Mapping[str, tuple[int, str]], observed: Mapping[str, Observed]
) -> list[Mismatch]:
    """The files under ``name``'s mount against its list."""
    prefix = mount(name) + "/"
    out = []
    for rel, (size, sha256) in listed.items():
        seen = observed.get(prefix + rel)
        if seen is None or seen.size is None:
            out.append(Mismatch(prefix + rel, "missing", f"listed in component {name}, missing"))
        elif seen.size != size or (seen.sha256 is not None and seen.sha256 != sha256):
            out.append(Mismatch(prefix + rel, "hash", f"differs from component {name}'s list"))
    out.extend(
        Mismatch(path, "unlisted", f"not in component {name}'s list")
        for path in sorted(observed)
        if path.startswith(prefix) and path[len(prefix) :] not in listed
    )
    return out
