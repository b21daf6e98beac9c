"""Production set-up: nginx terminates mutual TLS and forwards the verified certificate in
X-SSL-Client-Cert; the service trusts that header only from the configured proxy."""

from __future__ import annotations

import urllib.parse

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from esecure.server.est import make_app
from esecure.trust import make_ca, make_server_certificate
from tests.server.est_support import (
    PKCS10,
    ServerThread,
    add_customer,
    basic,
    enrol_body,
    est_request,
    make_csr,
)


def _header(cert) -> str:
    return urllib.parse.quote(cert.public_bytes(serialization.Encoding.PEM).decode())


def _enrolled(server):
    who = add_customer(server.db_url)
    key = ec.generate_private_key(ec.SECP256R1())
    answer = est_request(
        server.est_url + "simpleenroll",
        ca=server.project.trust.ca_certificate,
        body=enrol_body(make_csr(who.identifier, who.serial, key)),
        headers={**PKCS10, "Authorization": basic(who.identifier, who.code)},
    )
    return answer.certificates[0]


def _reenroll(server, header: str):
    return est_request(
        server.est_url + "simplereenroll",
        ca=server.project.trust.ca_certificate,
        body=enrol_body(make_csr("alice", "KEY-0001")),
        headers={**PKCS10, "X-SSL-Client-Cert": header},
    )


@pytest.fixture
def proxied(demo_project):
    factory = lambda issuer, registry: make_app(  # noqa: E731
        issuer, registry, trusted_proxy="127.0.0.1"
    )
    with ServerThread(demo_project, app_factory=factory) as server:
        yield server


def test_certificate_forwarded_by_the_trusted_proxy_renews(proxied):
    """From the configured proxy address, the forwarded certificate authenticates."""
    cert = _enrolled(proxied)
    assert _reenroll(proxied, _header(cert)).status == 200


def test_attack_header_ignored_without_a_trusted_proxy(est_server):
    """Without --trusted-proxy the header is ignored: 401."""
    cert = _enrolled(est_server)
    assert _reenroll(est_server, _header(cert)).status == 401


def test_attack_forged_certificate_in_the_header_is_refused(proxied):
    """A certificate from another CA in the header is refused even from the proxy."""
    _enrolled(proxied)
    ca_key, ca_cert = make_ca("Forger", "Forger")
    _key, forged = make_server_certificate(ca_key, ca_cert)
    answer = _reenroll(proxied, _header(forged))
    assert answer.status == 401


def test_attack_expired_certificate_in_the_header_is_refused(proxied):
    """An expired certificate of the project's CA, forwarded by a misconfigured proxy: 401."""
    import datetime as dt  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415

    from esecure.trust import load_certificate, load_private_key  # noqa: PLC0415

    current = _enrolled(proxied)
    trust = proxied.project.trust
    ca_key = load_private_key(trust.ca_key)
    ca_cert = load_certificate(trust.ca_certificate)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    expired = (
        x509.CertificateBuilder()
        .subject_name(current.subject)
        .issuer_name(ca_cert.subject)
        .public_key(current.public_key())
        .serial_number(current.serial_number)
        .not_valid_before(past - dt.timedelta(days=1))
        .not_valid_after(past)
        .sign(ca_key, hashes.SHA256())
    )
    answer = _reenroll(proxied, _header(expired))
    assert answer.status == 401
