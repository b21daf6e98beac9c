"""What `esecure serve` says and logs (a real process; its stderr is the log):
malformed HTTP answered 4xx with one log line each, never a traceback, never a secret —
credentials in Authorization, cookies, codes in request lines; a port in use named as
such; the URLs and the CA file printed at start."""

from __future__ import annotations

import base64
import collections
import subprocess

import pytest

from esecure.server.registry import Registry
from tests.server.est_support import PKCS10, basic
from tests.server.serve_process import ESECURE, ServeProcess, raw_exchange, request, status_of

pytestmark = pytest.mark.slow

CODE = "739164"  # a secret code: must appear in no log line
COOKIE = "C00KIE-SECRET-42"
QUERY = "Q5ECRET-CODE-77"
BASIC = base64.b64encode(f"alice:{CODE}".encode()).decode()
SECRETS = [CODE, COOKIE, QUERY, BASIC]

HOST = b"Host: 127.0.0.1\r\n"
AUTH = f"Authorization: Basic {BASIC}\r\n".encode()
COOKIES = f"Cookie: session={COOKIE}\r\n".encode()
LINE = f"GET /updates/metadata/root.json?code={QUERY} HTTP/1.1\r\n".encode()

# name -> (raw request, expected status)
MALFORMED: dict[str, tuple[bytes, int]] = {
    "header-10-kb": (LINE + HOST + AUTH + COOKIES + b"X-Big: " + b"a" * 10240 + b"\r\n\r\n", 431),
    "1000-headers": (
        LINE + HOST + AUTH + b"".join(b"X-H%d: 1\r\n" % i for i in range(1000)) + b"\r\n",
        431,
    ),
    "content-length-and-transfer-encoding": (
        b"POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
        + HOST
        + AUTH
        + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "request-line-is-credentials": (AUTH + COOKIES + b"\r\n", 400),
    "bad-method-with-code": (f"G@T /?code={QUERY} HTTP/1.1\r\n".encode() + HOST + b"\r\n", 400),
    "bad-version-with-code": (
        f"GET /?code={QUERY} HTTP/9.9\r\n".encode() + HOST + AUTH + b"\r\n",
        400,
    ),
    "request-line-10-kb-with-code": (
        f"GET /?code={QUERY}&pad=".encode() + b"a" * 10240 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
        431,
    ),
    "nul-in-target": (
        b"GET /crl\x00?code=" + QUERY.encode() + b" HTTP/1.1\r\n" + HOST + b"\r\n",
        400,
    ),
    "negative-content-length": (
        b"POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
        + HOST
        + AUTH
        + b"Content-Length: -1\r\n\r\n",
        400,
    ),
    "two-content-lengths": (
        b"POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
        + HOST
        + AUTH
        + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    "space-before-colon": (LINE + b"Host : x\r\n" + AUTH + b"\r\n", 400),
    "obsolete-line-folding": (LINE + HOST + COOKIES + b"X-A: 1\r\n  2\r\n\r\n", 400),
    "bare-line-feeds": (
        LINE.replace(b"\r\n", b"\n") + b"Host: x\n" + AUTH.replace(b"\r", b"") + b"\n",
        400,
    ),
    "control-char-in-header": (LINE + HOST + AUTH + b"X-A: a\x01b\r\n\r\n", 400),
    "http2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
    "unknown-transfer-encoding": (
        b"POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
        + HOST
        + AUTH
        + b"Transfer-Encoding: gzip\r\n\r\n",
        400,
    ),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One `esecure serve` for the module: the malformed requests, then well-formed
    refusals with secrets, then stopped; yields its answers, log and registry rows."""
    from esecure.scaffold import InitOptions, init_project  # noqa: PLC0415

    base = tmp_path_factory.mktemp("hygiene")
    project = base / "project"
    init_project(project, InitOptions(demo=True), passphrase=None)
    answers: dict[str, bytes] = {}
    with ServeProcess(project, log=base / "serve.log") as server:
        for name, (data, _status) in MALFORMED.items():
            answers[name] = raw_exchange(server.port, server.ca, data)
        enrol = server.url + ".well-known/est/simpleenroll"
        refusals = {
            "wrong-code": request(
                enrol,
                server.ca,
                "POST",
                b"x",
                {**PKCS10, "Authorization": basic("alice", CODE), "Cookie": f"s={COOKIE}"},
            ),
            "no-certificate": request(
                server.url + ".well-known/est/simplereenroll", server.ca, "POST", b"x", PKCS10
            ),
            "too-large": request(
                enrol,
                server.ca,
                "POST",
                b"x" * 2_000_000,
                {**PKCS10, "Authorization": basic("alice", CODE)},
            ),
            "query-code": request(server.url + f"crl?code={QUERY}", server.ca),
        }
        announce = list(server.announce)
    registry = Registry.open(f"sqlite:///{project / 'server' / 'registry.db'}")
    try:
        audit = registry.audit_log()
    finally:
        registry.close()
    return {
        "answers": answers,
        "refusals": refusals,
        "log": server.log(),
        "audit": audit,
        "announce": announce,
        "exit": server.exit_code,
        "project": project,
    }


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_gets_a_4xx_page(served, name):
    """Each malformed request: its 4xx, a readable page, and the connection closed."""
    answer = served["answers"][name]
    assert status_of(answer) == MALFORMED[name][1], answer[:200]
    assert b"Connection: close" in answer or b"HTTP/1.0" in answer.split(b"\r\n", 1)[0]
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert b"malformed" in body or b"too large or too many" in body


def test_one_log_line_per_malformed_request(served):
    """Exactly one line per malformed request (and nothing else but the stop)."""
    lines = [line for line in served["log"].splitlines() if line.strip()]
    refused = [line for line in lines if "refused a malformed request" in line]
    assert len(refused) == len(MALFORMED), lines
    assert [line for line in lines if line not in refused] == ["Stopped."], lines


def test_no_traceback_in_the_log(served):
    """Never a traceback (nor an exception's text)."""
    assert "Traceback" not in served["log"]
    assert 'File "' not in served["log"]


@pytest.mark.parametrize("secret", SECRETS, ids=["code", "cookie", "query-code", "basic"])
def test_no_secret_in_any_log_line(served, secret):
    """Credentials, cookies and codes sent in every position appear in no log line."""
    assert secret not in served["log"]


def test_no_secret_in_the_audit_trail(served):
    """The audit rows hold fixed words, never what the client sent."""
    text = repr(served["audit"])
    for secret in SECRETS:
        assert secret not in text


def test_every_malformed_request_is_audited(served):
    """One audit row per malformed request, with its status."""
    rows = [
        (status, outcome)
        for _at, endpoint, _who, status, outcome in served["audit"]
        if (endpoint == "http")
    ]
    assert collections.Counter(s for s, _o in rows) == collections.Counter(
        status for _data, status in MALFORMED.values()
    )
    assert all(outcome.startswith("malformed request: ") for _s, outcome in rows)


def test_401s_carry_www_authenticate(served):
    """Wrong code and missing certificate: 401 with a challenge."""
    for name in ("wrong-code", "no-certificate"):
        status, headers, _body = served["refusals"][name]
        assert status == 401
        assert headers["www-authenticate"].startswith("Basic realm=")


def test_413_is_answered_and_audited(served):
    """A 2 MB body: 413 (before reading it) and an audit row saying so."""
    status, _headers, body = served["refusals"]["too-large"]
    assert status == 413
    assert b"too large" in body
    assert any(
        status == 413 and endpoint == "/.well-known/est/simpleenroll"
        for _at, endpoint, _who, status, _outcome in served["audit"]
    )


def test_serve_prints_its_urls_and_the_ca_file(served):
    """Listening URL, EST, portal and repository URLs, the CA file, the cap."""
    lines = served["announce"]
    url = lines[0].split()[-1]
    ca = served["project"] / "trust" / "ca.pem"
    assert lines[1:6] == [
        f"  EST enrolment:     {url}.well-known/est/",
        f"  portal:            {url}",
        f"  update repository: {url}updates/",
        f"  CA file clients must trust: {ca}",
        "  at most 1000 connections per process",
    ]


def test_serve_stopped_cleanly(served):
    """SIGTERM after all this: exit 0."""
    assert served["exit"] == 0


def _serve(project, *args: str) -> subprocess.CompletedProcess[str]:
    """`esecure serve PROJECT ARGS` that is expected to fail at once."""
    return subprocess.run(
        [*ESECURE, "serve", str(project), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_port_in_use_is_es936_naming_it(demo_project, tmp_path):
    """A second server on the same port: ES936 saying the port is in use, exit 1, no
    traceback."""
    with ServeProcess(demo_project, log=tmp_path / "first.log") as first:
        proc = _serve(demo_project, "--port", str(first.port))
    assert proc.returncode == 1
    assert "error ES936" in proc.stderr
    assert f"127.0.0.1:{first.port} is already in use" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_serve_options_are_checked(demo_project):
    """A zero timeout is a usage error naming the option."""
    proc = _serve(demo_project, "--header-timeout", "0")
    assert proc.returncode == 2
    assert "--header-timeout" in proc.stderr
