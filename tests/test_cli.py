"""The command line: help everywhere, exit codes, init/check round trip, no tracebacks."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from esecure import __version__
from esecure.cli import cli
from esecure.errors import CATALOGUE


def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str, str]:
    """Run `python -m esecure ARGS` in a child process, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "esecure", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C.UTF-8", **(env or {})},
        check=False,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


COMMANDS = sorted(cli.commands)


def test_the_foundation_commands_are_present():
    """The commands that work today are registered; nothing else pretends to."""
    assert {"init", "check", "errors", "demo"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]], ids=["esecure", *COMMANDS])
def test_help(command):
    """Every command answers --help with its usage, exit 0."""
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cli {' '.join(command)}".rstrip() + " ")


def test_version():
    """--version prints the package version."""
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"esecure {__version__}\n"


def test_init_then_check_round_trip(tmp_path):
    """A demo project made by init passes check, with the demo warning."""
    runner = CliRunner()
    project = tmp_path / "p"
    result = runner.invoke(cli, ["init", "--demo", str(project)])
    assert result.exit_code == 0, result.output
    assert "Wrote 15 files." in result.output
    assert (
        "making a DEMO code-signing certificate (DEMO ONLY - NOT FOR RELEASE; trusted by no "
        "Windows)"
    ) in result.output
    result = runner.invoke(cli, ["check", str(project)])
    assert result.exit_code == 0, result.output
    assert "warning: demo project: the private keys under keys/ are NOT encrypted" in result.output
    assert re.search(
        r"\ndata partition: from the plan for linux; at least \d+ MiB before lib/ is counted "
        r"\(`esecure build` prints the whole budget\)\n",
        result.output,
    )
    assert result.output.endswith(
        f"ok: {project.resolve() / 'esecure.toml'} — e-secure 1.0.0 for Demo Bank\n"
    )


def test_encrypted_project_round_trip_with_env_passphrase(tmp_path):
    """Without --demo the keys are encrypted with ESECURE_PASSPHRASE, and init says so."""
    code, out, err = run("init", str(tmp_path / "p"), env={"ESECURE_PASSPHRASE": "s3cret-phrase"})
    assert code == 0, err
    assert "passphrase: from the ESECURE_PASSPHRASE variable" in err
    for key in (tmp_path / "p" / "keys").iterdir():
        assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert key.stat().st_mode & 0o777 == 0o600
    code, out, err = run("check", str(tmp_path / "p"))
    assert code == 0, err
    assert "warning" not in out


def test_init_without_any_passphrase_source_fails_cleanly(tmp_path):
    """No keyring, no variable, no terminal: ES903, exit 2, nothing written."""
    code, _out, err = run("init", str(tmp_path / "p"))
    assert code == 2
    assert (
        err.splitlines()[1] == "error ES903: The passphrase that protects the project's "
        "private keys could not be obtained."
    )
    assert "Traceback" not in err
    assert not (tmp_path / "p" / "keys").exists() or not any((tmp_path / "p" / "keys").iterdir())


def test_init_refuses_a_non_empty_directory(tmp_path):
    """init into a non-empty directory: ES902, exit 2, the file untouched."""
    (tmp_path / "notes.txt").write_text("mine")
    code, _out, err = run("init", "--demo", str(tmp_path))
    assert code == 2
    assert "error ES902: Refusing to create a key project in a directory that is not empty." in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_init_force_never_overwrites_keys(demo_project):
    """--force rewrites the config and assets but keeps every private key and the CA."""
    keys_before = _digests(demo_project / "keys")
    ca_before = (demo_project / "trust" / "ca.pem").read_bytes()
    (demo_project / "esecure.toml").write_text("garbage")
    result = CliRunner().invoke(cli, ["init", "--demo", "--force", str(demo_project)])
    assert result.exit_code == 0, result.output
    assert _digests(demo_project / "keys") == keys_before
    assert (demo_project / "trust" / "ca.pem").read_bytes() == ca_before
    assert CliRunner().invoke(cli, ["check", str(demo_project)]).exit_code == 0


def test_check_broken_config_exit_2_without_traceback(demo_project):
    """A broken esecure.toml: one clear message, exit 2, no traceback (subprocess)."""
    toml = demo_project / "esecure.toml"
    toml.write_text(toml.read_text().replace("# data_size_mib = 2048", "data_size_mib = 'big'"))
    code, out, err = run("check", str(demo_project))
    assert code == 2
    assert out == ""
    assert err.startswith("error ES901: The key project's configuration has errors.\n")
    assert '[image] data_size_mib: expected an integer, found a string "big"' in err
    assert "Traceback" not in err


def test_verbose_shows_the_traceback(demo_project):
    """--verbose adds the traceback to the same message."""
    (demo_project / "esecure.toml").write_text("[product\n")
    code, _out, err = run("-v", "check", str(demo_project))
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert "error ES901" in err


def test_check_reports_trust_problems(demo_project):
    """A private key readable by others is refused with the chmod fix."""
    key = demo_project / "keys" / "ca.key.pem"
    key.chmod(0o644)
    result = CliRunner().invoke(cli, ["check", str(demo_project)])
    assert result.exit_code == 2
    assert f"Fix: chmod 600 {key}" in result.output


def test_check_messages_in_french(demo_project):
    """--lang fr renders the catalogue texts in French."""
    (demo_project / "esecure.toml").unlink()
    code, _out, err = run("--lang", "fr", "check", str(demo_project))
    assert code == 2
    assert err.startswith("error ES901: La configuration du projet de clé comporte des erreurs.")
    assert "que faire: Corrigez chaque ligne indiquée" in err


def test_usage_error_exit_2():
    """An unknown option is a usage error: exit 2 and a pointer to --help."""
    code, _out, err = run("check", "--nope")
    assert code == 2
    assert "Error: No such option '--nope'." in err
    assert "--help" in err


def test_errors_lists_the_catalogue():
    """`esecure errors` prints one line per entry."""
    result = CliRunner().invoke(cli, ["--lang", "en", "errors"])
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == len(CATALOGUE)
    assert "ES101  E1   user     The key is damaged" in result.output


def test_errors_one_code_in_french():
    """`esecure errors ES202` shows the whole entry, in the chosen language."""
    result = CliRunner().invoke(cli, ["--lang", "fr", "errors", "es202"])
    assert result.exit_code == 0
    assert (
        result.output.splitlines()[0]
        == "ES202 (serial-not-recognised) — E3: La clé n'est pas reconnue"
    )
    assert "appeler l'assistance: oui" in result.output


def test_errors_unknown_code_is_a_usage_error():
    """An unknown code exits 2 and says how to list the codes."""
    result = CliRunner().invoke(cli, ["errors", "ES999"])
    assert result.exit_code == 2
    assert "'ES999' is not a catalogue code; run `esecure errors` for the list" in result.output
