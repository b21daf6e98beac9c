"""Diagnostics on the built demo image: the extracted launcher's ``e-secure --doctor`` and
``esecure doctor`` on the ISO (the image of tests/bundle/conftest.py, built once)."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from esecure.cli import cli
from tests.bundle.test_image_release import _bootstrap

pytestmark = pytest.mark.slow

REPORT_LINE = "Rapport pour l'assistance : "  # the demo project speaks French first


def _launcher(extracted: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    data.mkdir(exist_ok=True)
    return _bootstrap(extracted, data, *args)


def test_doctor_from_the_extracted_image_prints_the_table_and_the_report(extracted, tmp_path):
    """``e-secure --doctor`` from the CD-ROM tree: every row, the whole image hashed, the
    report saved in the data area and its path printed; nothing written on the CD-ROM."""
    data = tmp_path / "data"
    before = sorted(p for p in extracted.rglob("*"))
    proc = _launcher(extracted, data, "--doctor")
    assert sorted(p for p in extracted.rglob("*")) == before
    assert proc.returncode in (0, 1), proc.stderr[-3000:]  # 1: no server on the demo's port
    out = proc.stdout
    assert out.startswith("Diagnostic e-secure"), proc.stderr[-3000:]
    for title in ("Proxy", "Résolution de nom (DNS)", "Connexion (TCP)", "Horloge"):
        assert title in out
    image = next(line for line in out.splitlines() if "Contenu de la clé" in line)
    assert image.startswith("ok"), image
    assert "hashed in full" in image
    report = Path(out.strip().splitlines()[-1].removeprefix(REPORT_LINE))
    assert report.parent == data / "reports"
    with zipfile.ZipFile(report) as archive:
        assert "summary.txt" in archive.namelist()
        assert any(n.startswith("logs/") for n in archive.namelist())


def test_doctor_catches_a_flipped_byte_the_start_check_skips(extracted, flipped, tmp_path):
    """One flipped byte in Firefox's libxul.so: --self-check passes (sizes only there),
    --doctor fails with ES101 naming the file."""
    flipped("firefox/linux/libxul.so", 4096)
    data = tmp_path / "data"
    check = _launcher(extracted, data, "--self-check")
    assert check.returncode == 0, check.stderr
    proc = _launcher(extracted, data, "--doctor")
    assert proc.returncode == 1
    assert "firefox/linux/libxul.so: content differs" in proc.stdout
    assert "[ES101]" in proc.stdout


def test_esecure_doctor_on_the_iso(demo_image, tmp_path):
    """``esecure doctor cdrom.iso --offline``: extracted with pycdlib, every file hashed
    against the signed manifest, exit 0."""
    result = CliRunner().invoke(
        cli,
        ["--lang", "en", "doctor", str(demo_image.cdrom), "--offline", "--report", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "e-secure diagnostics" in result.output
    image = next(line for line in result.output.splitlines() if "Key contents" in line)
    assert image.startswith("ok"), image
    assert len(list(tmp_path.glob("e-secure-report-*.zip"))) == 1
