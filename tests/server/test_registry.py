"""The registry on both backends (SQLite in WAL mode, PostgreSQL): activation codes
(single use, expiry, cool-down) also under concurrent connections, schema, audit."""

from __future__ import annotations

import concurrent.futures
import threading
from pathlib import Path

import psycopg
import pytest

from esecure.errors import EsecureError, UsageError
from esecure.server import admin as ops
from esecure.server.database import redacted
from esecure.server.registry import (
    COOL_DOWN_SECONDS,
    MAX_WRONG_CODES,
    SCHEMA_VERSION,
    Registry,
    database_path,
)

NOW = 1_800_000_000.0


@pytest.fixture
def registry(open_registry) -> Registry:
    reg = open_registry()
    ops.add_user(reg, "alice", NOW)
    return reg


def test_sqlite_runs_in_wal_mode(registry):
    """SQLite runs in write-ahead-log mode (server and admin commands at once)."""
    expected = "wal" if registry.dialect == "sqlite" else None
    assert registry.journal_mode() == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////abs/r.db", Path("/abs/r.db")),
        ("sqlite:///rel/r.db", Path("rel/r.db")),
        ("plain/r.db", Path("plain/r.db")),
    ],
)
def test_database_urls(url, expected):
    """sqlite:/// URLs and plain paths name the SQLite file."""
    assert database_path(url) == expected


@pytest.mark.parametrize("url", ["mysql://db/esecure", "oracle://x", "sqlite://"])
def test_unsupported_database_url_is_es930(url):
    """A scheme other than SQLite's or PostgreSQL's says plainly what is supported."""
    with pytest.raises(UsageError) as info:
        Registry.open(url)
    assert info.value.code == "ES930"
    assert "postgresql://" in info.value.detail


def test_unreachable_postgresql_is_es935_without_the_password():
    """A PostgreSQL server that does not answer is ES935; the message hides the password."""
    with pytest.raises(EsecureError) as info:
        Registry.open("postgresql://bank:s3cret@127.0.0.1:1/esecure")
    assert info.value.code == "ES935"
    assert "s3cret" not in str(info.value)
    assert "bank:***@127.0.0.1:1" in str(info.value)


def test_redacted_keeps_urls_without_password():
    """redacted() changes only the password."""
    assert redacted("postgresql://u@h:5/d") == "postgresql://u@h:5/d"
    assert redacted("postgresql://u:p@h/d") == "postgresql://u:***@h/d"


def _stored_bytes(registry: Registry, db_url: str, tmp_path: Path) -> bytes:
    """Everything the database holds: the SQLite files, or every PostgreSQL row as text."""
    if registry.dialect == "sqlite":
        registry.close()
        return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("r.db"))
    registry.close()
    with psycopg.connect(db_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
            )
        ]
        assert "codes" in tables
        rows = []
        for table in tables:
            query = f"SELECT t::text FROM {table} t"  # noqa: S608 - names from the catalogue
            rows += [str(r[0]) for r in conn.execute(query)]
    return "\n".join(rows).encode()


def test_code_is_stored_as_keyed_hash_only(registry, db_url, tmp_path):
    """The activation code never appears in what the database stores."""
    issued = ops.issue_code(registry, "alice", NOW)
    raw = _stored_bytes(registry, db_url, tmp_path)
    assert b"alice" in raw  # the dump is real
    assert issued.code.encode() not in raw
    assert issued.code.replace("-", "").encode() not in raw


def test_first_connect_records_the_schema_version(registry):
    """The first connection creates the tables and records the schema version."""
    assert registry.schema_version() == SCHEMA_VERSION


def test_database_of_a_newer_version_is_refused_with_es935(registry, db_url):
    """A schema newer than this e-secure knows is refused, not guessed at."""
    with registry.transaction() as db:
        db.execute("UPDATE meta SET value=? WHERE name='schema_version'", (b"999",))
    with pytest.raises(EsecureError) as info:
        Registry.open(db_url)
    assert info.value.code == "ES935"
    assert "999" in str(info.value)


def test_simultaneous_first_connections_share_one_schema_and_key(db_url):
    """Six connections opening a fresh registry at once: all succeed, one HMAC key."""
    barrier = threading.Barrier(6, timeout=30)

    def open_and_digest(_i: int) -> bytes:
        barrier.wait()
        reg = Registry.open(db_url)
        try:
            return reg._digest("alice", "CODE")
        finally:
            reg.close()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        digests = set(pool.map(open_and_digest, range(6)))
    assert len(digests) == 1


