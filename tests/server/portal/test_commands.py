"""`esecure admin unlock | mail-code` through the CLI, and `esecure serve --demo` as a
real process whose demo customer enrols and logs in."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from esecure.cli import cli
from esecure.config import load_project
from esecure.server.portal.codes import CodeHasher
from esecure.server.portal.pepper import load_pepper
from esecure.server.portal.store import PortalStore
from esecure.server.registry import Registry
from esecure.server.serve import default_db_url
from tests.server.est_support import add_customer
from tests.server.portal.browser import Browser
from tests.server.portal.conftest import enrol, login

ESECURE = [sys.executable, "-m", "esecure"]


def _admin(project: Path, *args: str):
    return CliRunner().invoke(cli, ["admin", "-p", str(project), *args])


def test_mail_code_prints_the_letter_and_resets_the_code(demo_project):
    """A new mail code: printed in a letter, kept only as a peppered scrypt hash, audited."""
    db = default_db_url(load_project(demo_project))
    add_customer(db, "alice", "KEY-0001")
    result = _admin(demo_project, "mail-code", "alice", "--days", "10")
    assert result.exit_code == 0, result.output
    code = re.search(r"Secret code: (\d{6})", result.output).group(1)
    registry = Registry.open(db)
    try:
        user = PortalStore(registry).user("alice")
        hasher = CodeHasher(load_pepper(load_project(demo_project)))
        assert hasher.verify("alice", code, user.mail_hash)
        assert user.state == "first-login"
        assert any(row[1] == "admin/mail-code" for row in registry.audit_log())
    finally:
        registry.close()


def test_unlock_through_the_cli(demo_project):
    """`admin unlock` unlocks; an unknown user is ES932, exit 1."""
    db = default_db_url(load_project(demo_project))
    add_customer(db, "alice", "KEY-0001")
    assert _admin(demo_project, "mail-code", "alice").exit_code == 0
    registry = Registry.open(db)
    try:
        PortalStore(registry).lock("alice")
    finally:
        registry.close()
    result = _admin(demo_project, "unlock", "alice")
    assert result.exit_code == 0
    assert "unlocked" in result.output
    missing = _admin(demo_project, "unlock", "nobody")
    assert missing.exit_code == 1
    assert "ES932" in missing.output


@pytest.mark.slow
def test_serve_demo_seeds_customers_who_can_log_in(demo_project, tmp_path):
    """`esecure serve --demo` prints the demo letters; demo.alice enrols with her
    activation code and reaches her first connection with her mail code."""
    with subprocess.Popen(
        [*ESECURE, "serve", str(demo_project), "--port", "0", "--demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            demo_lines = [proc.stderr.readline() for _ in range(2)]
            url = proc.stdout.readline().split()[-1]
            alice = re.match(
                r"demo: demo\.alice: key (\S+), activation code (\S+), mail code (\d{6})",
                demo_lines[0],
            )
            assert alice, demo_lines
            serial, activation, mail = alice.groups()
            server = _Running(demo_project, url)
            cert = enrol(server, "demo.alice", serial, activation, tmp_path)
            browser = Browser(url, demo_project / "trust" / "ca.pem", cert)
            user = type("U", (), {"identifier": "demo.alice"})()
            assert login(browser, user, mail).name == "first-login"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    again = CliRunner().invoke(cli, ["admin", "-p", str(demo_project), "list", "users"])
    assert "demo.alice" in again.output and "demo.bob" in again.output


class _Running:
    """What :func:`enrol` needs of a server: its EST URL and project."""

    def __init__(self, project: Path, url: str) -> None:
        self.project = load_project(project)
        self.est_url = f"{url}.well-known/est/"
