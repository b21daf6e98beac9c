"""`e-secure` runs the flow: --no-gui in the terminal, the windows' fallback, --version
still light."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from esecure.launcher import app
from tests.launcher.flow.keyfix import make_key


@pytest.fixture
def key(tmp_path, demo_project, monkeypatch):
    """A key whose CD-ROM and data area the launcher finds through the environment."""
    made = make_key(tmp_path, ca_pem=(demo_project / "trust/ca.pem").read_bytes())
    monkeypatch.setenv("ESECURE_CD_ROOT", str(made.cd))
    monkeypatch.setenv("ESECURE_DATA_DIR", str(made.data))
    return made


def test_no_gui_runs_the_flow_in_the_terminal(key, capsys):
    """`e-secure --no-gui` on a damaged key: the progress, then E1 on stderr, exit 1."""
    (key.cd / "trust" / "ca.pem").write_bytes(b"short")
    assert app.main(["--no-gui"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("[  2%] Checking the key…")
    assert "error ES101: A problem occurred during installation" in err
    assert "Traceback" not in err


def test_without_windows_the_flow_runs_in_the_terminal_and_says_so(key, capsys, monkeypatch):
    """No argument and no windows module: said on stderr, then the same flow."""
    monkeypatch.setitem(sys.modules, "esecure.launcher.ui", None)  # not importable
    (key.cd / "trust" / "ca.pem").write_bytes(b"short")
    assert app.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith("e-secure: the windows are not available here (")
    assert "going on in this terminal." in err
    assert "error ES101" in err


def test_a_bad_update_answer_is_a_usage_error(key, capsys, monkeypatch):
    """ESECURE_UPDATE must be now or later: exit 2 naming the value."""
    monkeypatch.setenv("ESECURE_UPDATE", "soon")
    assert app.main(["--no-gui"]) == 2
    assert "expected now or later, found 'soon'" in capsys.readouterr().err


def test_version_imports_nothing_of_the_flow(key):
    """--version stays light: no flow, no cryptography, no tuf in the process."""
    probe = (
        "import sys\n"
        "from esecure.launcher import app\n"
        "app.main(['--version'])\n"
        "heavy = [m for m in sys.modules if m.startswith(('cryptography', 'tuf', 'tufup', "
        "'esecure.launcher.flow', 'esecure.launcher.host', 'webview', 'pystray'))]\n"
        "print('heavy:', heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "heavy: []" in result.stdout, result.stdout


def test_firefox_args_come_only_from_the_environment():
    """ESECURE_FIREFOX_ARGS, split like a shell line; unset: no extra argument."""
    assert app.firefox_args_from({}) == ()
    env = {"ESECURE_FIREFOX_ARGS": "--headless --remote-debugging-port=9222 'a b'"}
    assert app.firefox_args_from(env) == ("--headless", "--remote-debugging-port=9222", "a b")


def test_a_bad_firefox_args_value_is_a_usage_error(key, capsys, monkeypatch):
    """An unbalanced quote in ESECURE_FIREFOX_ARGS: exit 2 naming the variable, no flow."""
    monkeypatch.setenv("ESECURE_FIREFOX_ARGS", "--headless 'oops")
    assert app.main(["--no-gui"]) == 2
    out, err = capsys.readouterr()
    assert "e-secure: ESECURE_FIREFOX_ARGS: No closing quotation in" in err
    assert out == ""
    assert not (key.data / "logs").exists()


def test_a_failed_start_is_logged_in_the_data_area_and_reported(key, capsys, monkeypatch):
    """The flow logs into the data area's logs/ with the activation code redacted, and an
    error's support report is the diagnostics' zip (with those logs), its path shown."""
    code = "SECRET-CODE-4242"
    monkeypatch.setenv("ESECURE_ACTIVATION_CODE", code)
    (key.cd / "trust" / "ca.pem").write_bytes(b"short")
    assert app.main(["--no-gui", "--identifier", "alice"]) == 1
    err = capsys.readouterr().err
    log = (key.data / "logs" / "e-secure.log").read_text()
    assert "ES101" in log
    assert code not in log
    (report,) = (key.data / "reports").glob("e-secure-report-*.zip")
    assert str(report) in err
    with zipfile.ZipFile(report) as archive:
        assert "summary.txt" in archive.namelist()
        logged = archive.read("logs/e-secure.log").decode()
    assert "ES101" in logged
    assert code not in logged
