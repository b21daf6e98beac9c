"""The SBOM and the licence folder: unit tests of the resolvers, and the built image's
SBOM compared with its files (the demo image of the session)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from esecure._tools import Result
from esecure.bundle import exclude, sbom
from esecure.bundle.licences import FOLDER, write_folder
from esecure.bundle.manifest import MANIFEST_NAME
from esecure.errors import ToolError
from esecure_onkey.layout import BUNDLED_LIBS_DIR
from tests.fake_runner import FakeRunner

# --- unit -------------------------------------------------------------------------------------


def _dist(lib: Path, name: str, files: list[str], *, licence: bool = True) -> None:
    info = lib / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.4\nName: {name}\nVersion: 1.0\n")
    record = [*files, f"{info.name}/METADATA"]
    if licence:
        (info / "licenses").mkdir()
        (info / "licenses" / "LICENSE").write_text("the licence")
        record.append(f"{info.name}/licenses/LICENSE")
    (info / "RECORD").write_text("".join(f"{r},,\n" for r in record))
    for rel in files:
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_text("x = 1\n")


def test_distributions_claim_their_files_and_compiled_modules(tmp_path):
    """Each file of lib/, its .pyc included, belongs to the distribution whose RECORD
    names it; the licence file becomes the part's text; purl and version from METADATA."""
    lib = tmp_path / "lib"
    _dist(lib, "alpha", ["alpha/__init__.py"])
    (lib / "alpha" / "__pycache__").mkdir()
    (lib / "alpha" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"pyc")
    [part] = sbom.distribution_parts(lib, "lib/linux")
    assert (part.key, part.version, part.purl) == ("pypi-alpha", "1.0", "pkg:pypi/alpha@1.0")
    assert "lib/linux/alpha/__pycache__/__init__.cpython-311.pyc" in part.files
    assert [t.name for t in part.texts] == ["LICENSE"]


def test_a_distribution_without_licence_text_is_es927(tmp_path):
    """A shipped distribution with no licence text stops the build, naming it."""
    lib = tmp_path / "lib"
    _dist(lib, "bare", ["bare.py"], licence=False)
    with pytest.raises(ToolError) as caught:
        sbom.distribution_parts(lib, "lib/linux")
    assert caught.value.code == "ES929"
    assert "bare 1.0" in str(caught.value)


def test_a_file_no_distribution_claims_is_es928(tmp_path):
    """A file of lib/ that no RECORD names would be on the image unaccounted for."""
    lib = tmp_path / "lib"
    _dist(lib, "alpha", ["alpha.py"])
    (lib / "mystery.so").write_bytes(b"?")
    with pytest.raises(ToolError) as caught:
        sbom.distribution_parts(lib, "lib/linux")
    assert caught.value.code == "ES928"
    assert "mystery.so" in str(caught.value)


def _dpkg(owned: dict[str, str]) -> FakeRunner:
    def answer(tool: str, args: tuple[str, ...]) -> Result:
        if tool == "dpkg":
            lines = [f"{owned[a]}: {a}" for a in args[1:] if a in owned]
            return Result(0 if lines else 1, "\n".join(lines) + "\n")
        names = args[3:]
        return Result(0, "".join(f"{n}\t1:2.0+dfsg-1\tamd64\n" for n in names))

    return FakeRunner(answer=answer)


def test_debian_parts_group_origins_by_package(tmp_path):
    """Origins (image path -> source on the build host) become one part per package,
    with the Debian version in the purl, percent-encoded."""
    runner = _dpkg(
        {"/usr/lib/libfoo.so.1": "libfoo1:amd64", "/usr/lib/libfoo2.so": "libfoo1:amd64"}
    )
    origins = {
        "firefox/linux/libfoo.so.1": Path("/usr/lib/libfoo.so.1"),
        "firefox/linux/libfoo2.so": Path("/usr/lib/libfoo2.so"),
    }
    parts = sbom.debian_parts(origins, runner=runner)
    [part] = parts
    assert part.key == "deb-libfoo1"
    assert part.purl == "pkg:deb/debian/libfoo1@1%3A2.0%2Bdfsg-1?arch=amd64"
    assert part.files == {"firefox/linux/libfoo.so.1", "firefox/linux/libfoo2.so"}


def test_a_library_no_package_owns_is_es928():
    """A copied library dpkg does not know is named; nothing is guessed."""
    with pytest.raises(ToolError) as caught:
        sbom.debian_parts({"firefox/linux/libx.so": Path("/opt/libx.so")}, runner=_dpkg({}))
    assert caught.value.code == "ES928"
    assert "firefox/linux/libx.so (from /opt/libx.so)" in str(caught.value)


def test_licence_folder_refuses_a_part_without_text(tmp_path):
    """write_folder writes nothing when a part has no licence text (ES929)."""
    part = sbom.Part("deb-x", "x", "1", "pkg:deb/debian/x@1", "library")
    with pytest.raises(ToolError) as caught:
        write_folder(tmp_path, [part], product="p", version="1")
    assert caught.value.code == "ES929"
    assert not (tmp_path / "app").exists()


