"""The demo image, built for real, read back by pycdlib and xorriso, and run."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys

import pycdlib
import pytest

from esecure import __version__
from esecure.autorun import AutorunSpec, freedesktop_autorun
from esecure.bundle.manifest import MANIFEST_NAME
from esecure_onkey.layout import CD_RELEASE
from tests.onkey_child import runtime_dir

from .test_fat import minfo

pytestmark = pytest.mark.slow
MIB = 1024 * 1024


def _pycdlib(path):
    reader = pycdlib.PyCdlib()
    reader.open(str(path))
    return reader


def _get(reader, **kwargs) -> bytes:
    buf = io.BytesIO()
    reader.get_file_from_iso_fp(buf, **kwargs)
    return buf.getvalue()


def _tree(reader, **kwargs) -> set[str]:
    out = set()
    for directory, _dirs, files in reader.walk(**kwargs):
        base = directory.rstrip("/")
        out.update(f"{base}/{f}" for f in files)
    return out


def test_layout_holds_every_part(extracted):
    """The CD-ROM root holds autorun.sh, launcher, runtime, the release's components (app,
    lib, Firefox, profile, trust), its release record and lists, guide and manifest; no
    drive icon, which only autorun.inf names (no Windows launcher, no autorun.inf)."""
    for rel in (
        "autorun.sh",
        "e-secure",
        "runtime-linux",
        "app/esecure/launcher/app.py",
        "app/product.json",
        "lib/linux/cryptography",
        "firefox/linux/distribution/policies.json",
        "firefox/linux/distribution/certificates/e-secure-ca.pem",
        "profile/user.js",
        "trust/ca.pem",
        "trust/image-signing.pub.pem",
        "release.json",
        "release.json.sig",
        "components",
        "guide/index.html",
        "MANIFEST.json",
        "MANIFEST.json.sig",
        "branding/logo.png",
    ):
        assert (extracted / rel).exists(), rel
    assert not (extracted / "e-secure.ico").exists()
    assert not (extracted / "product.json").exists()  # app/product.json now
    assert not (extracted / "lib/linux/setuptools").exists()
    assert list((extracted / "app/esecure/__pycache__").glob("*.pyc"))


def test_app_carries_esecure_alone_and_lib_no_esecure(extracted):
    """app/ holds the esecure package, product.json and the licence folder only (no
    esecure_onkey: the bootstrap's runtime is the one copy); lib/linux holds no esecure or
    esecure_onkey."""
    names = sorted(p.name for p in (extracted / "app").iterdir())
    assert names == ["esecure", "licenses", "product.json"]
    lib = {p.name for p in (extracted / "lib" / "linux").iterdir()}
    assert not lib & {"esecure", "esecure_onkey"}
    assert not [n for n in lib if n.startswith("esecure-")]
    assert {"cryptography", "tufup"} <= lib


def test_pycdlib_reads_label_joliet_and_rock_ridge(demo_image):
    """pycdlib sees the volume label, and the same files in the Joliet and Rock Ridge trees."""
    reader = _pycdlib(demo_image.cdrom)
    try:
        assert reader.pvd.volume_identifier.rstrip() == b"E_SECURE"
        rr = _tree(reader, rr_path="/")
        joliet = _tree(reader, joliet_path="/")
        assert rr == joliet
        assert "/firefox/linux/distribution/policies.json" in rr
        assert "/autorun.sh" in rr
        launcher = _get(reader, rr_path="/e-secure")
        assert launcher[:4] == b"\x7fELF"
        assert launcher == _get(reader, joliet_path="/e-secure")
    finally:
        reader.close()


def test_xorriso_agrees_with_pycdlib(demo_image, extracted):
    """xorriso's extraction has the autorun.sh and launcher bytes pycdlib reads."""
    reader = _pycdlib(demo_image.cdrom)
    try:
        assert (extracted / "autorun.sh").read_bytes() == _get(reader, rr_path="/autorun.sh")
        assert (extracted / "e-secure").read_bytes() == _get(reader, rr_path="/e-secure")
    finally:
        reader.close()
    pvd = subprocess.run(
        ["xorriso", "-indev", str(demo_image.cdrom), "-pvd_info"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Volume Id    : E_SECURE" in pvd.stdout
    joliet = subprocess.run(
        ["xorriso", "-rockridge", "off", "-indev", str(demo_image.cdrom), "-ls", "/"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for name in ("autorun.sh", "e-secure", "MANIFEST.json.sig", "runtime-linux"):
        assert f"'{name}'" in joliet.stdout, name


def _xorriso_files(iso, *mode: str) -> set[str]:
    proc = subprocess.run(
        ["xorriso", *mode, "-indev", str(iso), "-find", "/", "-type", "f"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {line.strip("'") for line in proc.stdout.splitlines() if line.startswith("'/")}


def test_xorriso_joliet_and_rock_ridge_trees_match_pycdlibs(demo_image):
    """xorriso lists the same files as pycdlib, in the Joliet tree and in the Rock Ridge one."""
    reader = _pycdlib(demo_image.cdrom)
    try:
        expected = _tree(reader, rr_path="/")
    finally:
        reader.close()
    assert _xorriso_files(demo_image.cdrom) == expected
    assert _xorriso_files(demo_image.cdrom, "-rockridge", "off") == expected


def test_linux_only_image_has_no_autorun_inf_and_says_why(demo_image, extracted):
    """The demo image holds no Windows launcher: no autorun.inf in either ISO tree, nor in
    the signed manifest or the build report, and the build's output says why and how to
    get one; autorun.sh starts the Linux launcher the image holds."""
    reader = _pycdlib(demo_image.cdrom)
    try:
        for tree in ({"rr_path": "/"}, {"joliet_path": "/"}):
            names = {n.lower() for n in _tree(reader, **tree)}
            assert "/autorun.inf" not in names, tree
            assert "/e-secure.exe" not in names, tree
    finally:
        reader.close()
    assert not (extracted / "autorun.inf").exists()
    listed = {f["path"] for f in json.loads((extracted / MANIFEST_NAME).read_text())["files"]}
    assert "autorun.inf" not in listed
    assert "autorun.sh" in listed
    report = json.loads((demo_image.out / "build-report.json").read_text())
    assert report["autorun"] == ["autorun.sh"]
    assert (
        "  warning: no autorun.inf: this image holds no Windows launcher (e-secure.exe), so "
        'Windows would have nothing to start on insertion. For one, add "windows" to [image] '
        "platforms and pass --launcher-dir windows=DIR (a launcher frozen on Windows)"
    ) in demo_image.stderr.splitlines()
    spec = AutorunSpec(launcher="e-secure.exe", icon=None, label="x", action="y")
    assert (extracted / "autorun.sh").read_bytes() == freedesktop_autorun(spec)
    assert (extracted / spec.linux_launcher).is_file()


def test_data_image_is_clean_fat(demo_image):
    """fsck.fat -n finds data.img clean."""
    proc = subprocess.run(
        ["/usr/sbin/fsck.fat", "-n", str(demo_image.data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_data_image_is_the_plans_minimum_with_4_kib_clusters_on_1_mib(demo_image):
    """The demo leaves data_size_mib unset: data.img is its budget's minimum (printed, and
    in the report), holds Firefox three times over, and minfo reads 4 KiB clusters with the
    data on a 1 MiB boundary."""
    report = json.loads((demo_image.out / "build-report.json").read_text())
    data = report["data_partition"]
    minimum = data["budget"]["minimum_mib"]
    firefox = data["budget"]["components"]["firefox-linux"]["on_disk"]
    assert data["size_mib"] == minimum
    assert minimum * MIB > 3 * firefox
    assert demo_image.data.stat().st_size == minimum * MIB
    assert f"data partition: {minimum} MiB, from the plan's budget" in demo_image.stdout
    assert "data partition budget, by this rule:" in demo_image.stderr
    geometry = minfo(demo_image.data)
    assert geometry["cluster sectors"] * geometry["sector size"] == 4096
    assert (geometry["reserved"] + 2 * geometry["fat sectors"]) * 512 % MIB == 0


def test_build_report_lists_every_file(demo_image, extracted):
    """build-report.json has each file's size and SHA-256, the tools, and the steps' times."""
    report = json.loads((demo_image.out / "build-report.json").read_text())
    manifest = json.loads((extracted / MANIFEST_NAME).read_text())
    assert report["files"] == manifest["files"]
    assert report["components"] == json.loads((extracted / CD_RELEASE).read_text())["components"]
    assert {"pyinstaller", "pycdlib", "python", "mkfs.fat"} <= set(report["tools"])
    assert [s["step"] for s in report["steps"]][:2] == [
        "check the project",
        "freeze the linux launcher",
    ]
    assert report["outputs"]["cdrom.iso"]["size"] == demo_image.cdrom.stat().st_size
    assert "will not update" in report["updates"]
    assert "will not update" in demo_image.stderr


def test_build_shows_progress(demo_image):
    """The long steps report progress on the terminal."""
    assert "Firefox: 100%" in demo_image.stderr
    assert "ISO: 100%" in demo_image.stderr
    assert "freezing the bootstrap" in demo_image.stderr
    assert "PyInstaller: building the executable" in demo_image.stderr


def test_launcher_from_the_image_prints_its_version(extracted):
    """The extracted launcher runs: --version."""
    proc = subprocess.run(
        [str(extracted / "e-secure"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"e-secure {__version__} (application shipped on the CD-ROM")


def test_launcher_version_does_not_import_heavy_modules(extracted):
    """--version, run from the image's app/ and lib/, imports neither tufup, setuptools nor
    crypto.

    The on-key package comes from the bootstrap's runtime (the image's app/ and lib/ never
    carry it): here a copy of it stands in for runtime-linux/."""
    assert not (extracted / "lib" / "linux" / "esecure_onkey").exists()
    assert not (extracted / "app" / "esecure_onkey").exists()
    code = (
        "import sys; sys.path[:0] = sys.argv[1:4];"
        "from esecure.launcher.app import main; main(['--version']);"
        "print(sorted(m.split('.')[0] for m in sys.modules))"
    )
    app, lib = str(extracted / "app"), str(extracted / "lib" / "linux")
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, app, lib, runtime_dir()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = set(ast.literal_eval(proc.stdout.splitlines()[-1]))
    assert "esecure" in loaded
    assert not loaded & {"tufup", "setuptools", "cryptography", "webview", "tuf", "requests"}


def test_firefox_from_the_image_runs(extracted):
    """The copied Firefox starts from the image (--version)."""
    proc = subprocess.run(
        [str(extracted / "firefox/linux/firefox-esr"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(extracted.parent)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "Firefox" in proc.stdout
