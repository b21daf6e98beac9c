"""Admin operations: users, key registry import, binding, codes, lost keys."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esecure.bundle import serials
from esecure.bundle.manifest import sign_manifest
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


PRODUCT = "demo-bank-key"
S1, S2, S3 = (
    b + serials.check_character(b) for b in ("2222222222222", "ABCDEFGHJKMNP", "XYZ23456789AB")
)


@pytest.fixture(scope="module")
def signing_key():
    return ed25519.Ed25519PrivateKey.generate()


def _public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def public_pem(signing_key):
    return _public_pem(signing_key)


def _csv(*rows: str) -> str:
    return "serial,batch,created,product\n" + "".join(f"{r}\n" for r in rows)


def _row(serial: str, product: str = PRODUCT) -> str:
    return f"{serial},R-00001,2026-11-27T10:00:00Z,{product}"


def _signed(path, text, key):
    """The registry file and its .sig, as `esecure personalize` writes them."""
    path.write_text(text)
    path.with_name(path.name + ".sig").write_bytes(sign_manifest(path.read_bytes(), key))
    return path


def _import(reg, path, public_pem):
    return ops.import_keys(reg, path, product=PRODUCT, public_key_pem=public_pem)


def _refused(reg, path, public_pem) -> EsecureError:
    with pytest.raises(EsecureError) as info:
        _import(reg, path, public_pem)
    assert reg.list_keys() == []  # nothing imported from a refused file
    return info.value


def test_import_csv_registry(tmp_path, open_registry, signing_key, public_pem):
    """The signed CSV registry (serial,batch,created,product) imports; re-import adds none."""
    reg = open_registry()
    path = _signed(tmp_path / "keys.csv", _csv(_row(S1), _row(S2)), signing_key)
    assert _import(reg, path, public_pem) == (2, 0)
    assert _import(reg, path, public_pem) == (0, 2)
    assert [k.serial for k in reg.list_keys()] == sorted([S1, S2])


def test_import_json_registry(tmp_path, open_registry, signing_key, public_pem):
    """The signed JSON form (list of objects) imports the same way."""
    reg = open_registry()
    rows = [{"serial": S1, "batch": "B", "created": "2026-11-27", "product": PRODUCT}]
    path = _signed(tmp_path / "keys.json", json.dumps(rows), signing_key)
    assert _import(reg, path, public_pem) == (1, 0)


def _one_character_changed(serial: str) -> str:
    alphabet = serials.ALPHABET
    return serial[:-1] + alphabet[(alphabet.index(serial[-1]) + 1) % len(alphabet)]


def test_attack_changed_check_character_is_refused(
    tmp_path, open_registry, public_pem, signing_key
):
    """One check character changed in a signed file: the signature no longer matches (ES938)."""
    reg = open_registry()
    path = _signed(tmp_path / "keys.csv", _csv(_row(S1), _row(S2)), signing_key)
    path.write_text(path.read_text().replace(S2, _one_character_changed(S2)))
    error = _refused(reg, path, public_pem)
    assert error.code == "ES938"
    assert "does not match" in error.detail


def test_attack_wrong_check_character_even_if_signed_names_the_line(
    tmp_path, open_registry, public_pem, signing_key
):
    """A wrong check character is caught on its own too (signed by mistake): ES931, FILE:3."""
    reg = open_registry()
    path = tmp_path / "keys.csv"
    _signed(path, _csv(_row(S1), _row(_one_character_changed(S2)), _row(S3)), signing_key)
    error = _refused(reg, path, public_pem)
    assert error.code == "ES931"
    assert f"{path}:3: serial" in error.detail
    assert "check character" in error.detail


def test_attack_added_line_is_refused(tmp_path, open_registry, public_pem, signing_key):
    """A line added to a signed file (re-signing needs the private key): ES938."""
    reg = open_registry()
    path = _signed(tmp_path / "keys.csv", _csv(_row(S1)), signing_key)
    with path.open("a") as handle:
        handle.write(_row(S3) + "\n")
    assert _refused(reg, path, public_pem).code == "ES938"


def test_attack_made_up_serial_with_a_valid_shape_is_refused(
    tmp_path, open_registry, public_pem, signing_key
):
    """A made-up serial of the right shape and a right check character, added: ES938."""
    reg = open_registry()
    path = _signed(tmp_path / "keys.json", json.dumps([]), signing_key)
    rows = [{"serial": S3, "batch": "R-00001", "created": "2026-11-27", "product": PRODUCT}]
    path.write_text(json.dumps(rows))
    assert _refused(reg, path, public_pem).code == "ES938"


def test_attack_broken_signature_is_refused(tmp_path, open_registry, public_pem, signing_key):
    """A signature file damaged (one byte) or not base64: ES938."""
    reg = open_registry()
    path = _signed(tmp_path / "keys.csv", _csv(_row(S1)), signing_key)
    sig = path.with_name("keys.csv.sig")
    raw = bytearray(base64.b64decode(sig.read_bytes()))
    raw[0] ^= 1
    sig.write_bytes(base64.b64encode(bytes(raw)))
    assert _refused(reg, path, public_pem).code == "ES938"
    sig.write_text("not base64!")
    assert _refused(reg, path, public_pem).code == "ES938"


def test_attack_missing_signature_is_refused(tmp_path, open_registry, public_pem):
    """An unsigned file (an old registry, or one made by hand): ES938 saying how to get one."""
    reg = open_registry()
    path = tmp_path / "keys.csv"
    path.write_text(_csv(_row(S1)))
    error = _refused(reg, path, public_pem)
    assert error.code == "ES938"
    assert "re-run personalize" in error.detail


def test_attack_signed_by_another_key_is_refused(tmp_path, open_registry, public_pem):
    """A file signed by someone else's key: ES938."""
    reg = open_registry()
    path = _signed(tmp_path / "keys.csv", _csv(_row(S1)), ed25519.Ed25519PrivateKey.generate())
    assert _refused(reg, path, public_pem).code == "ES938"


def test_attack_another_products_file_is_refused(tmp_path, open_registry, public_pem, signing_key):
    """Keys made for another product (same signing key): ES931 naming the line."""
    reg = open_registry()
    path = tmp_path / "keys.csv"
    _signed(path, _csv(_row(S1), _row(S2, "other-bank-key")), signing_key)
    error = _refused(reg, path, public_pem)
    assert error.code == "ES931"
    assert f"{path}:3: product 'other-bank-key'" in error.detail


@pytest.mark.parametrize(
    ("content", "culprit"),
    [
        ("serial,batch,created\nA,B,C\n", "header"),
        (_csv("bad serial,B,C," + PRODUCT), ":2: serial"),
        (_csv(_row(S1), _row(S1)), ":3: serial " + S1 + " repeated"),
        (_csv(_row(S1) + ",extra"), ":2: more than four fields"),
        (_csv(f"{S1},bad batch,C,{PRODUCT}"), ":2: batch"),
        ('[{"serial": 1, "batch": "B", "created": "C", "product": "P"}]', ":item 1:"),
        ("[1, 2]", "list of objects"),
        ("[", "invalid JSON"),
    ],
)
def test_bad_registry_names_the_culprit_and_imports_nothing(
    tmp_path, open_registry, signing_key, content, culprit
):
    """A bad (but signed) registry file is ES931 naming the row, and nothing is imported."""
    reg = open_registry()
    path = _signed(tmp_path / "keys.csv", content, signing_key)
    error = _refused(reg, path, _public_pem(signing_key))
    assert error.code == "ES931"
    assert culprit in error.detail


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
