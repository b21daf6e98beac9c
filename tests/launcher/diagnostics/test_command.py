"""The two commands: the key's ``e-secure --doctor`` and the release engineer's
``esecure doctor IMAGE_OR_DIR`` (in process, on a small signed CD-ROM; the built image is
tests/bundle/test_image_doctor.py)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from click.testing import CliRunner

from esecure.cli import cli
from esecure.launcher import app
from esecure.launcher.logs import LOG_DIR, LOG_FILE
from esecure_onkey.boot import cd_choice
from tests.launcher.diagnostics.conftest import flip
from tests.launcher.test_selfcheck import _sign_medium

REPORT_LINE = "Rapport pour l'assistance : "


def _with_product(cd: Path, url: str, ca_file: Path | None = None) -> None:
    """product.json in French naming a server, trust/ca.pem (the medium signed again)."""
    if ca_file is not None:
        (cd / "trust" / "ca.pem").write_bytes(ca_file.read_bytes())
    product = {"default_language": "fr", "urls": {"site": url, "enrolment": url, "updates": url}}
    (cd / "app" / "product.json").write_text(json.dumps(product))
    _sign_medium(cd)


def test_launcher_doctor_prints_the_table_and_the_report_path(medium, tmp_path, servers, capsys):
    """``e-secure --doctor``: the table in the product's language, a report in the data
    area's reports/ whose path is printed, the run logged in logs/; exit 0 when sound."""
    _with_product(medium, servers.good.url, servers.ca_file)
    data = tmp_path / "data"
    data.mkdir()
    choice = cd_choice(medium)
    boot = type(choice)(**{**choice.__dict__, "data_dir": data})
    code = app.main(["--doctor"], boot=boot)
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith("Diagnostic e-secure")
    assert "Contenu de la clé (contrôle complet)" in out
    report = Path(out.strip().splitlines()[-1].removeprefix(REPORT_LINE))
    assert report.parent == data / "reports"
    with zipfile.ZipFile(report) as archive:
        assert "diagnostics: report" not in archive.read(f"logs/{LOG_FILE}").decode()
        assert "diagnostics: tls:enrolment ok" in archive.read(f"logs/{LOG_FILE}").decode()
    assert "diagnostics: report" in (data / LOG_DIR / LOG_FILE).read_text()


def test_launcher_doctor_fails_on_a_damaged_key(medium, tmp_path, capsys):
    """A same-size change in a file the start does not hash: --doctor exits 1, names it."""
    _with_product(medium, "https://e-secure-diagnostics.invalid/")
    flip(medium / "firefox/linux/libxul.so")
    choice = cd_choice(medium)
    assert app.main(["--doctor"], boot=choice) == 1
    out = capsys.readouterr().out
    assert "firefox/linux/libxul.so: content differs" in out
    assert "[ES101]" in out


def test_esecure_doctor_on_a_directory(medium, tmp_path):
    """``esecure doctor DIR --offline --report OUT``: the table in --lang, a report in OUT,
    exit 0 on a sound CD-ROM."""
    _with_product(medium, "https://e-secure-diagnostics.invalid/")
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        cli, ["--lang", "en", "doctor", str(medium), "--offline", "--report", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("e-secure diagnostics")
    assert "Network checks" in result.output
    (report,) = out.glob("e-secure-report-*.zip")
    assert f"Support report: {report}" in result.output


def test_esecure_doctor_refuses_what_is_not_an_image(tmp_path):
    """A file that is not an ISO: ES918 naming it, exit 2, no traceback."""
    bogus = tmp_path / "cdrom.iso"
    bogus.write_bytes(b"not an image" * 100)
    result = CliRunner().invoke(cli, ["--lang", "en", "doctor", str(bogus)])
    assert result.exit_code == 2
    assert "ES918" in result.output
    assert str(bogus) in result.output
    assert "Traceback" not in result.output


def test_output_survives_a_console_without_accents_or_without_a_console(monkeypatch):
    """A cp437 console gets '?' for what it cannot show; no console at all, nothing."""
    import io  # noqa: PLC0415

    from esecure.launcher.diagnostics import command  # noqa: PLC0415

    console = io.TextIOWrapper(io.BytesIO(), encoding="cp437")
    monkeypatch.setattr("sys.stdout", console)
    command._print("Diagnostic e-secure — ÉCHEC")
    console.seek(0)
    assert console.read() == "Diagnostic e-secure ? ÉCHEC\n"
    monkeypatch.setattr("sys.stdout", None)
    command._print("nothing to write to")