def _in_parallel(db_url: str, count: int, call) -> list:
    """``call(registry)`` on ``count`` connections of their own, released at once."""
    barrier = threading.Barrier(count, timeout=30)

    def run(_i: int):
        reg = Registry.open(db_url)
        try:
            barrier.wait()
            return call(reg)
        finally:
            reg.close()

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_attack_wrong_codes_in_parallel_do_not_escape_the_lockout(registry, db_url):
    """Ten wrong codes at once on ten connections: the counter loses no update, so exactly
    four are 'wrong' and the rest 'locked'."""
    issued = ops.issue_code(registry, "alice", NOW)
    outcomes = _in_parallel(db_url, 10, lambda reg: reg.check_code("alice", "WRONG", NOW).outcome)
    assert sorted(outcomes) == ["locked"] * 6 + ["wrong"] * (MAX_WRONG_CODES - 1)
    assert registry.check_code("alice", issued.code, NOW + 1).outcome == "locked"


def test_attack_one_code_consumed_on_parallel_connections(registry, db_url):
    """Eight connections consume one code at once: exactly one succeeds."""
    issued = ops.issue_code(registry, "alice", NOW)
    check = registry.check_code("alice", issued.code, NOW)
    assert check.code_id is not None
    won = _in_parallel(db_url, 8, lambda reg: reg.consume_code(check.code_id, NOW))
    assert sorted(won) == [False] * 7 + [True]


def test_right_code_is_accepted_once(registry):
    """A right code passes; once consumed it is 'used'."""
    issued = ops.issue_code(registry, "alice", NOW)
    check = registry.check_code("alice", issued.code.lower().replace("-", " "), NOW)
    assert check.outcome == "ok"
    assert check.code_id is not None
    assert registry.consume_code(check.code_id, NOW)
    assert not registry.consume_code(check.code_id, NOW)
    assert registry.check_code("alice", issued.code, NOW).outcome == "used"


def test_expired_code(registry):
    """A right code past its expiry is 'expired'."""
    issued = ops.issue_code(registry, "alice", NOW, hours=1)
    assert registry.check_code("alice", issued.code, NOW + 3601).outcome == "expired"


def test_code_of_another_user_is_wrong(registry):
    """Codes are bound to their identifier."""
    ops.add_user(registry, "bob", NOW)
    issued = ops.issue_code(registry, "bob", NOW)
    assert registry.check_code("alice", issued.code, NOW).outcome == "wrong"


def test_five_wrong_codes_start_a_cool_down_not_a_lock(registry):
    """After 5 wrong codes: locked (even for the right code), then usable again."""
    issued = ops.issue_code(registry, "alice", NOW)
    outcomes = [registry.check_code("alice", "WRONG", NOW).outcome for _ in range(MAX_WRONG_CODES)]
    assert outcomes == ["wrong"] * (MAX_WRONG_CODES - 1) + ["locked"]
    locked = registry.check_code("alice", issued.code, NOW + 10)
    assert locked.outcome == "locked"
    assert 0 < locked.retry_after <= COOL_DOWN_SECONDS
    assert registry.check_code("alice", issued.code, NOW + COOL_DOWN_SECONDS + 1).outcome == "ok"


def test_right_code_resets_the_failure_count(registry):
    """Failures below the limit are forgotten after a right code."""
    issued = ops.issue_code(registry, "alice", NOW)
    for _ in range(MAX_WRONG_CODES - 1):
        registry.check_code("alice", "WRONG", NOW)
    assert registry.check_code("alice", issued.code, NOW).outcome == "ok"
    assert registry.check_code("alice", "WRONG", NOW).outcome == "wrong"


def test_attack_old_code_does_not_reset_the_lockout(registry):
    """Alternating wrong guesses with a known used code still reaches the cool-down."""
    old = ops.issue_code(registry, "alice", NOW)
    assert registry.check_code("alice", old.code, NOW).outcome == "ok"
    assert registry.consume_code(registry.check_code("alice", old.code, NOW).code_id, NOW)
    ops.issue_code(registry, "alice", NOW)
    outcomes = []
    for _ in range(MAX_WRONG_CODES):
        outcomes.append(registry.check_code("alice", "WRONG", NOW).outcome)
        outcomes.append(registry.check_code("alice", old.code, NOW).outcome)
    assert "locked" in outcomes
    assert outcomes.index("locked") == 2 * MAX_WRONG_CODES - 2


def test_audit_rows_are_kept(registry):
    """Each attempt is logged with its outcome."""
    registry.audit("simpleenroll", 401, "credentials: wrong", identifier="alice", now=NOW)
    assert registry.audit_log() == [(NOW, "simpleenroll", "alice", 401, "credentials: wrong")]


def test_disabled_user_cannot_use_a_right_code(registry):
    """A disabled customer's right code looks wrong; enabled again, it works."""
    issued = ops.issue_code(registry, "alice", NOW)
    ops.set_user_state(registry, "alice", active=False)
    assert registry.check_code("alice", issued.code, NOW).outcome == "wrong"
    ops.set_user_state(registry, "alice", active=True)
    assert registry.check_code("alice", issued.code, NOW).outcome == "ok"
