"""Fuzzing the EST service over real HTTPS: >= 1,000 malformed or well-formed-but-wrong
requests, hits counted per refusal rule, never a 5xx."""

from __future__ import annotations

import base64
import collections
import http.client
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
from esecure.server.registry import Registry
from tests.server.est_support import add_customer, basic

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


def test_fuzz_refusal_rules_never_5xx(est_server):
    """>= 1,000 requests; every refusal rule is hit; no answer is a 5xx."""
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
