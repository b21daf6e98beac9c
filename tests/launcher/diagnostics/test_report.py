"""The table and the support report: readable, complete, and never a secret in the zip."""

from __future__ import annotations

import json
import logging
import tempfile
import zipfile
from pathlib import Path

import pytest

from esecure.launcher.diagnostics import MapRegistry, render_table, run_diagnostics, write_report
from esecure.launcher.diagnostics.proxy import INTERNET_SETTINGS
from esecure.launcher.diagnostics.report import KEEP_REPORTS, REPORTS_DIR
from esecure.launcher.logs import LOG_DIR, LOG_FILE, setup_logging
from tests.launcher.diagnostics.conftest import make_subject

ACTIVATION = "KX7P-Q2RM-9ZTB-WN4H"
KEY_SECRET = "4f1c0de5ecre7b17e5a11"
PEM = (
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
    "MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgPlantedKeyBytes0123\n"
    "-----END ENCRYPTED PRIVATE KEY-----\n"
)
COOKIE = "sessionid=c00k1e-value-42"
PAC_TOKEN = "pac-t0ken-77"
P12_PASSWORD = "p12-Planted-Pw"
SECRETS = [
    ACTIVATION,
    KEY_SECRET,
    "PlantedKeyBytes0123",
    "c00k1e-value-42",
    PAC_TOKEN,
    P12_PASSWORD,
]


@pytest.fixture
def planted(tmp_path, servers) -> tuple[Path, object]:
    """A data area holding every kind of secret, in the logs (through the logger and
    written raw, as an older launcher might have), pki/, the profile and state files."""
    data = tmp_path / "data"
    (data / "pki").mkdir(parents=True)
    (data / "pki" / "credential.pem").write_text(PEM)
    (data / "pki" / "secret").write_text(KEY_SECRET)
    (data / "profile").mkdir()
    (data / "profile" / "cookies.sqlite").write_text(COOKIE)
    (data / "state.json").write_text(json.dumps({"activation_code": ACTIVATION}))
    (data / "identity.json").write_text(json.dumps({"serial": "KEY-0001", "batch": "B1"}))
    setup = setup_logging(data)
    try:
        logging.getLogger("esecure.launcher").warning("enrolling with %s", ACTIVATION)
    finally:
        setup.close()
    with (data / LOG_DIR / LOG_FILE).open("a", encoding="utf-8") as raw:
        raw.write(f"raw: activation code {ACTIVATION}\nraw: Cookie: {COOKIE}\n{PEM}")
        raw.write(f"raw: pk12util -W {P12_PASSWORD}\nraw: key secret={KEY_SECRET}\n")
    (data / LOG_DIR / f"{LOG_FILE}.1").write_text(f"older: Authorization: Basic {KEY_SECRET}\n")
    subject = make_subject(tmp_path, servers, data_dir=data)
    return data, subject


def _windows_pac() -> MapRegistry:
    url = f"http://wpad.corp/proxy.pac?token={PAC_TOKEN}"
    return MapRegistry({("HKCU", INTERNET_SETTINGS, "AutoConfigURL"): url})


def test_attack_report_holds_no_secret(planted):
    """Secrets planted in logs, pki/, the profile, state and a row's detail: no member of
    the zip holds any of them; the logs are there, redacted."""
    data, subject = planted
    diagnosis = run_diagnostics(subject, environ={}, registry=_windows_pac(), offline=True)
    assert any(PAC_TOKEN in r.detail for r in diagnosis.rows)  # the row itself had it
    path = write_report(diagnosis, data_dir=data, lang="fr")
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        contents = {name: archive.read(name) for name in names}
    assert names == [
        "diagnostics.json",
        "identity.json",
        f"logs/{LOG_FILE}",
        f"logs/{LOG_FILE}.1",
        "summary.txt",
        "versions.json",
    ]
    for name, body in contents.items():
        for secret in SECRETS:
            assert secret.encode() not in body, f"{secret!r} leaked into {name}"
        assert b"PRIVATE KEY" not in body or b"[redacted private key]" in body
    log = contents[f"logs/{LOG_FILE}"].decode()
    assert "enrolling with [redacted]" in log
    assert "raw: Cookie: [redacted]" in log
    json.loads(contents["diagnostics.json"])  # still JSON after redaction


def test_report_says_what_support_needs(planted):
    """Summary (table in French then English), rows as JSON, versions, identity."""
    data, subject = planted
    diagnosis = run_diagnostics(subject, environ={}, offline=True)
    path = write_report(diagnosis, data_dir=data, lang="fr")
    assert path.parent == data / REPORTS_DIR
    with zipfile.ZipFile(path) as archive:
        summary = archive.read("summary.txt").decode()
        rows = json.loads(archive.read("diagnostics.json"))
        versions = json.loads(archive.read("versions.json"))
        identity = json.loads(archive.read("identity.json"))
    assert summary.startswith("Diagnostic e-secure")
    assert "e-secure diagnostics" in summary
    assert [r["check"] for r in rows["rows"]][:2] == ["proxy", "network"]
    assert rows["failed"] is True  # the empty CD-ROM fails the image check
    assert {"launcher", "cd_release", "firefox", "os", "python"} <= set(versions)
    assert identity["serial"] == "KEY-0001"
    assert identity["urls"]["site"] == subject.product["urls"]["site"]


def test_report_is_written_whole_and_old_ones_pruned(planted):
    """Temporary name, then rename (nothing else left); the newest KEEP_REPORTS stay."""
    data, subject = planted
    reports = data / REPORTS_DIR
    reports.mkdir()
    for day in range(1, 8):
        (reports / f"e-secure-report-2020010{day}T000000Z.zip").write_bytes(b"old")
    path = write_report(run_diagnostics(subject, environ={}, offline=True), data_dir=data)
    left = sorted(p.name for p in reports.iterdir())
    assert len(left) == KEEP_REPORTS
    assert path.name in left
    assert not [n for n in left if n.endswith(".tmp") or n.startswith(".")]
    assert zipfile.ZipFile(path).testzip() is None


def test_report_falls_back_to_the_temporary_folder(planted, tmp_path, monkeypatch):
    """The data area cannot take it (reports/ is a file): this computer's temp folder."""
    data, subject = planted
    (data / REPORTS_DIR).write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    path = write_report(run_diagnostics(subject, environ={}, offline=True), data_dir=data)
    assert path.parent == tmp_path / "tmp" / "e-secure-reports"
    assert (data / REPORTS_DIR).read_text() == "not a folder"


@pytest.mark.parametrize(("lang", "first"), [("en", "e-secure diagnostics"), ("fr", "Diagnostic")])
def test_table_is_aligned_in_both_languages(planted, lang, first):
    """Status and check columns padded to one width; advice under each row that is not
    ok, with its code; totals at the end."""
    _data, subject = planted
    table = render_table(run_diagnostics(subject, environ={}, offline=True), lang)
    lines = table.splitlines()
    assert lines[0].startswith(first)
    rule = next(line for line in lines if line.startswith("---"))
    widths = [len(part) for part in rule.split("  ")]
    for line in lines[lines.index(rule) + 1 : -2]:
        if line.startswith(" "):
            assert line.strip().startswith("->")
            continue
        assert line[widths[0] : widths[0] + 2] == "  "
        assert line[widths[0] + 2 + widths[1] : widths[0] + 4 + widths[1]] == "  "
    assert "[ES101]" in table
    assert ("échec" if lang == "fr" else "failure") in lines[-1]
