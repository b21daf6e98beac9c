"""Attacks on the HTTP layer, one per test, against the real server (in this process, real
TLS on 127.0.0.1) with small limits: each names the attack, checks the answer and what the
audit trail and the registry hold afterwards."""

from __future__ import annotations

import logging
import socket
import ssl
import time

import pytest

from esecure.server.http import Limits
from tests.server.est_support import PKCS10, ServerThread, add_customer, basic, est_request
from tests.server.serve_process import read_all, status_of, tls_socket

SMALL = Limits(
    tls_handshake_timeout=1,
    header_timeout=1,
    body_timeout=1,
    idle_timeout=3,
    send_timeout=1,
    close_timeout=1,
    max_connections=20,
    max_body=100_000,
)


@pytest.fixture
def server(demo_project):
    with ServerThread(demo_project, limits=SMALL) as running:
        yield running


def _audit(server: ServerThread) -> list[tuple[str, int, str]]:
    return [
        (endpoint, status, outcome)
        for _at, endpoint, _who, status, outcome in (server.registry().audit_log())
    ]


def _ended(sock: socket.socket, within: float = 15) -> tuple[bytes, bool]:
    """What the server sent and whether it closed the connection (EOF or reset) before
    ``within`` seconds (a bound against a hang, not a timing check)."""
    sock.settimeout(within)
    data = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data, False
        except (ssl.SSLError, ConnectionError):
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def _enrol_head(server: ServerThread, framing: str) -> str:
    """The head of a simpleenroll by a fresh customer with the right code."""
    who = add_customer(server.db_url)
    return (
        "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {basic(who.identifier, who.code)}\r\n"
        f"Content-Type: application/pkcs10\r\n{framing}\r\n\r\n"
    )


