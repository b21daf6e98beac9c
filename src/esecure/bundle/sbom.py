"""What an image ships, part by part: the SBOM (CycloneDX 1.5 JSON) and its licence texts.

Each copy step of the build hands over *origins* — which file of the image came from
where — and this module turns them into :class:`Part` records (one per piece of software:
a Python distribution, a Debian package, Firefox, CPython, PyInstaller's bootloader,
e-secure), each with the image paths of its files and the licence texts that go with it:

* :func:`debian_parts` — ``{image path: source path on the build host}`` of copied native
  libraries; each source is looked up with ``dpkg -S`` and ``dpkg-query`` (package,
  version, architecture → ``pkg:deb/debian/...``), its licence text is the package's
  ``/usr/share/doc/<package>/copyright``. A source no package owns is ES928.
* :func:`firefox_part` — the origins :func:`esecure.bundle.firefox.copy_firefox` returns.
* :func:`distribution_parts` — a ``lib/<platform>/`` as laid out (its ``.dist-info``
  metadata, RECORD and licence files: works for a host-assembled lib and for one from a
  ``--launcher-dir`` alike).
* :func:`runtime_parts` — the frozen bootstrap and its contents directory.

:func:`esecure.bundle.licences.write_folder` writes the texts and the SBOM into one folder
(``app/licenses/``, docs/image-contents.md says why there). Everything is sorted and carries no
clock: the same inputs give the same bytes.

CycloneDX rather than SPDX: a component lists the image paths of its files in
``evidence.occurrences`` (no per-file element with a mandatory SHA-1, as SPDX 2.3 files
need; the signed manifest already holds every file's SHA-256), and purls are first-class.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import platform as host_platform
import re
import sys
import sysconfig
import uuid
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from esecure import __version__
from esecure._tools import SYSTEM, Runner, Tool
from esecure.errors import ToolError

__all__ = [
    "OWN_FILES",
    "SBOM_NAME",
    "Part",
    "Text",
    "cyclonedx",
    "debian_parts",
    "distribution_parts",
    "esecure_part",
    "firefox_part",
    "firefox_version",
    "merge",
    "own_file",
    "runtime_parts",
]

SBOM_NAME = "sbom.cdx.json"
DPKG = Tool("dpkg", "sudo apt-get install dpkg")
DPKG_QUERY = Tool("dpkg-query", "sudo apt-get install dpkg")
_NEEDED_BY = "the image's SBOM (which Debian package a copied library comes from)"
_TIMEOUT = 120

OWN_FILES: tuple[tuple[str, str], ...] = (
    ("MANIFEST.json", "the signed manifest"),
    ("MANIFEST.json.sig", "the signed manifest"),
    ("release.json", "the release record"),
    ("release.json.sig", "the release record"),
    ("components/*", "the components' signed file lists"),
    ("autorun.inf", "written from the project"),
    ("autorun.sh", "written from the project"),
    ("*.ico", "the project's drive icon"),
    ("branding/*", "the project's branding"),
    ("guide/*", "the project's user guide"),
    ("app/product.json", "written from the project"),
    ("app/licenses/*", "this folder: the licence texts and the SBOM"),
    ("profile/*", "written from the project (user.js)"),
    ("trust/*", "the project's CA, image-signing key and TUF root"),
    ("firefox/*/distribution/*", "written from the project (policies, CA)"),
)
"""Files of an image that are no third party's software: e-secure writes them from the
project. The SBOM names every other file in a component (tests/bundle/test_sbom.py)."""


def own_file(path: str) -> bool:
    """Whether an image path is one of e-secure's own written files (:data:`OWN_FILES`)."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern, _why in OWN_FILES)


