"""Fuzzing the portal over real HTTPS: 1,200 malformed or half-right requests (paths,
methods, content types, bodies, fields, cookies, keypad positions), never a 5xx, and the
server still serves a normal login afterwards."""

from __future__ import annotations

import collections
import http.client
import random
import ssl
import urllib.parse

import pytest

from tests.server.portal.conftest import login

pytestmark = pytest.mark.slow

REQUESTS = 1200
PATHS = [
    "/",
    "/login",
    "/code",
    "/first-login",
    "/contact",
    "/registered",
    "/area",
    "/services",
    "/accounts",
    "/accounts/FR76-3000-000000-01",
    "/transfers",
    "/statements",
    "/statements/x/2026-01.pdf",
    "/statements/../../etc/passwd.pdf",
    "/guide",
    "/logout",
    "/session-choice",
    "/static/portal/portal.css",
    "/static/portal/..%2f..%2fweb.py",
    "/static/portal/logo",
    "/login?lang=xx",
    "/login?expired=%00",
    "/services?open=%ff",
]
FIELDS = [
    "csrf",
    "identifier",
    "layout",
    "positions",
    "key",
    "action",
    "email",
    "phone",
    "from",
    "to",
    "amount",
    "label",
    "x",
]
VALUES = [
    "",
    "0",
    "15",
    "16",
    "-1",
    "1,2,3,4,5,6",
    "1,2,3,4,5,6,7",
    "validate",
    "correct",
    "clear",
    "end-other",
    "cancel",
    "%",
    "\x00",
    "é",
    "a" * 600,
    "<script>",
    "1e9",
    "99.999",
    "alice",
    "../",
    "\ud800",
]
POST_PATHS = [
    "/login",
    "/code",
    "/first-login",
    "/contact",
    "/transfers",
    "/logout",
    "/session-choice",
]
TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data; boundary=x",
    "application/json",
    "text/plain",
    "",
]


def _body(rng: random.Random, session_form: dict[str, str]) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 300))
    if kind == 1:
        return b"&".join(rng.choice([b"=", b"&&", b"a=%zz", b"%", b"=x=y"]) for _ in range(5))
    fields = {rng.choice(FIELDS): rng.choice(VALUES) for _ in range(rng.randrange(0, 8))}
    if kind >= 3:  # past the CSRF check: the handlers' own validation is fuzzed
        fields = {**session_form, **{k: v for k, v in fields.items() if k != "csrf"}}
    return urllib.parse.urlencode(fields, errors="surrogatepass").encode("utf-8", "surrogatepass")


def _identities(make_user, browser_for) -> list[tuple[dict[str, str], dict[str, str], str]]:
    """(cookies, the form fields that get a request of theirs past the CSRF check, the
    path they POST to): none, a pre-login browser, a logged-in customer, one at the
    keypad, forged cookies."""
    user = make_user(personalised=True)
    logged = browser_for(user)
    area = login(logged, user)
    keypad_user = make_user(personalised=True)
    typing = browser_for(keypad_user)
    page = typing.get("/login")
    keypad = typing.post("/login", {"csrf": page.csrf, "identifier": keypad_user.identifier})
    pre = browser_for(None)
    login_form = {"csrf": pre.get("/login").csrf}
    return [
        ({}, {}, "/login"),
        (pre.cookies, login_form, "/login"),
        (logged.cookies, {"csrf": area.csrf}, "/transfers"),
        (
            typing.cookies,
            {"csrf": keypad.csrf, "layout": keypad.parsed.inputs["layout"]},
            "/code",
        ),
        ({"__Host-esecure-session": "x" * 200}, {}, "/code"),
        ({"__Host-esecure-session": "\u00e9t\u00e9"}, {}, "/transfers"),
    ]


def test_fuzz_the_portal_no_5xx(make_user, browser_for, portal_server):
    """Every answer is below 500; the statuses seen are only the expected refusals."""
    user = make_user(personalised=True)
    context = ssl.create_default_context(cafile=str(portal_server.project.trust.ca_certificate))
    context.load_cert_chain(*user.cert)
    host, port = "127.0.0.1", int(portal_server.url.rsplit(":", 1)[1].strip("/"))
    rng = random.Random(9)  # noqa: S311 - reproducible fuzzing, not secrets
    seen: collections.Counter[int] = collections.Counter()
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=60)
    try:
        for number in range(REQUESTS):
            if number % 100 == 0:  # sessions end (logout, wrong codes): new ones
                identities = _identities(make_user, browser_for)
            method = rng.choice(["GET", "POST", "POST", "POST", "PUT", "HEAD"])
            jar, form, home = rng.choice(identities)
            if method == "POST":
                path = home if rng.random() < 0.6 else rng.choice(POST_PATHS)
            else:
                path = rng.choice(PATHS)
            headers = {"Content-Type": rng.choice(TYPES)}
            if jar:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
            body = _body(rng, form) if method == "POST" else None
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                conn = http.client.HTTPSConnection(host, port, context=context, timeout=60)
                continue
            seen[response.status] += 1
            assert response.status < 500, (method, path, body)
            if response.will_close:
                conn.close()
                conn = http.client.HTTPSConnection(host, port, context=context, timeout=60)
    finally:
        conn.close()
    print(dict(seen))
    assert sum(seen.values()) >= 1000
    assert set(seen) <= {200, 303, 400, 403, 404, 405, 409, 413, 415}, seen
    after = make_user(personalised=True)
    assert login(browser_for(after), after).name == "area"