def test_sbom_bytes_depend_on_content_alone():
    """Same parts in any order: same bytes (no clock, sorted)."""
    a = sbom.Part("pypi-a", "a", "1", "pkg:pypi/a@1", "library", "MIT", files=frozenset({"x", "y"}))
    b = sbom.Part("pypi-b", "b", "2", "pkg:pypi/b@2", "library", "MIT", files=frozenset({"z"}))
    one = sbom.cyclonedx("p", "1.0", [a, b], FOLDER)
    assert one == sbom.cyclonedx("p", "1.0", [b, a], FOLDER)
    doc = json.loads(one)
    assert (doc["bomFormat"], doc["specVersion"]) == ("CycloneDX", "1.5")
    assert "timestamp" not in json.dumps(doc)


# --- the built image --------------------------------------------------------------------------


def _image_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def image_sbom(extracted: Path) -> dict:
    return json.loads((extracted / FOLDER / sbom.SBOM_NAME).read_text(encoding="utf-8"))


@pytest.mark.slow
def test_sbom_accounts_for_every_file_of_the_image(extracted, image_sbom):
    """Every file of the CD-ROM is in a component's occurrences or is one of e-secure's
    own written files (sbom.OWN_FILES); every occurrence exists on the image."""
    files = _image_files(extracted)
    located = {
        o["location"] for c in image_sbom["components"] for o in c["evidence"]["occurrences"]
    }
    assert located - files == set()
    assert {f for f in files - located if not sbom.own_file(f)} == set()


@pytest.mark.slow
def test_sbom_names_firefox_every_distribution_and_library(extracted, image_sbom):
    """Firefox with application.ini's version, each .dist-info of lib/linux with its
    version, the runtime's native libraries as Debian packages, CPython and e-secure."""
    by_ref = {c["bom-ref"]: c for c in image_sbom["components"]}
    ini = (extracted / "firefox/linux/application.ini").read_text()
    version = re.search(r"^Version=(.+)$", ini, re.M)
    assert version is not None
    assert by_ref["firefox"]["version"] == version.group(1)
    assert by_ref["firefox"]["purl"].startswith("pkg:deb/debian/firefox-esr@")
    for info in (extracted / "lib/linux").glob("*.dist-info"):
        name, version_ = info.name.removesuffix(".dist-info").rsplit("-", 1)
        key = "pypi-" + re.sub(r"[-_.]+", "-", name).lower()
        assert by_ref[key]["version"] == version_, key
        assert by_ref[key]["purl"].startswith("pkg:pypi/")
    for lib in (extracted / "runtime-linux").glob("lib*.so*"):
        if lib.name.startswith("libpython"):
            continue
        owners = [
            c
            for c in image_sbom["components"]
            if {"location": f"runtime-linux/{lib.name}"} in c["evidence"]["occurrences"]
        ]
        assert [c["purl"].startswith("pkg:deb/debian/") for c in owners] == [True], lib.name
    assert {"cpython", "e-secure", "pypi-pyinstaller"} <= set(by_ref)
    bundled = sorted((extracted / "firefox/linux" / BUNDLED_LIBS_DIR).iterdir())
    assert bundled, "the Linux Firefox bundles the libraries a host may lack"
    for lib in bundled:
        location = {"location": f"firefox/linux/{BUNDLED_LIBS_DIR}/{lib.name}"}
        owners = [c for c in image_sbom["components"] if location in c["evidence"]["occurrences"]]
        assert [c["purl"].startswith("pkg:deb/debian/") for c in owners] == [True], lib.name


@pytest.mark.slow
def test_a_licence_text_exists_for_each_component(extracted, image_sbom):
    """Each component names at least one licence text in the folder, and it is there."""
    for component in image_sbom["components"]:
        texts = [
            p["value"] for p in component["properties"] if p["name"] == "e-secure:licence-texts"
        ]
        assert texts, component["bom-ref"]
        for text in texts:
            assert (extracted / text).stat().st_size > 0, text


@pytest.mark.slow
def test_sbom_is_in_the_signed_manifest(extracted):
    """The SBOM and the licence texts are listed in MANIFEST.json (and so signed)."""
    listed = {f["path"] for f in json.loads((extracted / MANIFEST_NAME).read_text())["files"]}
    assert f"{FOLDER}/{sbom.SBOM_NAME}" in listed
    assert f"{FOLDER}/firefox/MPL-2.0.txt" in listed


@pytest.mark.slow
def test_nothing_of_the_exclude_list_is_on_the_image(extracted):
    """No file the exclude list names is on the image: Firefox's crash reporter, updater,
    pingsender, ClearKey and firefox-bin; lib/'s tests and test data; the runtime's test
    extensions and terminal libraries."""
    ff = extracted / "firefox/linux"
    ff_files = _image_files(ff)
    assert {f for f in ff_files if exclude.firefox_excluded(f, "linux")} == set()
    assert "firefox-bin" not in ff_files
    assert "firefox-esr" in ff_files
    lib_files = _image_files(extracted / "lib/linux")
    assert {
        f for f in lib_files if ".dist-info/" not in f and exclude.deps_excluded(f, "linux")
    } == set()
    runtime = {Path(f).name.split(".", 1)[0] for f in _image_files(extracted / "runtime-linux")}
    for name, _reason in exclude.RUNTIME_MODULES:
        assert name not in runtime, name
    assert not {"libncursesw", "libreadline", "libtirpc", "libkrb5"} & runtime
