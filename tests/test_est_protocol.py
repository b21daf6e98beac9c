"""The EST wire words: one spelling, every server refusal rule known to the launcher's client."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from esecure import est_protocol
from esecure.est_protocol import (
    Operation,
    Refusal,
    media_type,
    operation_path,
    operation_url,
    refusal_rule,
)
from esecure.launcher.enrol import REFUSAL_CODES

SRC = Path(__file__).resolve().parents[1] / "src" / "esecure"


def _server_refusals() -> tuple[set[str], list[str]]:
    """(Refusal members the server raises, Refused(...) calls whose rule is not one)."""
    named, offenders = set(), []
    for path in sorted((SRC / "server").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Refused"):
                continue
            rule = node.args[1] if len(node.args) > 1 else None
            if (
                isinstance(rule, ast.Attribute)
                and isinstance(rule.value, ast.Name)
                and rule.value.id == "Refusal"
            ):
                named.add(rule.attr)
            else:
                offenders.append(f"{path.name}:{node.lineno}")
    return named, offenders


def test_server_refuses_by_every_declared_rule_and_no_other():
    """Each Refused(...) of the server names a Refusal member, and every member is used."""
    named, offenders = _server_refusals()
    assert offenders == [], "spell the rule as est_protocol.Refusal.X"
    assert named == {rule.name for rule in Refusal}


def test_client_maps_every_rule_the_server_sends():
    """The launcher's client has a catalogue code for exactly the server's rules."""
    assert set(REFUSAL_CODES) == set(Refusal)
    assert all(code.startswith("ES2") for code in REFUSAL_CODES.values())


def test_rule_names_on_the_wire_never_change():
    """Keys in the field read these exact words: renaming one would misread refusals."""
    assert est_protocol.REFUSAL_HEADER == "X-Esecure-Refusal"
    assert [rule.value for rule in Refusal] == [
        "credentials",
        "lockout",
        "code-used",
        "code-expired",
        "content-type",
        "body",
        "csr-syntax",
        "csr-key",
        "csr-signature",
        "csr-subject",
        "binding",
        "renewal-auth",
        "revoked",
        "user-disabled",
    ]


@pytest.mark.parametrize("header", [None, "", "rate-limited", "CREDENTIALS"])
def test_unknown_refusal_header_leaves_the_status_to_decide(header):
    """No header, or a word we do not know (another EST server): no rule."""
    assert refusal_rule(header) is None


def test_known_refusal_header_is_its_rule():
    """The header's word reads back as its rule."""
    assert refusal_rule("code-expired ") is Refusal.CODE_EXPIRED


def test_operation_paths_are_rfc_7030s():
    """The operations live under /.well-known/est/ (RFC 7030 3.2.2)."""
    assert [operation_path(op) for op in Operation] == [
        "/.well-known/est/cacerts",
        "/.well-known/est/simpleenroll",
        "/.well-known/est/simplereenroll",
        "/.well-known/est/csrattrs",
    ]


@pytest.mark.parametrize(
    "base", ["https://bank.example/.well-known/est/", "https://bank.example/.well-known/est"]
)
def test_operation_url_joins_with_one_slash(base):
    """The configured base URL, with or without its final slash, joins the operation once."""
    assert operation_url(base, Operation.SIMPLEENROLL) == (
        "https://bank.example/.well-known/est/simpleenroll"
    )


def test_media_type_drops_parameters_and_case():
    """``Application/PKCS10; charset=x`` is application/pkcs10."""
    assert media_type(" Application/PKCS10; charset=x") == est_protocol.PKCS10_TYPE


def test_protocol_module_imports_only_the_standard_library():
    """Both rooms import it: it may bring neither's dependencies (nor anything else)."""
    tree = ast.parse((SRC / "est_protocol.py").read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)
