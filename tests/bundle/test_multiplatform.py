"""One image for two platforms: each with its bootstrap, contents directory, deps and Firefox
components; one app component for both.

The Windows launcher is a stand-in directory (tests/windows/ freezes the real one under
Wine), the Windows Firefox the mingw stand-in of tests/windows_firefox.py, pinned by its
tree hash; the Linux ones are the real frozen launcher from the demo image.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from esecure.autorun import AutorunSpec, autorun_inf
from esecure.bundle.manifest import MANIFEST_NAME
from esecure.cli import cli
from esecure.demo.images import copy_project, extract, run_build, standin_distribution
from esecure_onkey.layout import CD_COMPONENTS, CD_RELEASE
from tests.windows_firefox import windows_firefox

pytestmark = pytest.mark.slow


def test_linux_and_windows_share_one_image(demo_image, extracted, scratch):
    """Both bootstraps, runtime-*/, lib/*/ and firefox/*/ (with policies) are on the CD-ROM,
    one app/ built here (the Windows launcher's esecure left out), and release.json names
    the components of both platforms."""
    windows = scratch / "win-launcher"
    (windows / "runtime-windows").mkdir(parents=True)
    (windows / "e-secure.exe").write_bytes(b"MZ stand-in")
    (windows / "runtime-windows" / "python311.dll").write_bytes(b"dll stand-in")
    lib = windows / "lib" / "windows"
    for rel in ("esecure/launcher/app.py", "esecure_onkey/__init__.py"):
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_text("# stand-in\n")
    standin_distribution(lib, "cryptography", {"cryptography/__init__.py": b"# stand-in\n"})
    firefox, pin = windows_firefox(scratch / "firefox-win")
    project = copy_project(demo_image.project, scratch / "proj")
    config = project / "esecure.toml"
    head, signing = config.read_text().split("[signing]")
    # a stand-in PE cannot be signed: this project leaves [signing] empty
    signing = re.sub(r'(?m)^(certificate|key|ca_certificate) = ".*"$', r'\1 = ""', signing)
    head = head.replace('windows = ""', f'windows = "{firefox}"').replace(
        'windows_sha256 = ""', f'windows_sha256 = "{pin}"'
    )
    config.write_text(f"{head}[signing]{signing}")
    built = run_build(
        project,
        scratch / "out",
        scratch,
        args=("--launcher-dir", f"linux={extracted}", "--launcher-dir", f"windows={windows}"),
    )
    cd = extract(built.cdrom, scratch / "cd")
    for rel in (
        "e-secure",
        "e-secure.exe",
        "runtime-linux",
        "runtime-windows/python311.dll",
        "app/esecure/launcher/app.py",
        "lib/windows/cryptography/__init__.py",
        "firefox/windows/firefox.exe",
        "firefox/windows/distribution/policies.json",
        "firefox/linux/distribution/policies.json",
    ):
        assert (cd / rel).exists(), rel
    for rel in ("lib/windows/esecure", "lib/windows/esecure_onkey", "lib/linux/esecure"):
        assert not (cd / rel).exists(), rel  # one app, from this machine's esecure
    components = json.loads((cd / CD_RELEASE).read_text())["components"]
    assert sorted(components) == [
        "app",
        "deps-linux",
        "deps-windows",
        "firefox-linux",
        "firefox-windows",
        "profile",
        "trust",
    ]
    listing = (cd / CD_COMPONENTS / components["deps-windows"] / "list").read_text()
    assert "cryptography/__init__.py" in {f["path"] for f in json.loads(listing)["files"]}
    verified = CliRunner().invoke(cli, ["verify", str(cd), "--project", str(project)])
    assert verified.exit_code == 0, verified.output
    listed = {f["path"] for f in json.loads((cd / MANIFEST_NAME).read_text())["files"]}
    assert {"e-secure.exe", "runtime-windows/python311.dll"} <= listed
    report = json.loads((built.out / "build-report.json").read_text())
    assert sorted(report["platforms"]) == ["linux", "windows"]
    assert report["autorun"] == ["autorun.inf", "autorun.sh"]
    assert "no autorun.inf" not in built.stderr
    assert "warning: e-secure.exe is NOT Authenticode-signed ([signing] is empty)" in (
        built.stdout + built.stderr
    )
    # autorun.inf names exactly the Windows launcher and icon this image holds
    inf = (cd / "autorun.inf").read_bytes()
    assert inf == autorun_inf(
        AutorunSpec(
            launcher="e-secure.exe",
            icon="e-secure.ico",
            label="Demo Bank e-secure",
            action="Sogecash Net: e-secure",
        )
    )
    named = dict(line.split("=", 1) for line in inf.decode("ascii").splitlines()[1:])
    assert (cd / named["open"]).read_bytes() == b"MZ stand-in"
    assert (cd / named["icon"]).is_file()
    assert {"autorun.inf", "e-secure.ico"} <= listed
    assert "freeze" not in " ".join(s["step"] for s in report["steps"])
