"""The checks of the key itself: the full hash of the CD-ROM and of a release running from
the data area (what the start check leaves out), free space, versions and identity."""

from __future__ import annotations

import json
from pathlib import Path

from esecure import __version__
from esecure.launcher.diagnostics import Limits, Subject, run_diagnostics
from esecure.launcher.diagnostics.local import identity, image_rows, space_row, versions
from esecure.launcher.selfcheck import self_check
from tests.launcher.diagnostics.conftest import flip
from tests.launcher.test_selfcheck import PLATFORM, POLICIES, _app_files, _from_store


def _subject(cd: Path, data: Path | None = None, choice=None) -> Subject:
    if choice is not None:
        return Subject.from_choice(choice, {"id": "p"})
    return Subject(cd, PLATFORM, cd / "app", cd / "trust", cd / "firefox" / PLATFORM, data, {})


def test_full_hash_catches_a_flipped_byte_the_start_check_skips(medium):
    """One flipped byte in Firefox's large library (same size): the start check passes,
    the diagnostics' full check fails with ES101 naming the file."""
    flip(medium / "firefox/linux/libxul.so")
    assert self_check(medium, platform=PLATFORM).files > 0  # the start check passes
    (row,) = image_rows(_subject(medium))
    assert row.status == "fail"
    assert row.code == "ES101"
    assert "firefox/linux/libxul.so: content differs" in row.detail
    assert "replacement" in row.advice.en


def test_full_hash_of_a_sound_key_is_ok(medium):
    """Every listed file hashed: ok, saying how many."""
    (row,) = image_rows(_subject(medium))
    assert row.status == "ok"
    assert row.detail.startswith("20 files match the signed manifest, 20 hashed in full")


def test_full_hash_covers_the_release_running_from_the_store(medium, tmp_path):
    """A Firefox update in the data area with a same-size change: the release row fails
    naming the file, while the start's check of that release passes."""
    firefox = {"libxul.so": b"new" * 1000, "distribution/policies.json": POLICIES}
    choice = _from_store(medium, tmp_path / "data", {"firefox-linux": firefox, "app": _app_files()})
    (choice.component("firefox") / "libxul.so").write_bytes(b"NEW" * 1000)
    rows = {r.check: r for r in image_rows(_subject(medium, choice=choice))}
    assert rows["image"].status == "ok"
    assert rows["image:release"].status == "fail"
    assert "libxul.so differs from the signed list" in rows["image:release"].detail


def test_free_space_thresholds(tmp_path):
    """Plenty: ok; under the warning bound: warning; under the failure bound: failure;
    no data area: a warning that says what is lost."""
    assert space_row(tmp_path, Limits()).status == "ok"
    assert space_row(tmp_path, Limits(free_warn_bytes=1 << 62)).status == "warn"
    full = Limits(free_warn_bytes=1 << 62, free_fail_bytes=1 << 61)
    assert space_row(tmp_path, full).status == "fail"
    assert space_row(tmp_path, Limits()).detail.endswith(f"({tmp_path})")
    none = space_row(None, Limits())
    assert (none.status, none.detail) == (
        "warn",
        "no data area: updates, the certificate and logs cannot be kept",
    )


def test_versions_and_identity(medium, tmp_path):
    """Launcher, CD-ROM release, Firefox (application.ini), OS; product facts and serial."""
    fx = medium / "firefox" / PLATFORM
    (fx / "application.ini").write_text("[App]\nVersion=153.8.0\n")
    (medium / "app" / "product.json").write_text(json.dumps({"version": "1.0.0"}))
    data = tmp_path / "data"
    data.mkdir()
    (data / "identity.json").write_text(json.dumps({"serial": "KEY-0042", "batch": "2026-01"}))
    subject = Subject(
        medium,
        PLATFORM,
        medium / "app",
        medium / "trust",
        fx,
        data,
        {"id": "demo-bank", "name": "e-secure", "support_phone": "+33 1", "colours": {"x": 1}},
    )
    found = versions(subject)
    assert found["launcher"] == __version__
    assert found["cd_release"] == "1.0.0"
    assert found["firefox"] == "153.8.0"
    assert found["platform"] == PLATFORM
    assert identity(subject) == {
        "id": "demo-bank",
        "name": "e-secure",
        "support_phone": "+33 1",
        "data_area": str(data),
        "serial": "KEY-0042",
        "batch": "2026-01",
    }


def test_a_check_that_outlives_its_deadline_is_a_row(medium, monkeypatch):
    """The image check blocks past its bound: the run ends anyway, with a failed row."""
    import threading  # noqa: PLC0415

    from esecure.launcher.diagnostics import runner  # noqa: PLC0415

    release = threading.Event()
    monkeypatch.setattr(runner, "image_rows", lambda _subject: release.wait(10) and [])
    try:
        diagnosis = run_diagnostics(
            _subject(medium), environ={}, offline=True, limits=Limits(image_deadline=0.2)
        )
    finally:
        release.set()
    row = next(r for r in diagnosis.rows if r.check == "image")
    assert (row.status, row.detail) == ("fail", "no result within 0.2 s")