def test_silent_tcp_client_is_closed_by_the_handshake_timeout(server):
    """TCP opened, no ClientHello ever: the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        data, closed = _ended(sock)
    assert closed
    assert data == b""


def test_silent_tls_client_is_closed_by_the_idle_timeout(server):
    """TLS done, no request ever: the server closes it, sending nothing."""
    with tls_socket(server.port, server.project.trust.ca_certificate) as sock:
        data, closed = _ended(sock)
    assert closed
    assert data == b""


def test_slow_headers_get_a_408_and_the_connection_closes(server):
    """One header byte every 0.3 s: 408 once the header timeout passes, then closed;
    the refusal is audited."""
    with tls_socket(server.port, server.project.trust.ca_certificate) as sock:
        sock.sendall(b"GET /crl HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(0.3)
        answer = b""
        for _ in range(40):  # bounded: 12 s at most
            try:
                sock.sendall(b"X")
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            except (ssl.SSLError, ConnectionError):
                break
            if answer.endswith(b"\n") and b"408" in answer:
                break
        rest, closed = _ended(sock)
    assert status_of(answer + rest) == 408
    assert closed
    assert ("http", 408, "request headers not received within 1 s") in _audit(server)


def test_slow_body_gets_a_408_and_the_code_stays_unused(server):
    """Valid credentials, a body announced and never finished: 408, audited; the
    activation code is not consumed (it still works)."""
    head = _enrol_head(server, "Content-Length: 500")
    with tls_socket(server.port, server.project.trust.ca_certificate) as sock:
        sock.sendall(head.encode() + b"MIIB")
        answer, closed = _ended(sock)
    assert status_of(answer) == 408
    assert b"request body not received within 1 s" in answer
    assert closed
    assert ("/.well-known/est/simpleenroll", 408, "request body not received within 1 s") in (
        _audit(server)
    )
    assert server.registry().certificates() == []


def test_client_that_stops_reading_is_cut_off(server):
    """A 32 MB target requested and never read: the server stops after the send timeout
    instead of holding the connection (the client gets far less than the file)."""
    targets = server.project.root / "repository" / "targets"
    targets.mkdir(parents=True)
    (targets / "big.tar.gz").write_bytes(b"\0" * (32 << 20))
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect(("127.0.0.1", server.port))
    context = ssl.create_default_context(cafile=str(server.project.trust.ca_certificate))
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"GET /updates/targets/big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(4)  # not reading: the server's buffers fill and its send timer runs
        received = read_all(sock, limit=64 << 20, timeout=15)
    assert status_of(received) == 200
    assert len(received) < 32 << 20


def test_declared_oversized_body_is_refused_before_reading_and_audited(server):
    """Content-Length over the limit: 413 at once (the body is never sent), audited."""
    head = (
        b"POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/pkcs10\r\nContent-Length: 5000000\r\n\r\n"
    )
    with tls_socket(server.port, server.project.trust.ca_certificate) as sock:
        sock.sendall(head)
        answer, closed = _ended(sock)
    assert status_of(answer) == 413
    assert closed
    assert ("/.well-known/est/simpleenroll", 413, "request body over 100000 bytes") in (
        _audit(server)
    )


def test_est_body_over_its_own_limit_is_413_and_audited(server):
    """Valid credentials and a 70 KB body (EST takes 64 KB): 413 page, audited."""
    who = add_customer(server.db_url)
    answer = est_request(
        server.est_url + "simpleenroll",
        ca=server.project.trust.ca_certificate,
        body=b"A" * 70_000,
        headers={**PKCS10, "Authorization": basic(who.identifier, who.code)},
    )
    assert answer.status == 413
    assert b"too large" in answer.body
    statuses = [(e, s) for e, s, _o in _audit(server)]
    assert ("/.well-known/est/simpleenroll", 413) in statuses


def test_compressed_body_is_refused_never_inflated(server):
    """Content-Encoding: gzip (a would-be decompression bomb): 415, audited."""
    who = add_customer(server.db_url)
    answer = est_request(
        server.est_url + "simpleenroll",
        ca=server.project.trust.ca_certificate,
        body=b"\x1f\x8b" + b"\0" * 100,
        headers={
            **PKCS10,
            "Authorization": basic(who.identifier, who.code),
            "Content-Encoding": "gzip",
        },
    )
    assert answer.status == 415
    assert ("/.well-known/est/simpleenroll", 415) in [(e, s) for e, s, _o in _audit(server)]


def test_broken_chunk_inside_a_body_is_400_not_a_hang(server):
    """Chunked body whose second packet has an invalid chunk size: 400 at once."""
    head = _enrol_head(server, "Transfer-Encoding: chunked")
    with tls_socket(server.port, server.project.trust.ca_certificate) as sock:
        sock.sendall(head.encode())
        time.sleep(0.2)  # the head is parsed and the handler waits for the body
        sock.sendall(b"ZZ\r\n")
        answer, _closed = _ended(sock)
    assert status_of(answer) == 400


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("simpleenroll", {}),
        ("simpleenroll", {"Authorization": basic("alice", "000000")}),
        ("simplereenroll", {}),
    ],
    ids=["no-credentials", "wrong-code", "renewal-without-certificate"],
)
def test_every_401_carries_www_authenticate(server, path, headers):
    """RFC 9110 11.6.1: a 401 names how to authenticate."""
    answer = est_request(
        server.est_url + path,
        ca=server.project.trust.ca_certificate,
        body=b"x",
        headers={**PKCS10, **headers},
    )
    assert answer.status == 401
    assert answer.headers["www-authenticate"].startswith("Basic realm=")


def test_every_answer_has_nosniff_and_no_server_version(server):
    """nosniff everywhere; the Server header names no software version."""
    answer = est_request(
        server.est_url + "cacerts", ca=server.project.trust.ca_certificate, method="GET"
    )
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["server"] == "e-secure"


@pytest.fixture
def capped(demo_project):
    limits = Limits(idle_timeout=60, header_timeout=60, max_connections=20)
    with ServerThread(demo_project, limits=limits) as running:
        yield running


def test_connection_cap_refuses_with_503_logged_and_audited_once(capped, caplog):
    """20 idle connections fill the cap: the next gets a 503 page (Retry-After), those
    past the slack are dropped; one log line and one audit row however many are refused;
    once the 20 close, requests are served again."""
    ca = capped.project.trust.ca_certificate
    caplog.set_level(logging.INFO, logger="esecure.server")
    holders = [tls_socket(capped.port, ca) for _ in range(20)]
    try:
        answers = []
        for _ in range(10):
            try:
                answers.append(est_request(capped.url + "crl", ca=ca, method="GET").status)
            except (ssl.SSLError, ConnectionError, OSError):
                answers.append(0)  # dropped (past the slack)
        # the first refused connection gets the page; none is served
        assert answers[0] == 503
        assert 200 not in answers
    finally:
        for sock in holders:
            sock.close()
    for _ in range(50):  # the 20 slots are freed as the server sees them close
        try:
            status = est_request(capped.url + "crl", ca=ca, method="GET").status
        except (ssl.SSLError, ConnectionError, OSError):
            status = 0
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200
    cap_lines = [r for r in caplog.records if "connection cap of 20 reached" in r.getMessage()]
    assert len(cap_lines) == 1
    rows = [row for row in _audit(capped) if row[1] == 503]
    assert rows == [("http", 503, "connection cap of 20 reached")]
