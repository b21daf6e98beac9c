"""The registry: WAL mode, activation codes (single use, expiry, cool-down), audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from esecure.errors import UsageError
from esecure.server import admin as ops
from esecure.server.registry import COOL_DOWN_SECONDS, MAX_WRONG_CODES, Registry, database_path

NOW = 1_800_000_000.0


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry.open(f"sqlite:///{tmp_path / 'r.db'}")
    ops.add_user(reg, "alice", NOW)
    return reg


def test_sqlite_runs_in_wal_mode(registry):
    """The registry uses SQLite's write-ahead log (server and admin commands at once)."""
    assert registry.journal_mode() == "wal"


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


def test_postgresql_url_is_refused_with_es930():
    """A PostgreSQL URL says plainly that it is not supported."""
    with pytest.raises(UsageError) as info:
        database_path("postgresql://db/esecure")
    assert info.value.code == "ES930"


def test_code_is_stored_as_keyed_hash_only(registry, tmp_path):
    """The activation code never appears in the database file."""
    issued = ops.issue_code(registry, "alice", NOW)
    registry.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("r.db"))
    assert issued.code.encode() not in raw
    assert issued.code.replace("-", "").encode() not in raw


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
