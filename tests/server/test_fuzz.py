"""Fuzzing the server over real HTTPS, never a 5xx and never a traceback in the log:

* the EST service: >= 1,000 malformed or well-formed-but-wrong requests, hits counted per
  refusal rule;
* every route (EST, update repository, the portal's pages): >= 1,000 raw requests
  written byte by byte on TLS sockets — broken request lines, headers and framing,
  traversal paths, truncations — from a fixed seed.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import http.client
import logging
import random
import ssl
import time
import urllib.parse

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esecure.server import admin as ops
from esecure.server.http import Limits
from esecure.server.registry import Registry
from tests.server.est_support import ServerThread, add_customer, basic
from tests.server.serve_process import raw_exchange, status_of

pytestmark = pytest.mark.slow

EXAMPLES = 1100
KEYS = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)] + [
    ec.generate_private_key(ec.SECP384R1()),
    ec.generate_private_key(ec.SECP521R1()),  # refused curve
    rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505 - the attack
]
CONTENT_TYPES = [
    "application/pkcs10",
    "application/json",
    "text/plain",
    "",
    "application/pkcs7-mime",
]
IDENTIFIERS = st.sampled_from(["alice", "bob", "mallory", "ALICE", "al ice", ""]) | st.text(
    max_size=12
)
SERIALS = st.sampled_from(["KEY-0001", "KEY-BOB", "UNKNOWN-1", "key-0001", "", "X" * 40]) | st.text(
    alphabet="ABCXYZ0189-abz :?",
    max_size=10,  # serialNumber is a PrintableString
)


def _csr(key_index: int, identifier: str, serial: str | None) -> bytes:
    attributes = []
    if identifier:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, identifier))
    if serial:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name(attributes))
        .sign(KEYS[key_index], hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.DER)


OWN_SERIAL = {"alice": "KEY-0001", "bob": "KEY-BOB"}
FLAWS = [
    "none",
    "other-serial",  # bob's key, or one never registered
    "other-identifier",
    "no-serial",
    "bad-signature",
    "truncated",
    "not-base64",
    "content-type",
    "weak-key",
    "odd-subject",
]


@st.composite
def requests(draw):
    """(path, auth, headers, body): malformed, or well-formed but wrong in one way.

    ``auth`` is (identifier, "right" | "wrong" | "none" | a raw header): the right code is
    filled in at send time, since a success consumes it. Wrong codes go to identities of
    their own so that the lockout they cause leaves the other rules reachable.
    """
    kind = draw(st.sampled_from(["malformed", "wrong", "wrong", "wrong", "reenroll"]))
    path = "simplereenroll" if kind == "reenroll" else "simpleenroll"
    choice = draw(st.sampled_from(["right"] * 5 + ["wrong", "none", "raw"]))
    identifier = draw(st.sampled_from(["alice", "bob"]))
    auth: tuple[str, str] = (identifier, choice)
    if choice == "wrong":
        auth = (draw(st.sampled_from(["mallory", "eve", "alice2"])), "wrong")
    elif choice == "raw":
        auth = ("", draw(st.sampled_from(["Basic", "Bearer x", "Basic !!!", "Basic OmFh"])))
    headers = {"Content-Type": "application/pkcs10"}
    if kind == "malformed":
        headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES))
        body = draw(st.binary(max_size=300))
        if draw(st.booleans()):
            body = base64.b64encode(body)
        return path, auth, headers, body
    flaw = draw(st.sampled_from(FLAWS))
    cn, serial, key = identifier, OWN_SERIAL[identifier], draw(st.integers(0, 2))
    if flaw == "other-serial":
        serial = draw(
            st.sampled_from(["KEY-0001", "KEY-BOB", "UNKNOWN-1"]).filter(
                lambda s: s != OWN_SERIAL[identifier]
            )
        )
    elif flaw == "other-identifier":
        cn = draw(st.sampled_from(["alice", "bob", "someone"]).filter(lambda c: c != identifier))
    elif flaw == "no-serial":
        serial = None
    elif flaw == "weak-key":
        key = draw(st.integers(3, len(KEYS) - 1))
    elif flaw == "odd-subject":
        cn, serial = draw(IDENTIFIERS), draw(SERIALS)
    elif flaw == "content-type":
        headers["Content-Type"] = draw(st.sampled_from(CONTENT_TYPES[1:]))
    der = _csr(key, cn, serial)
    if flaw == "bad-signature":
        # ECDSA signatures vary in length: draw positions independent of it.
        index = 10 + draw(st.integers(0, 10_000)) % (len(der) - 10)
        der = der[:index] + bytes([der[index] ^ 0x01]) + der[index + 1 :]
    elif flaw == "truncated":
        der = der[: draw(st.integers(0, 10_000)) % len(der)]
    body = der if flaw == "not-base64" else base64.encodebytes(der)
    return path, auth, headers, body


class _Client:
    """One kept-alive HTTPS connection, reopened when the server closes it."""

    def __init__(self, url: str, ca) -> None:
        self.parts = urllib.parse.urlsplit(url)
        self.context = ssl.create_default_context(cafile=str(ca))
        self.conn: http.client.HTTPSConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def post(self, path: str, headers: dict[str, str], body: bytes):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(
                    self.parts.hostname, self.parts.port, context=self.context, timeout=30
                )
            try:
                self.conn.request("POST", self.parts.path + path, body=body, headers=headers)
                response = self.conn.getresponse()
                response.read()
                rule = response.getheader("X-Esecure-Refusal")
                return response.status, rule or ("issued" if response.status == 200 else "?")
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _no_traceback(caplog) -> None:
    """Nothing the server logged carries a traceback or says one."""
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()


def test_fuzz_refusal_rules_never_5xx(est_server, caplog):
    """>= 1,000 requests; every refusal rule is hit; no answer is a 5xx; no traceback."""
    caplog.set_level(logging.INFO)
    alice = add_customer(est_server.db_url, "alice", "KEY-0001")
    bob = add_customer(est_server.db_url, "bob", "KEY-BOB")
    codes = {"alice": alice.code, "bob": bob.code}
    registry = Registry.open(est_server.db_url)
    client = _Client(est_server.est_url, est_server.project.trust.ca_certificate)
    hits: collections.Counter[str] = collections.Counter()
    statuses: collections.Counter[int] = collections.Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same 1,100 inputs in every run: a failure replays exactly
        suppress_health_check=list(HealthCheck),
    )
    @given(requests())
    def send(request):
        path, (identifier, choice), headers, body = request
        if choice == "right":
            headers["Authorization"] = basic(identifier, codes[identifier])
        elif choice == "wrong":
            headers["Authorization"] = basic(identifier, "WRONG-CODE")
        elif choice != "none":
            headers["Authorization"] = choice
        status, rule = client.post(path, headers, body)
        if status == 200 and path == "simpleenroll":
            codes[identifier] = ops.issue_code(registry, identifier, time.time()).code
        statuses[status] += 1
        hits[rule] += 1
        assert status < 500, (status, request)

    try:
        send()
    finally:
        client.close()
        registry.close()
    print(f"\nrequests: {sum(statuses.values())}; statuses: {dict(statuses)}")
    print("hits per rule:", dict(sorted(hits.items())))
    assert sum(statuses.values()) >= 1000
    _no_traceback(caplog)
    for rule in (
        "credentials",
        "lockout",
        "content-type",
        "body",
        "csr-syntax",
        "csr-signature",
        "csr-subject",
        "csr-key",
        "binding",
        "renewal-auth",
    ):
        assert hits[rule] > 0, f"the fuzzer never reached rule {rule}: {dict(hits)}"


# --- raw HTTP across every route ------------------------------------------------------

RAW_EXAMPLES = 1200
ROUTES = [
    "/.well-known/est/cacerts",
    "/.well-known/est/csrattrs",
    "/.well-known/est/simpleenroll",
    "/.well-known/est/simplereenroll",
    "/crl",
    "/updates/metadata/timestamp.json",
    "/updates/metadata/1.root.json",
    "/updates/targets/demo-bank-1.0.0.release",
    "/updates/targets/",
    "/updates/metadata/../../keys/ca.key.pem",
    "/updates/targets/%2e%2e/%2e%2e/esecure.toml",
    "/",
    "/nowhere",
    # the portal's pages (forms, keypad, session pages, static files, the PDF)
    "/login",
    "/code",
    "/first-login",
    "/session-choice",
    "/contact",
    "/registered",
    "/area",
    "/services",
    "/accounts",
    "/accounts/1",
    "/transfers",
    "/statements",
    "/statements/1/2026-10.pdf",
    "/guide",
    "/logout",
    "/static/portal/portal.css",
    "/static/portal/keypad.js",
    "/login?lang=fr",
]
GOOD_METHODS = ["GET", "POST", "HEAD"]
ODD_METHODS = ["PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
               "get", "G\x00T", "", "\x16\x03\x01"]  # fmt: skip
ODD_VERSIONS = ["HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "HTTP/0.9", "http/1.1", ""]
HEADER_VALUES = {
    "Content-Length": ["0", "5", "-1", "99999999999999999999", "1, 2", "abc", " 3", "65537"],
    "Transfer-Encoding": ["chunked", "gzip", "chunked, chunked", "identity", "x"],
    "Content-Type": [
        "application/pkcs10",
        "text/plain",
        "",
        "multipart/form-data; boundary=",
        "application/x-www-form-urlencoded",
    ],
    "Content-Encoding": ["gzip", "br", "identity", "deflate"],
    "Content-Transfer-Encoding": ["base64", "binary"],
    "Authorization": ["Basic YWxpY2U6MTIzNDU2", "Basic", "Bearer x", "Basic !!!", "Digest a"],
    "Expect": ["100-continue", "nonsense"],
    "Connection": ["keep-alive", "upgrade", "close, upgrade"],
    "Upgrade": ["websocket", "h2c", "TLS/1.2"],
    "Range": ["bytes=0-1", "bytes=5-1", "bytes=-99999999999"],
    "Accept": ["text/html", "*/*", "application/pkcs7-mime"],
    "Accept-Language": ["fr-FR,fr;q=0.9", "xx;q=abc", "*", "en;q=2"],
    "Cookie": ["__Host-esecure-session=abc", "__Host-esecure-pre=\u00e9t\u00e9", "a=b; c", "=;=;"],
    "X-SSL-Client-Cert": ["-----BEGIN CERTIFICATE-----%0Ax", ""],
}


def _skeleton(rng: random.Random) -> bytes:
    """A near-valid request: mostly a good method, version and framing, with odd parts
    drawn now and then."""
    target = rng.choice(ROUTES)
    if rng.random() < 0.2:
        target += "?code=" + str(rng.randrange(10**6)).zfill(6)
    if rng.random() < 0.05:
        target = "/" + "".join(rng.choice("ab/.%~\\\x00 ") for _ in range(rng.randrange(1, 60)))
    method = rng.choice(GOOD_METHODS) if rng.random() < 0.75 else rng.choice(ODD_METHODS)
    version = "HTTP/1.1" if rng.random() < 0.8 else rng.choice(ODD_VERSIONS)
    host = "Host: 127.0.0.1" if rng.random() < 0.9 else rng.choice(["Host: ", ""])
    lines = [f"{method} {target} {version}", host]
    names = rng.sample(sorted(HEADER_VALUES), rng.choice([0, 0, 1, 2, 3]))
    lines += [f"{name}: {rng.choice(HEADER_VALUES[name])}" for name in names]
    if rng.random() < 0.05:
        lines.append(
            f"X-{rng.randrange(1000)}: " + "".join(chr(rng.randrange(256)) for _ in range(20))
        )
    if rng.random() < 0.03:
        lines += [f"X-Many-{i}: 1" for i in range(rng.choice([120, 1000]))]
    if rng.random() < 0.03:
        lines.append("X-Big: " + "a" * rng.choice([9000, 20000]))
    body = b""
    if method == "POST" or rng.random() < 0.1:
        body = rng.randbytes(rng.choice([0, 5, 40, 300]))
        if rng.random() < 0.8:
            lines.append(f"Content-Length: {len(body)}")
        else:
            lines.append("Transfer-Encoding: chunked")
            body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    lines.append("Connection: close")
    head = "\r\n".join(line for line in lines if line) + "\r\n\r\n"
    return head.encode("latin-1") + body


def _corrupt(rng: random.Random, data: bytes) -> bytes:
    """Zero to three corruptions: truncation, a flipped bit, an inserted byte, a bare
    LF, a duplicated span."""
    for _ in range(rng.choice([0, 0, 0, 0, 0, 1, 1, 1, 2, 3])):
        if not data:
            break
        cut = rng.randrange(len(data))
        kind = rng.choice(["truncate", "flip", "insert", "lf", "duplicate"])
        if kind == "truncate":
            data = data[:cut]
        elif kind == "flip":
            data = data[:cut] + bytes([data[cut] ^ (1 << rng.randrange(8))]) + data[cut + 1 :]
        elif kind == "insert":
            data = (
                data[:cut]
                + rng.choice([b"\r", b"\n", b"\x00", b" ", b":", b"\r\n\r\n"])
                + data[cut:]
            )
        elif kind == "lf":
            data = data.replace(b"\r\n", b"\n", 1)
        else:
            data = data[:cut] + data[cut : cut + 40] + data[cut:]
    return data


@pytest.fixture
def fuzz_server(demo_project):
    """The server with short timeouts (a truncated request waits for one) and a few
    repository files to hit."""
    repository = demo_project / "repository"
    (repository / "metadata").mkdir(parents=True)
    (repository / "targets").mkdir()
    (repository / "metadata" / "timestamp.json").write_text("{}")
    (repository / "metadata" / "1.root.json").write_text("{}")
    (repository / "targets" / "demo-bank-1.0.0.release").write_bytes(b"release")
    limits = Limits(
        tls_handshake_timeout=5,
        header_timeout=0.5,
        body_timeout=0.5,
        idle_timeout=0.5,
        close_timeout=0.5,
    )
    with ServerThread(demo_project, limits=limits) as server:
        yield server


def test_fuzz_raw_http_across_every_route_never_5xx(fuzz_server, caplog):
    """>= 1,000 raw requests over TLS on every route: each answered 2xx-4xx or closed
    (a silent close for a request that never completes), never a 5xx; no traceback."""
    caplog.set_level(logging.INFO)
    rng = random.Random(9)  # noqa: S311 - fixed seed: a failure replays exactly
    requests_ = [_corrupt(rng, _skeleton(rng)) for _ in range(RAW_EXAMPLES)]
    ca = fuzz_server.project.trust.ca_certificate

    def send(data: bytes) -> int:
        return status_of(raw_exchange(fuzz_server.port, ca, data, timeout=15))

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = collections.Counter(pool.map(send, requests_))
    print(f"\nraw requests: {sum(statuses.values())}; statuses: {dict(sorted(statuses.items()))}")
    assert sum(statuses.values()) >= 1000
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[400] > 100  # many refused as malformed
    assert statuses[200] > 50  # and the well-formed ones still served
    _no_traceback(caplog)
