"""Attacks on the enrolment service, one per test: the refusal, and what was not issued."""

from __future__ import annotations

import concurrent.futures
import ssl
import time

import pytest
from cryptography.hazmat.primitives import serialization

from esecure.server import admin as ops
from esecure.trust import make_ca, make_server_certificate
from tests.server.conftest import BACKENDS
from tests.server.est_support import PKCS10, basic, enrol_body, est_request, make_csr

# Every test here runs against both registry backends.
pytestmark = pytest.mark.parametrize("est_db_url", BACKENDS, indirect=True)


def _enrol(server, identifier, code, serial):
    return est_request(
        server.est_url + "simpleenroll",
        ca=server.project.trust.ca_certificate,
        body=enrol_body(make_csr(identifier, serial)),
        headers={**PKCS10, "Authorization": basic(identifier, code)},
    )


def test_attack_one_code_raced_by_parallel_requests(est_server, customer):
    """Eight simultaneous enrolments with one activation code: exactly one certificate."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _i: _enrol(est_server, "alice", customer.code, "KEY-0001"), range(8))
        )
    assert sorted(a.status for a in answers) == [200] + [401] * 7
    assert len(est_server.registry().certificates()) == 1


def test_attack_stolen_key_with_the_thiefs_own_code(est_server, customer):
    """Bob holds a valid code of his own and alice's key: 403, nothing issued."""
    registry = est_server.registry()
    ops.add_user(registry, "bob", time.time())
    bob_code = ops.issue_code(registry, "bob", time.time()).code
    answer = _enrol(est_server, "bob", bob_code, "KEY-0001")
    assert (answer.status, answer.headers["x-esecure-refusal"]) == (403, "binding")
    assert registry.certificates() == []
    # Bob's code was not consumed by the refused attempt (a refusal changes nothing).
    assert registry.check_code("bob", bob_code, time.time()).outcome == "ok"


def test_attack_renewal_with_a_certificate_from_another_ca(est_server, customer, tmp_path):
    """A client certificate not issued by the project CA is refused at the handshake."""
    ca_key, ca_cert = make_ca("Other CA", "Other")
    key, cert = make_server_certificate(ca_key, ca_cert, hosts=("alice",))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises((ssl.SSLError, ConnectionError)):
        est_request(
            est_server.est_url + "simplereenroll",
            ca=est_server.project.trust.ca_certificate,
            body=enrol_body(make_csr("alice", "KEY-0001")),
            headers=PKCS10,
            client_cert=(tmp_path / "c.pem", tmp_path / "k.pem"),
        )
    assert est_server.registry().certificates() == []
