"""Personalisation: unique valid serials, a ledger across runs, resumable, the registry."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from esecure.bundle import personalize as p
from esecure.bundle.serials import check_character, is_valid
from esecure.cli import cli
from esecure.config import load_project
from esecure.server.admin import verify_registry_signature


def _run(project: Path, out: Path, *args: str):
    return CliRunner().invoke(
        cli, ["--lang", "en", "personalize", str(project), "--out", str(out), *args]
    )


def _serials(out: Path) -> list[str]:
    found = []
    for path in sorted((out / "registry").glob("*.csv")):
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        found.extend(r["serial"] for r in rows)
    return found


@pytest.mark.slow
def test_ten_thousand_keys_two_runs(demo_project, tmp_path):
    """10,000 distinct valid serials, each with its identity file; a second run is disjoint."""
    result = _run(demo_project, tmp_path / "a", "--count", "10000")
    assert result.exit_code == 0, result.output
    first = _serials(tmp_path / "a")
    assert len(first) == len(set(first)) == 10_000
    assert all(is_valid(s) for s in first)
    identity = json.loads((tmp_path / "a" / "identities" / f"{first[0]}.json").read_text())
    assert identity["format"] == 1
    assert identity["serial"] == first[0]
    assert {"batch", "created"} <= set(identity)
    second = _run(demo_project, tmp_path / "b", "--count", "500")
    assert second.exit_code == 0, second.output
    assert not set(_serials(tmp_path / "b")) & set(first)
    ledger = p.read_ledger(demo_project)
    assert len(ledger) == len({r.serial for r in ledger}) == 10_500


def test_registry_is_what_enrolment_imports(demo_project, tmp_path):
    """CSV with header serial,batch,created,product and a JSON list of the same objects, per
    batch, each with its Ed25519 signature by the image-signing key beside it."""
    assert _run(demo_project, tmp_path / "o", "--count", "25", "--batch-size", "10").exit_code == 0
    registry = tmp_path / "o" / "registry"
    csvs = sorted(registry.glob("*.csv"))
    assert len(csvs) == 3
    public = load_project(demo_project).trust.image_signing_public_key.read_bytes()
    for path in csvs:
        text = path.read_text()
        assert text.splitlines()[0] == "serial,batch,created,product"
        rows = list(csv.DictReader(io.StringIO(text)))
        assert json.loads(path.with_suffix(".json").read_text()) == rows
        assert {r["batch"] for r in rows} == {path.stem}
        assert {r["product"] for r in rows} == {load_project(demo_project).product.id}
        for signed in (path, path.with_suffix(".json")):
            sig = signed.with_name(signed.name + ".sig").read_bytes()
            verify_registry_signature(str(signed), signed.read_bytes(), sig, public)


def test_given_serials_are_checked(demo_project, tmp_path):
    """--serials refuses a bad check character, a duplicate and an issued serial (ES917)."""
    ok = _run(demo_project, tmp_path / "o", "--count", "2")
    issued = _serials(tmp_path / "o")
    listing = tmp_path / "serials.txt"
    good = "".join("A" for _ in range(13))
    good += check_character(good)
    bad = good[:-1] + ("B" if good[-1] != "B" else "C")
    listing.write_text(f"{good}\n{good}\n{bad}\n{issued[0]}\n")
    result = _run(demo_project, tmp_path / "g", "--serials", str(listing))
    assert ok.exit_code == 0
    assert result.exit_code == 2
    assert "ES917" in result.output
    assert "appears twice" in result.output
    assert "not a valid serial" in result.output
    assert "already issued" in result.output
    assert not (tmp_path / "g" / "registry").exists()


@pytest.mark.slow
def test_killed_run_resumes_with_disjoint_serials(demo_project, tmp_path):
    """A run killed mid-way, resumed with the same --out, ends with exactly N new serials."""
    before = _run(demo_project, tmp_path / "first", "--count", "300")
    assert before.exit_code == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "esecure",
            "personalize",
            str(demo_project),
            "--out",
            str(out),
            "--count",
            "20000",
            "--batch-size",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "registry").glob("*.csv"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    partial = len(list((out / "registry").glob("*.csv")))
    assert 3 <= partial < 100, "the run was not killed mid-way"
    resumed = _run(demo_project, out)
    assert resumed.exit_code == 0, resumed.output
    assert "resumed" in resumed.output
    got = _serials(out)
    assert len(got) == len(set(got)) == 20_000
    assert not set(got) & set(_serials(tmp_path / "first"))
    run = json.loads((out / "personalize-state.json").read_text())["run"]
    assert sum(1 for r in p.read_ledger(demo_project) if r.batch.startswith(run)) == 20_000


@pytest.mark.slow
def test_data_images_hold_the_identity(demo_project, tmp_path):
    """--data-images writes one clean FAT image per key, of the build's data partition size
    (its build-report.json), with its identity.json inside."""
    built = tmp_path / "image"
    built.mkdir()
    report = {"data_partition": {"size_mib": 258, "from": "the plan's budget"}}
    (built / "build-report.json").write_text(json.dumps(report))
    args = ("--count", "2", "--data-images", "--image-dir", str(built))
    result = _run(demo_project, tmp_path / "o", *args)
    assert result.exit_code == 0, result.output
    for serial in _serials(tmp_path / "o"):
        image = tmp_path / "o" / f"data-{serial}.img"
        assert image.stat().st_size == 258 * 1024 * 1024
        got = subprocess.run(
            ["mtype", "-i", str(image), "::/identity.json"],
            capture_output=True,
            timeout=30,
            check=True,
            env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"},
        )
        assert json.loads(got.stdout)["serial"] == serial


def test_data_images_need_a_size(demo_project, tmp_path):
    """No [image] data_size_mib and no --image-dir: exit 2 naming both ways, nothing written."""
    result = _run(demo_project, tmp_path / "o", "--count", "2", "--data-images")
    assert result.exit_code == 2
    assert (
        "--data-images needs the data partition's size: pass --image-dir DIR (the `esecure "
        "build --out` directory) or set [image] data_size_mib"
    ) in result.output
    assert not (tmp_path / "o").exists()


def test_resume_with_another_count_is_refused(demo_project, tmp_path):
    """An --out that holds a run of 5 keys is not silently reused for 7."""
    assert _run(demo_project, tmp_path / "o", "--count", "5").exit_code == 0
    again = _run(demo_project, tmp_path / "o", "--count", "7")
    assert again.exit_code == 2
    assert "of 5 keys, not 7" in again.output
    assert len(_serials(tmp_path / "o")) == 5
