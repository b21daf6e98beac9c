"""The portal's tables on both databases (SQLite and PostgreSQL): the wrong-code count
under concurrency, transfers all or nothing, admin's mail code and unlock (audited), the
migration from schema 1, codes never stored in clear."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading

import pytest

from esecure.errors import EsecureError
from esecure.server import admin as ops
from esecure.server.portal import demo
from esecure.server.portal.codes import CodeHasher, ScryptCost
from esecure.server.portal.sessions import Session
from esecure.server.portal.store import Account, PortalStore
from esecure.server.registry import SCHEMA_VERSION, Registry

NOW = 1_800_000_000.0
HASHER = CodeHasher(bytes(range(32)), ScryptCost(4, 1, 1))


@pytest.fixture
def registry(open_registry) -> Registry:
    reg = open_registry()
    ops.add_user(reg, "alice", NOW)
    ops.add_user(reg, "bob", NOW)
    return reg


def test_attack_parallel_code_attempts_do_not_escape_the_lockout(registry, db_url):
    """Eight attempts at once on eight connections: exactly three are counted, the rest
    find the account locked (the count is read and raised in one serialised transaction)."""
    ops.new_mail_code(registry, HASHER, "alice", NOW)
    barrier = threading.Barrier(8, timeout=30)

    def attempt(_i: int) -> bool:
        reg = Registry.open(db_url)
        try:
            barrier.wait()
            return PortalStore(reg).begin_attempt("alice").locked
        finally:
            reg.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        locked = list(pool.map(attempt, range(8)))
    assert locked.count(False) == 3
    assert PortalStore(registry).user("alice").locked


def test_a_new_mail_code_resets_code_lock_and_sessions(registry):
    """Lost code: new mail code, personal code forgotten, lock and count cleared, sessions
    ended, audited — and the code itself is printed, not stored."""
    store = PortalStore(registry)
    first = ops.new_mail_code(registry, HASHER, "alice", NOW)
    store.set_code("alice", HASHER.hash("alice", "409217"))
    for _ in range(3):
        store.begin_attempt("alice")
    store.lock("alice")
    store.add_session(Session("h1", "alice", "in", "t", "c", NOW, NOW))
    second = ops.new_mail_code(registry, HASHER, "alice", NOW + 1)
    user = store.user("alice")
    assert (user.state, user.failures, user.code_hash) == ("first-login", 0, None)
    assert HASHER.verify("alice", second.code, user.mail_hash)
    assert not HASHER.verify("alice", first.code, user.mail_hash)
    assert store.sessions_of("alice") == []
    assert (NOW + 1, "admin/mail-code", "alice", 200, "new mail code") in registry.audit_log()
    assert second.code not in repr(registry.audit_log())


def test_unlock_returns_to_the_right_state_and_is_audited(registry):
    """Unlocked with a personal code: active; without one yet: first connection."""
    store = PortalStore(registry)
    ops.new_mail_code(registry, HASHER, "alice", NOW)
    store.lock("alice")
    ops.unlock(registry, "alice", NOW)
    assert store.user("alice").state == "first-login"
    store.set_code("alice", HASHER.hash("alice", "409217"))
    store.lock("alice")
    ops.unlock(registry, "alice", NOW + 1)
    assert (store.user("alice").state, store.user("alice").failures) == ("active", 0)
    assert (NOW + 1, "admin/unlock", "alice", 200, "unlocked") in registry.audit_log()


def test_admin_portal_operations_name_unknown_users(registry):
    """ES932 for a user the registry does not have (or who never had a mail code)."""
    with pytest.raises(EsecureError) as info:
        ops.new_mail_code(registry, HASHER, "nobody", NOW)
    assert info.value.code == "ES932"
    with pytest.raises(EsecureError) as info:
        ops.unlock(registry, "bob", NOW)
    assert info.value.code == "ES932"


def test_transfers_are_all_or_nothing(registry):
    """Insufficient funds, someone else's account, the same account: False, nothing moved."""
    store = PortalStore(registry)
    for account in [
        Account("A-1", "alice", "current", 10_000),
        Account("A-2", "alice", "savings", 0),
        Account("B-1", "bob", "current", 50_000),
    ]:
        store.add_account(account)
    assert not store.transfer("alice", "A-1", "A-2", 10_001, "too much", "2026-01-02")
    assert not store.transfer("alice", "B-1", "A-2", 100, "not mine", "2026-01-02")
    assert not store.transfer("alice", "A-1", "A-1", 100, "same", "2026-01-02")
    assert [a.balance_cents for a in store.accounts("alice")] == [10_000, 0]
    assert store.operations("A-1") == []
    assert store.transfer("alice", "A-1", "A-2", 2_500, "rent", "2026-01-02")
    assert [a.balance_cents for a in store.accounts("alice")] == [7_500, 2_500]
    assert [op.amount_cents for op in store.operations("A-2", kind="transfer")] == [2_500]


def test_demo_accounts_are_made_once(registry):
    """Two accounts with three months of lines, not doubled by a second call."""
    store = PortalStore(registry)
    demo.ensure_accounts(store, "alice", dt.date(2026, 3, 15))
    demo.ensure_accounts(store, "alice", dt.date(2026, 3, 15))
    accounts = store.accounts("alice")
    assert len(accounts) == 2
    days = {op.day[:7] for op in store.operations(accounts[0].number)}
    assert days == {"2026-01", "2026-02", "2026-03"}


def test_a_schema_1_registry_gets_the_portal_tables(registry, db_url):
    """A registry written before the portal (schema 1) is migrated on open."""
    with registry.transaction() as db:
        for table in ("portal_operations", "portal_accounts", "portal_sessions", "portal_users"):
            db.execute(f"DROP TABLE {table}")
        db.execute("UPDATE meta SET value=? WHERE name='schema_version'", (b"1",))
    reopened = Registry.open(db_url)
    try:
        assert reopened.schema_version() == SCHEMA_VERSION == 2
        assert PortalStore(reopened).user("alice") is None
    finally:
        reopened.close()


def test_sessions_keep_hashes_and_single_use_layouts(registry):
    """A layout is taken once; a second take (a replay racing) fails."""
    store = PortalStore(registry)
    store.add_session(Session("h1", "alice", "code", "t", "c", NOW, NOW, layout="L:1"))
    assert store.take_layout("h1", "L:1")
    assert not store.take_layout("h1", "L:1")
    assert store.delete_sessions_of("alice", keep="h1") == 0
    assert store.purge_sessions(seen_before=NOW + 1, created_before=0) == 1
