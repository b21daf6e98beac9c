"""Admin operations: users, key registry import, binding, codes, lost keys."""

from __future__ import annotations

import json

import pytest

from esecure.errors import EsecureError
from esecure.server import admin as ops
from esecure.server.registry import CertificateRow, Registry

NOW = 1_800_000_000.0


@pytest.fixture
def registry(open_registry) -> Registry:
    reg = open_registry()
    ops.add_user(reg, "alice", NOW)
    reg.add_keys([("KEY-0001", "B1", "2026-11-27"), ("KEY-0002", "B1", "2026-11-27")])
    return reg


def _code(call, *args):
    with pytest.raises(EsecureError) as info:
        call(*args)
    return info.value.code


def test_duplicate_user_is_a_conflict(registry):
    """Adding a user twice is ES933."""
    assert _code(ops.add_user, registry, "alice", NOW) == "ES933"


def test_import_csv_registry(tmp_path, open_registry):
    """The image builder's CSV registry (serial,batch,created) imports; re-import adds none."""
    reg = open_registry()
    path = tmp_path / "keys.csv"
    path.write_text("serial,batch,created\nAB12-0001,B7,2026-11-27\nAB12-0002,B7,2026-11-27\n")
    assert ops.import_keys(reg, path) == (2, 0)
    assert ops.import_keys(reg, path) == (0, 2)
    assert [k.serial for k in reg.list_keys()] == ["AB12-0001", "AB12-0002"]


def test_import_json_registry(tmp_path, open_registry):
    """The JSON form (list of objects) imports the same way."""
    reg = open_registry()
    path = tmp_path / "keys.json"
    rows = [{"serial": "X1", "batch": "B", "created": "2026-11-27"}]
    path.write_text(json.dumps(rows))
    assert ops.import_keys(reg, path) == (1, 0)


@pytest.mark.parametrize(
    ("content", "culprit"),
    [
        ("serial,batch\nA,B\n", "header"),
        ("serial,batch,created\nbad serial,B,C\n", "line 2"),
        ("serial,batch,created\nA,B,C\nA,B,C\n", "repeated"),
        ("serial,batch,created\n" + "A" * 33 + ",B,C\n", "line 2"),
        ('[{"serial": 1, "batch": "B", "created": "C"}]', "item 1"),
        ("[1, 2]", "list of objects"),
        ("[", "invalid JSON"),
    ],
)
def test_bad_registry_names_the_culprit_and_imports_nothing(
    tmp_path, open_registry, content, culprit
):
    """A bad registry file is ES931 naming the row, and nothing is imported."""
    reg = open_registry()
    path = tmp_path / "keys.csv"
    path.write_text(content)
    with pytest.raises(EsecureError) as info:
        ops.import_keys(reg, path)
    assert info.value.code == "ES931"
    assert culprit in info.value.detail
    assert reg.list_keys() == []


def test_assign_binds_a_serial_to_one_identifier(registry):
    """A key handed to alice cannot be handed to bob."""
    ops.assign(registry, "KEY-0001", "alice")
    ops.add_user(registry, "bob", NOW)
    assert _code(ops.assign, registry, "KEY-0001", "bob") == "ES933"
    assert registry.key("KEY-0001").identifier == "alice"


def test_assign_unknown_things_is_es932(registry):
    """Unknown user or serial: ES932."""
    assert _code(ops.assign, registry, "KEY-0001", "nobody") == "ES932"
    assert _code(ops.assign, registry, "NOPE", "alice") == "ES932"


def test_issue_code_prints_a_letter(registry):
    """The letter names the identifier, the code and its expiry."""
    issued = ops.issue_code(registry, "alice", NOW, hours=24)
    letter = issued.letter("Demo Bank")
    assert issued.code in letter
    assert "alice" in letter
    assert "2027-01-16" in letter  # NOW + 24 h


def test_lost_key_is_blocked_revoked_and_replaced(registry):
    """Reporting a key lost revokes its certificates, blocks it, binds the replacement."""
    ops.assign(registry, "KEY-0001", "alice")
    registry.add_certificate(CertificateRow("ab", "alice", "KEY-0001", "CN=alice", NOW, None), NOW)
    report = ops.report_lost(registry, "KEY-0001", NOW, replacement="KEY-0002")
    assert report.revoked == 1
    assert registry.key("KEY-0001").blocked
    assert registry.key("KEY-0002").identifier == "alice"
    assert registry.certificate("ab").revoked == NOW
    assert _code(ops.assign, registry, "KEY-0001", "alice") == "ES933"


def test_replacement_bound_elsewhere_changes_nothing(registry):
    """A replacement bound to another customer is refused and the lost key stays usable."""
    ops.add_user(registry, "bob", NOW)
    ops.assign(registry, "KEY-0001", "alice")
    ops.assign(registry, "KEY-0002", "bob")
    assert _code(ops.report_lost, registry, "KEY-0001", NOW, "KEY-0002") == "ES933"
    assert not registry.key("KEY-0001").blocked
