"""`esecure serve` as a real process and `esecure admin …` through the CLI."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.cli import cli
from tests.server.est_support import est_request

ESECURE = [sys.executable, "-m", "esecure"]


def _admin(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["admin", "-p", str(project), *args])
    return result.exit_code, result.output


@pytest.mark.slow
def test_serve_prints_its_url_answers_and_stops_cleanly(demo_project):
    """`esecure serve --port 0` prints the URL, serves cacerts, exits 0 on SIGTERM."""
    with subprocess.Popen(
        [*ESECURE, "serve", str(demo_project), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            line = proc.stdout.readline()
            assert line.startswith("Listening on https://127.0.0.1:"), line
            url = line.split()[-1]
            answer = est_request(
                url + ".well-known/est/cacerts", ca=demo_project / "trust/ca.pem", method="GET"
            )
            assert answer.status == 200
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
            assert "Stopped." in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_serve_without_ca_key_is_es934(tmp_path, demo_project):
    """A project whose CA key is empty cannot issue: ES934, exit 1."""
    toml = demo_project / "esecure.toml"
    toml.write_text(toml.read_text().replace('ca_key = "keys/ca.key.pem"', 'ca_key = ""'))
    result = CliRunner().invoke(cli, ["serve", str(demo_project), "--port", "0"])
    assert result.exit_code == 1
    assert "ES934" in result.output


def _personalized(project: Path, out: Path, count: int) -> tuple[Path, list[str]]:
    """`esecure personalize`'s signed CSV registry for ``count`` keys, and their serials."""
    result = CliRunner().invoke(cli, ["personalize", str(project), "--out", str(out),
                                      "--count", str(count)])  # fmt: skip
    assert result.exit_code == 0, result.output
    (registry,) = sorted((out / "registry").glob("*.csv"))
    assert registry.with_name(registry.name + ".sig").is_file()
    rows = registry.read_text().splitlines()[1:]
    return registry, sorted(row.split(",")[0] for row in rows)


def test_admin_walkthrough(demo_project, tmp_path):
    """add-user, import-keys (personalize's signed registry), assign, issue-code (prints the
    letter), list, lost."""
    keys, (k1, k2) = _personalized(demo_project, tmp_path / "p", 2)
    batch = keys.stem
    assert _admin(demo_project, "add-user", "alice") == (0, "Added user alice.\n")
    assert _admin(demo_project, "import-keys", str(keys))[1].startswith("Imported 2 new")
    assert _admin(demo_project, "assign", k1, "alice")[0] == 0
    code, letter = _admin(demo_project, "issue-code", "alice", "--hours", "24")
    assert code == 0
    assert "Activation code: " in letter
    assert "Demo Bank" in letter
    code, listing = _admin(demo_project, "list", "keys")
    assert listing.splitlines() == [f"{k1}\t{batch}\tbound\talice", f"{k2}\t{batch}\tfree\t-"]
    code, out = _admin(demo_project, "lost", k1, "--replacement", k2)
    assert code == 0
    assert "0 certificate(s) revoked" in out
    listing = _admin(demo_project, "list", "keys")[1].splitlines()
    assert listing == [
        f"{k1}\t{batch}\tblocked\talice\treplaced by {k2}",
        f"{k2}\t{batch}\tbound\talice",
    ]
    assert _admin(demo_project, "disable-user", "alice") == (0, "User alice disabled.\n")
    assert _admin(demo_project, "list", "users")[1] == "alice\tdisabled\n"
    assert _admin(demo_project, "enable-user", "alice")[0] == 0