@dataclass(frozen=True)
class Text:
    """A licence text: its file name in the part's folder, and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Part:
    """One piece of software on the image."""

    key: str  # bom-ref and folder name under licenses/: "pypi-cryptography", "deb-libssl3"
    name: str
    version: str
    purl: str
    kind: str  # CycloneDX component type: "library", "application", "framework"
    licence: str = ""  # an SPDX expression when the part declares one
    licence_name: str = ""  # else what it declares in words
    texts: tuple[Text, ...] = ()
    files: frozenset[str] = field(default_factory=frozenset)  # image paths, POSIX


def merge(parts: Iterable[Part]) -> list[Part]:
    """One part per key (a library copied twice, by the freeze and beside Firefox, is one
    package with both files), sorted by key."""
    out: dict[str, Part] = {}
    for part in parts:
        known = out.get(part.key)
        out[part.key] = part if known is None else replace(known, files=known.files | part.files)
    return [out[k] for k in sorted(out)]


# --- Debian packages ------------------------------------------------------------------------


def _variants(path: Path) -> list[str]:
    """The names dpkg may know a file by: as given and resolved, with and without /usr
    (merged-/usr systems keep the packages' own spelling)."""
    out: list[str] = []
    for p in (str(path), str(path.resolve())):
        for q in (p, p.removeprefix("/usr") if p.startswith("/usr/lib") else "/usr" + p):
            if q not in out and q.startswith("/"):
                out.append(q)
    return out


def _owners(paths: Iterable[Path], runner: Runner) -> dict[Path, str]:
    """Source path -> the package (``name:arch``) that installed it, for those dpkg knows."""
    wanted = {v: p for p in paths for v in _variants(p)}
    if not wanted:
        return {}
    # dpkg -S exits 1 when any path is unowned: the caller names those
    args = ["-S", *sorted(wanted)]
    result = runner.run(
        DPKG, args, needed_by=_NEEDED_BY, code="ES928", timeout=_TIMEOUT, check=False
    )
    out: dict[Path, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith(("diversion by", "local diversion")) or ": " not in line:
            continue
        packages, _, name = line.partition(": ")
        source = wanted.get(name.strip())
        if source is not None and "," not in packages:
            out.setdefault(source, packages.strip())
    return out


def _package_info(packages: Iterable[str], runner: Runner) -> dict[str, tuple[str, str]]:
    """``name[:arch]`` -> (version, architecture), from dpkg-query."""
    names = sorted(set(packages))
    if not names:
        return {}
    result = runner.run(
        DPKG_QUERY,
        ["-W", "-f", "${binary:Package}\t${Version}\t${Architecture}\n", *names],
        needed_by=_NEEDED_BY,
        code="ES928",
        timeout=_TIMEOUT,
    )
    out: dict[str, tuple[str, str]] = {}
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3:
            name, version, arch = fields
            out[name] = (version, arch)
            out[name.split(":")[0]] = (version, arch)
    return out


def _copyright(package: str) -> tuple[Text, ...]:
    path = Path("/usr/share/doc") / package.split(":", maxsplit=1)[0] / "copyright"
    return (Text("copyright", path.read_bytes()),) if path.is_file() else ()


def _deb_part(package: str, version: str, arch: str, files: Iterable[str]) -> Part:
    name = package.split(":", maxsplit=1)[0]
    return Part(
        key=f"deb-{name}",
        name=name,
        version=version,
        purl=f"pkg:deb/debian/{name}@{quote(version, safe='.-_~')}?arch={arch}",
        kind="library",
        licence_name=f"see /usr/share/doc/{name}/copyright (Debian)",
        texts=_copyright(name),
        files=frozenset(files),
    )


def debian_parts(origins: Mapping[str, Path], *, runner: Runner = SYSTEM) -> list[Part]:
    """The Debian packages of copied files: ``origins`` maps each image path to the file of
    the build host it was copied from (symlinks allowed). One part per package, with its
    files; a source no package owns is ES928, naming every such file."""
    owners = _owners(set(origins.values()), runner)
    lost = sorted(image for image, source in origins.items() if source not in owners)
    if lost:
        raise ToolError(
            f"no Debian package owns {', '.join(f'{p} (from {origins[p]})' for p in lost)}: "
            "the SBOM cannot say what it is. Copy libraries installed with apt-get only",
            code="ES928",
        )
    info = _package_info(owners.values(), runner)
    by_package: dict[str, list[str]] = {}
    for image, source in origins.items():
        by_package.setdefault(owners[source], []).append(image)
    out = []
    for package, files in by_package.items():
        version, arch = info.get(package, ("unknown", "unknown"))
        out.append(_deb_part(package, version, arch, files))
    return merge(out)


# --- Firefox --------------------------------------------------------------------------------

_LICENSE_HTML = "chrome/toolkit/content/global/license.html"
_MPL = Path("/usr/share/common-licenses/MPL-2.0")


def firefox_version(directory: Path) -> str:
    """The ``Version=`` of an installation's application.ini, else "unknown"."""
    ini = directory / "application.ini"
    with contextlib.suppress(OSError):
        for line in ini.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Version="):
                return line.split("=", 1)[1].strip()
    return "unknown"


def _about_license(omni: Path) -> tuple[Text, ...]:
    """about:license (the notices of everything Firefox bundles), from its omni.ja."""
    try:
        with zipfile.ZipFile(omni) as archive:
            return (Text("about-license.html", archive.read(_LICENSE_HTML)),)
    except (OSError, KeyError, zipfile.BadZipFile):
        return ()


def firefox_part(
    source: Path, copied: Mapping[str, Path], prefix: str, *, runner: Runner = SYSTEM
) -> Part:
    """Firefox from the origins :func:`esecure.bundle.firefox.copy_firefox` returned
    (relative path -> source) for a copy of ``source`` at ``prefix`` (``firefox/linux``):
    its version
    from application.ini, its Debian package when dpkg installed it (purl, copyright),
    MPL-2.0 and about:license."""
    version = firefox_version(source)
    texts: list[Text] = []
    program = sorted(copied.values())[:1]
    owners = _owners(program, runner) if sys.platform.startswith("linux") else {}
    purl = f"pkg:generic/mozilla/firefox@{quote(version, safe='.-_~')}"
    if owners:
        package = next(iter(owners.values()))
        deb_version, arch = _package_info([package], runner).get(package, (version, "unknown"))
        name = package.split(":")[0]
        purl = f"pkg:deb/debian/{name}@{quote(deb_version, safe='.-_~')}?arch={arch}"
        texts.extend(_copyright(name))
    if _MPL.is_file():
        texts.append(Text("MPL-2.0.txt", _MPL.read_bytes()))
    for omni in ("omni.ja", "browser/omni.ja"):
        if omni in copied and not any(t.name == "about-license.html" for t in texts):
            texts.extend(_about_license(copied[omni]))
    return Part(
        key="firefox",
        name="Firefox ESR",
        version=version,
        purl=purl,
        kind="application",
        licence="MPL-2.0",
        texts=tuple(texts),
        files=frozenset(f"{prefix}/{rel}" for rel in copied),
    )


# --- Python distributions -------------------------------------------------------------------

_LICENCE_NAME = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
_MIT = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    'software and associated documentation files (the "Software"), to deal in the Software '
    "without restriction, including without limitation the rights to use, copy, modify, "
    "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to "
    "permit persons to whom the Software is furnished to do so, subject to the following "
    "conditions:\n\nThe above copyright notice and this permission notice shall be included "
    'in all copies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED "AS '
    'IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE '
    "WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN "
    "NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR "
    "OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT "
    "OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n"
)
DECLARED_ONLY: Mapping[str, str] = {"proxy-tools": "MIT"}
"""Distributions that declare a licence in their metadata but ship no licence file: the
text of the licence they declare is written for them, with their author as the copyright
holder (docs/image-contents.md). Any other distribution without a licence file is ES929."""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _metadata(info: Path) -> dict[str, list[str]]:
    parsed = HeaderParser().parsestr((info / "METADATA").read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for key, value in parsed.items():
        out.setdefault(key, []).append(str(value))
    return out


def _licence_of(meta: Mapping[str, list[str]]) -> tuple[str, str]:
    """(SPDX expression, words) a distribution declares."""
    expression = (meta.get("License-Expression") or [""])[0].strip()
    if expression:
        return expression, ""
    text = (meta.get("License") or [""])[0].strip()
    if text and "\n" not in text and len(text) <= 80:
        return "", text
    classifiers = [
        c.rsplit("::", 1)[1].strip()
        for c in meta.get("Classifier", [])
        if c.startswith("License ::") and c.count("::") >= 2
    ]
    return "", "; ".join(classifiers) or (text.splitlines()[0] if text else "")


def _record_paths(info: Path) -> list[str]:
    record = info / "RECORD"
    if not record.is_file():
        top = info / "top_level.txt"
        names = top.read_text(encoding="utf-8").split() if top.is_file() else []
        return [f"{n}/" for n in names] + [f"{n}.py" for n in names]
    out = []
    for line in record.read_text(encoding="utf-8").splitlines():
        path = line.rsplit(",", 2)[0].strip('"')
        if path and not path.startswith(("..", "/")):
            out.append(path)
    return out


def _source_of(rel: str) -> str:
    """``pkg/__pycache__/mod.cpython-311.pyc`` -> ``pkg/mod.py``: a compiled module belongs
    where its source does."""
    path = PurePosixPath(rel)
    if path.parent.name == "__pycache__" and path.suffix == ".pyc":
        return (path.parent.parent / (path.name.split(".", 1)[0] + ".py")).as_posix()
    return rel


def _text_name(rel: str) -> str:
    """``licenses/sub/LICENSE`` -> ``sub-LICENSE``: one flat folder per part."""
    return rel.removeprefix("licenses/").replace("/", "-")


def _dist_texts(info: Path, name: str, meta: Mapping[str, list[str]]) -> tuple[Text, ...]:
    found = sorted(p for p in info.rglob("*") if p.is_file() and _LICENCE_NAME.search(p.name))
    texts = [Text(_text_name(p.relative_to(info).as_posix()), p.read_bytes()) for p in found]
    declared = DECLARED_ONLY.get(_canonical(name))
    if not texts and declared == "MIT":
        holder = (meta.get("Author") or meta.get("Author-email") or [name])[0]
        texts.append(Text("LICENSE", f"MIT License\n\nCopyright (c) {holder}\n\n{_MIT}".encode()))
    return tuple(texts)


def _pypi_part(
    name: str,
    version: str,
    meta: Mapping[str, list[str]],
    texts: tuple[Text, ...],
    *,
    kind: str = "library",
    files: Iterable[str] = (),
) -> Part:
    expression, words = _licence_of(meta)
    return Part(
        key=f"pypi-{_canonical(name)}",
        name=name,
        version=version,
        purl=f"pkg:pypi/{_canonical(name)}@{quote(version, safe='.-_~')}",
        kind=kind,
        licence=expression,
        licence_name=words,
        texts=texts,
        files=frozenset(files),
    )


def distribution_parts(lib: Path, prefix: str) -> list[Part]:
    """Every distribution of a laid-out ``lib/<platform>/`` (at ``prefix`` on the image),
    from its ``.dist-info`` (METADATA; RECORD for its files, else top_level.txt; its licence
    files). A file of ``lib`` no distribution claims is ES928; a distribution without a
    licence text is ES929 (:data:`DECLARED_ONLY` aside)."""
    present = sorted(p.relative_to(lib).as_posix() for p in lib.rglob("*") if p.is_file())
    exact: dict[str, str] = {}  # a path RECORD names -> its part
    folders: dict[str, str] = {}  # a .dist-info, or a package top_level.txt names -> its part
    parts: list[Part] = []
    for info in sorted(lib.glob("*.dist-info")):
        meta = _metadata(info)
        name, version = meta["Name"][0], meta["Version"][0]
        key = f"pypi-{_canonical(name)}"
        folders.setdefault(info.name, key)
        for path in _record_paths(info):
            target = folders if path.endswith("/") else exact
            target.setdefault(path.rstrip("/"), key)
        texts = _dist_texts(info, name, meta)
        if not texts:
            raise ToolError(
                f"{name} {version} ({info}) ships no licence text and declares none e-secure "
                "knows the text of: add it to esecure.bundle.sbom.DECLARED_ONLY with the "
                "licence its metadata names, or leave the distribution out",
                code="ES929",
            )
        parts.append(_pypi_part(name, version, meta, texts))
    owner: dict[str, str] = {}
    for rel in present:
        key_ = exact.get(rel) or exact.get(_source_of(rel)) or folders.get(rel.split("/")[0])
        if key_ is not None:
            owner[rel] = key_
    stray = [rel for rel in present if rel not in owner]
    if stray:
        raise ToolError(
            f"{prefix}: no distribution's RECORD names {', '.join(stray[:10])}"
            + (f" (and {len(stray) - 10} more)" if len(stray) > 10 else "")
            + ": the SBOM cannot say what they are. Rebuild the launcher directory",
            code="ES928",
        )
    files: dict[str, set[str]] = {}
    for rel, key in owner.items():
        files.setdefault(key, set()).add(f"{prefix}/{rel}")
    return merge(replace(p, files=frozenset(files.get(p.key, ()))) for p in parts)


# --- the runtime, CPython, PyInstaller, e-secure ----------------------------------------------


def _python_licence() -> tuple[Text, ...]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in (stdlib / "LICENSE.txt", Path(sys.base_prefix) / "LICENSE.txt"):
        if path.is_file():
            return (Text("LICENSE.txt", path.read_bytes()),)
    return ()


def cpython_part(files: Iterable[str], version: str | None = None) -> Part:
    """CPython (its standard library, interpreter library and extension modules)."""
    v = version or host_platform.python_version()
    return Part(
        key="cpython",
        name="CPython",
        version=v,
        purl=f"pkg:generic/python@{v}",
        kind="framework",
        licence="PSF-2.0",
        texts=_python_licence(),
        files=frozenset(files),
    )


def _installed_part(dist_name: str, files: Iterable[str]) -> Part:
    from importlib import metadata  # noqa: PLC0415

    dist = metadata.distribution(dist_name)
    name, version = dist.metadata["Name"], dist.version
    base = Path(str(dist.locate_file("")))
    texts = tuple(
        Text(PurePosixPath(f).name, (base / f).read_bytes())
        for f in sorted(str(p) for p in dist.files or [])
        if ".dist-info" in f and _LICENCE_NAME.search(PurePosixPath(f).name)
    )
    meta = {k: [str(v) for v in dist.metadata.get_all(k) or []] for k in dist.metadata}
    return _pypi_part(name, version, meta, texts, kind="application", files=files)


def esecure_part(files: Iterable[str]) -> Part:
    """e-secure itself (Apache-2.0): its package in ``app/`` and the bootstrap's code."""
    text = (Path(__file__).resolve().parents[1] / "LICENSE.txt").read_bytes()
    return Part(
        key="e-secure",
        name="e-secure",
        version=__version__,
        purl=f"pkg:pypi/esecure@{__version__}",
        kind="application",
        licence="Apache-2.0",
        texts=(Text("LICENSE.txt", text),),
        files=frozenset(files),
    )


_LDCONFIG = Tool("ldconfig", "sudo apt-get install libc-bin", also_in=("/usr/sbin", "/sbin"))


def _ldconfig(runner: Runner) -> dict[str, Path]:
    """soname -> path of the host's shared libraries (the loader's cache; 64-bit first)."""
    result = runner.run(_LDCONFIG, ["-p"], needed_by=_NEEDED_BY, code="ES928", timeout=_TIMEOUT)
    out: dict[str, Path] = {}
    for line in result.stdout.splitlines():
        left, arrow, path = line.partition("=>")
        if not arrow or not left.split():
            continue
        name = left.split()[0]
        if "x86-64" in left or "AArch64" in left or name not in out:
            out[name] = Path(path.strip())
    return out


_CPYTHON = re.compile(r"^(python\d|base_library\.zip|libpython|python\d+\.dll|.*\.pyd$)")


def runtime_parts(
    root: Path, executable: str, contents: str, platform: str, *, runner: Runner = SYSTEM
) -> list[Part]:
    """The frozen bootstrap at ``root``: its executable (PyInstaller's bootloader with
    CPython and e-secure's on-key code in its archive) and its contents directory, whose
    native libraries are looked up on the build host by name (Linux: the loader's cache,
    then dpkg) and whose standard library is CPython's. On Windows every library of the
    contents directory comes with CPython's installer (its LICENSE covers them)."""
    files = sorted(
        p.relative_to(root).as_posix() for p in (root / contents).rglob("*") if p.is_file()
    )
    python: list[str] = [executable]
    native: dict[str, Path] = {}
    libdir = Path(sysconfig.get_config_var("LIBDIR") or sys.base_prefix)
    cache = _ldconfig(runner) if platform == "linux" else {}
    for rel in files:
        name = PurePosixPath(rel).name
        inner = PurePosixPath(rel).relative_to(contents)
        if platform != "linux" or _CPYTHON.match(inner.parts[0]) or _CPYTHON.match(name):
            python.append(rel)
        elif name in cache:
            native[rel] = cache[name]
        elif (libdir / name).is_file():
            python.append(rel)  # beside the interpreter it was built with
        else:
            native[rel] = Path(name)  # not found: ES928 names it
    version = host_platform.python_version() if platform == "linux" else _dir_version(files)
    return merge(
        [
            cpython_part(python, version),
            _installed_part("pyinstaller", [executable]),
            esecure_part([executable]),
            *debian_parts(native, runner=runner),
        ]
    )


def _dir_version(files: Iterable[str]) -> str:
    for rel in files:
        match = re.search(r"python(\d)(\d+)\.dll$", rel)
        if match:
            return f"{match.group(1)}.{match.group(2)}"
    return "unknown"


# --- CycloneDX ------------------------------------------------------------------------------


def _component(part: Part, folder: str) -> dict[str, object]:
    licences: list[dict[str, object]] = []
    if part.licence:
        licences.append({"expression": part.licence})
    elif part.licence_name:
        licences.append({"license": {"name": part.licence_name}})
    return {
        "bom-ref": part.key,
        "type": part.kind,
        "name": part.name,
        "version": part.version,
        "purl": part.purl,
        "licenses": licences,
        "properties": [
            {"name": "e-secure:licence-texts", "value": f"{folder}/{part.key}/{t.name}"}
            for t in part.texts
        ],
        "evidence": {"occurrences": [{"location": f} for f in sorted(part.files)]},
    }


def cyclonedx(product: str, version: str, parts: Iterable[Part], folder: str) -> bytes:
    """The SBOM's bytes: CycloneDX 1.5 JSON, sorted, no clock (its serial number derives
    from its content). ``folder`` is where the licence texts are on the image."""
    components = [_component(p, folder) for p in merge(parts)]
    body = json.dumps(components, sort_keys=True).encode()
    serial = uuid.uuid5(
        uuid.NAMESPACE_URL, f"e-secure:{product}:{version}:" + hashlib.sha256(body).hexdigest()
    )
    doc = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{serial}",
        "version": 1,
        "metadata": {
            "component": {
                "bom-ref": "image",
                "type": "application",
                "name": product,
                "version": version,
            },
            "tools": {
                "components": [{"type": "application", "name": "e-secure", "version": __version__}]
            },
        },
        "components": components,
    }
    return (json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
