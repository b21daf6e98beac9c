"""`e-secure` runs the flow: --no-gui in the terminal, the windows' fallback, --version
still light."""

from __future__ import annotations

import subprocess
import sys

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