def test_attack_import_keys_refuses_a_tampered_registry(demo_project, tmp_path):
    """`esecure admin import-keys` on personalize's registry with one line added: ES938,
    exit 1, no traceback, no key imported; a wrong --public-key is refused the same way."""
    keys, _ = _personalized(demo_project, tmp_path / "p", 1)
    text = keys.read_text()
    keys.write_text(text + text.splitlines()[1].replace(text.splitlines()[1][:14], "2" * 14) + "\n")
    code, out = _admin(demo_project, "import-keys", str(keys))
    assert code == 1
    assert "ES938" in out
    assert "Traceback" not in out
    keys.write_text(text)
    other = tmp_path / "other.pem"
    other.write_bytes(
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    code, out = _admin(demo_project, "import-keys", "--public-key", str(other), str(keys))
    assert code == 1
    assert "ES938" in out
    assert _admin(demo_project, "list", "keys")[1] == ""
    assert _admin(demo_project, "import-keys", str(keys))[1].startswith("Imported 1 new")


def test_admin_errors_have_codes_and_exit_status(demo_project):
    """Unknown serial: ES932, exit 1, no traceback."""
    code, out = _admin(demo_project, "assign", "NOPE", "alice")
    assert code == 1
    assert "ES932" in out
    assert "Traceback" not in out


def test_admin_unsupported_db_url_is_exit_2(demo_project):
    """--db mysql://… is a usage error (ES930) naming what is supported."""
    result = CliRunner().invoke(cli, ["admin", "--db", "mysql://x/y", "list"])
    assert result.exit_code == 2
    assert "ES930" in result.output
    assert "postgresql://" in result.output


def test_admin_unreachable_postgresql_is_es935_exit_1(demo_project):
    """--db postgresql://… on a closed port: ES935, exit 1, no traceback, no password."""
    url = "postgresql://bank:s3cret@127.0.0.1:1/esecure"
    result = CliRunner().invoke(cli, ["admin", "--db", url, "list"])
    assert result.exit_code == 1
    assert "ES935" in result.output
    assert "s3cret" not in result.output
    assert "Traceback" not in result.output


def test_serve_bad_trusted_proxy_is_a_usage_error(demo_project):
    """--trusted-proxy must be an IP address: exit 2 naming the option."""
    result = CliRunner().invoke(cli, ["serve", str(demo_project), "--trusted-proxy", "nginx"])
    assert result.exit_code == 2
    assert "--trusted-proxy" in result.output


@pytest.mark.slow
def test_serve_an_encrypted_project_with_the_passphrase(tmp_path):
    """A non-demo project (encrypted CA and TLS keys) serves with ESECURE_PASSPHRASE."""
    from esecure.scaffold import InitOptions, init_project  # noqa: PLC0415

    project = tmp_path / "bank"
    init_project(project, InitOptions(), passphrase=lambda: b"correct horse")
    env = {
        **os.environ,
        "ESECURE_PASSPHRASE": "correct horse",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    with subprocess.Popen(
        [*ESECURE, "serve", str(project), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as proc:
        try:
            line = proc.stdout.readline()
            assert line.startswith("Listening on https://127.0.0.1:"), proc.stderr.read()
            answer = est_request(
                line.split()[-1] + ".well-known/est/cacerts",
                ca=project / "trust/ca.pem",
                method="GET",
            )
            assert answer.status == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        errors = proc.stderr.read()
    assert errors.count("passphrase: from the ESECURE_PASSPHRASE variable") == 1


@pytest.mark.slow
def test_serve_with_two_workers_shares_one_registry(demo_project):
    """--workers 2: both processes answer on one port; all enrolments land in one registry;
    SIGTERM stops every worker."""
    from esecure.server.registry import Registry  # noqa: PLC0415
    from tests.server.est_support import PKCS10, add_customer, basic, enrol_body, make_csr  # noqa: PLC0415

    with subprocess.Popen(
        [*ESECURE, "serve", str(demo_project), "--port", "0", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            url = proc.stdout.readline().split()[-1]
            db = f"sqlite:///{demo_project / 'server' / 'registry.db'}"
            for i in range(12):
                who = add_customer(db, f"user{i}", f"KEY-{i:04d}")
                answer = est_request(
                    url + ".well-known/est/simpleenroll",
                    ca=demo_project / "trust/ca.pem",
                    body=enrol_body(make_csr(who.identifier, who.serial)),
                    headers={**PKCS10, "Authorization": basic(who.identifier, who.code)},
                )
                assert answer.status == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    assert len(Registry.open(db).certificates()) == 12
    with pytest.raises(OSError):
        est_request(url + ".well-known/est/cacerts", ca=demo_project / "trust/ca.pem", method="GET")


@pytest.mark.slow
def test_serve_on_postgresql_end_to_end(demo_project, pg_cluster, tmp_path):
    """`esecure admin --db postgresql://…` prepares a customer, `esecure serve --db
    postgresql://… --workers 2` enrols her over real HTTPS (one code raced by eight
    requests: one certificate), and PostgreSQL holds it, the used code and the audit."""
    import psycopg  # noqa: PLC0415

    from tests.server.est_support import PKCS10, basic, enrol_body, make_csr  # noqa: PLC0415

    db = pg_cluster.new_database()
    keys, (serial,) = _personalized(demo_project, tmp_path / "p", 1)
    assert _admin(demo_project, "--db", db, "add-user", "alice")[0] == 0
    assert _admin(demo_project, "--db", db, "import-keys", str(keys))[0] == 0
    assert _admin(demo_project, "--db", db, "assign", serial, "alice")[0] == 0
    letter = _admin(demo_project, "--db", db, "issue-code", "alice")[1]
    code = letter.split("Activation code: ")[1].split()[0]
    with subprocess.Popen(
        [*ESECURE, "serve", str(demo_project), "--port", "0", "--workers", "2", "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            line = proc.stdout.readline()
            assert line.startswith("Listening on https://"), proc.stderr.read()
            url = line.split()[-1] + ".well-known/est/simpleenroll"
            ca = demo_project / "trust/ca.pem"
            csr = enrol_body(make_csr("alice", serial))
            auth = {**PKCS10, "Authorization": basic("alice", code)}
            # One code raced by eight parallel requests (SO_REUSEPORT spreads them on workers).
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(lambda _i: est_request(url, ca=ca, body=csr, headers=auth), range(8))
                )
            assert sorted(a.status for a in answers) == [200] + [401] * 7
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
    assert not (demo_project / "server" / "registry.db").exists()
    with psycopg.connect(db) as conn:
        certs = conn.execute("SELECT identifier, key_serial, revoked FROM certificates").fetchall()
        used = conn.execute("SELECT count(*) FROM codes WHERE used IS NOT NULL").fetchone()
        audit = conn.execute("SELECT status, outcome FROM audit ORDER BY id").fetchall()
    assert certs == [("alice", serial, None)]
    assert used == (1,)
    assert sorted(row[0] for row in audit) == [200] + [401] * 7
    listing = _admin(demo_project, "--db", db, "list", "certificates")[1]
    assert serial in listing


def test_cli_import_stays_light():
    """Registering serve/admin does not import cryptography or aiohttp (fast --help)."""
    code = (
        "import sys, esecure.cli; "
        "print(any(m.startswith(('cryptography', 'aiohttp', 'psycopg', 'esecure.server.est')) "
        "for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
