"""Any RFC 7030 client works: curl + openssl, following FINDINGS' recipe."""

from __future__ import annotations

import subprocess

import pytest

from tests.server.est_support import est_request

pytestmark = pytest.mark.slow


def _run(command: str, **kwargs) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S602 - fixed command lines with test-made paths
        command, shell=True, capture_output=True, check=True, timeout=60, **kwargs
    )


def _csr(tmp_path, identifier, serial, name):
    key = tmp_path / f"{name}.key"
    _run(
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        f"-keyout {key} -subj '/CN={identifier}/serialNumber={serial}' -outform DER "
        f"| base64 > {tmp_path / name}.b64"
    )
    return key, tmp_path / f"{name}.b64"


def _certs(body: bytes) -> str:
    return _run("base64 -d | openssl pkcs7 -inform DER -print_certs", input=body).stdout.decode()


def test_curl_and_openssl_enrol_and_renew(est_server, customer, tmp_path):
    """cacerts, simpleenroll (Basic), simplereenroll (client cert) with curl + openssl."""
    ca = est_server.project.trust.ca_certificate
    base = est_server.est_url
    cacerts = _run(f"curl -sS --fail --cacert {ca} {base}cacerts").stdout
    assert "e-secure CA" in _certs(cacerts)

    key, csr = _csr(tmp_path, customer.identifier, customer.serial, "first")
    body = _run(
        f"curl -sS --fail --cacert {ca} -u {customer.identifier}:{customer.code} "
        "-H 'Content-Type: application/pkcs10' -H 'Content-Transfer-Encoding: base64' "
        f"--data-binary @{csr} {base}simpleenroll"
    ).stdout
    first = _certs(body)
    assert "serialNumber = KEY-0001" in first
    assert "CN = alice" in first
    cert = tmp_path / "first.pem"
    cert.write_text(first)

    _key2, csr2 = _csr(tmp_path, customer.identifier, customer.serial, "second")
    renewed = _run(
        f"curl -sS --fail --cacert {ca} --cert {cert} --key {key} "
        "-H 'Content-Type: application/pkcs10' -H 'Content-Transfer-Encoding: base64' "
        f"--data-binary @{csr2} {base}simplereenroll"
    ).stdout
    second = _certs(renewed)
    assert "serialNumber = KEY-0001" in second
    assert second != first


def test_curl_without_client_certificate_cannot_renew(est_server, customer, tmp_path):
    """simplereenroll without a certificate is 401 for curl too."""
    ca = est_server.project.trust.ca_certificate
    _key, csr = _csr(tmp_path, customer.identifier, customer.serial, "x")
    status = _run(
        f"curl -sS -o /dev/null -w '%{{http_code}}' --cacert {ca} "
        "-H 'Content-Type: application/pkcs10' "
        f"--data-binary @{csr} {est_server.est_url}simplereenroll"
    ).stdout
    assert status == b"401"


def test_crl_is_served_as_der(est_server):
    """/crl is a DER CRL signed by the project CA, readable by openssl."""
    answer = est_request(
        est_server.url + "crl", ca=est_server.project.trust.ca_certificate, method="GET"
    )
    text = _run("openssl crl -inform DER -noout -issuer", input=answer.body).stdout.decode()
    assert "e-secure CA" in text


def test_csrattrs_names_cn_and_serial_number(est_server):
    """/csrattrs (RFC 7030 4.5) tells any EST client to put CN and serialNumber in the CSR."""
    body = _run(
        f"curl -sS --fail --cacert {est_server.project.trust.ca_certificate} "
        f"{est_server.est_url}csrattrs | base64 -d | openssl asn1parse -inform DER"
    ).stdout.decode()
    assert ":commonName" in body
    assert ":serialNumber" in body
