"""Portal benchmark (issue 9): latency and throughput of the everyday login journey with
concurrent clients, beside a static file served by the same server (the baseline).

A journey is what a customer's browser does: GET /login, POST /login (identifier; the
TLS client certificate is checked), POST /code (six keypad positions: one scrypt), GET
/area, POST /logout — five requests on one keep-alive connection with the customer's own
certificate (each client is its own customer, enrolled through the EST service first).
The baseline is GET /static/portal/portal.css with the same clients and connections.

The server is a real `esecure serve` process on 127.0.0.1; the clients run in this
process (asyncio + aiohttp), so on a small machine they share its cores with the server.

Usage: .venv/bin/python benchmarks/portal_login.py [--clients 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from esecure.config import load_project
from esecure.scaffold import InitOptions, init_project
from esecure.server import admin as ops
from esecure.server.portal.codes import CodeHasher
from esecure.server.portal.pepper import load_pepper
from esecure.server.portal.store import PortalStore
from esecure.server.registry import Registry
from esecure.server.serve import default_db_url

CODE = "409217"
Step = Callable[[aiohttp.ClientSession, str, str], Awaitable[None]]
_INPUT = re.compile(r'name="(csrf|layout)" value="([^"]*)"')
_KEY = re.compile(r'data-position="(\d+)">(\d)<')


def _customers(project: Path, count: int) -> list[tuple[str, str, str]]:
    """(identifier, key serial, activation code) of ``count`` personalised customers."""
    registry = Registry.open(default_db_url(load_project(project)))
    hasher = CodeHasher(load_pepper(load_project(project)))
    store = PortalStore(registry)
    now = time.time()
    out = []
    registry.add_keys([(f"BENCH-{i:05d}", "BENCH", "2026-12-01") for i in range(count)])
    for i in range(count):
        identifier, serial = f"bench{i}", f"BENCH-{i:05d}"
        ops.add_user(registry, identifier, now)
        ops.assign(registry, serial, identifier)
        code = ops.issue_code(registry, identifier, now).code
        ops.new_mail_code(registry, hasher, identifier, now)
        store.set_code(identifier, hasher.hash(identifier, CODE))
        store.register(
            identifier, email="b@bank.example", phone="0102030405", cert_serial="", now=now
        )
        out.append((identifier, serial, code))
    registry.close()
    return out


def _start(project: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "esecure", "serve", str(project), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("Listening on "):
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc, line.split()[-1].rstrip("/")


async def _enrol(url: str, ca: Path, who: tuple[str, str, str], into: Path) -> ssl.SSLContext:
    identifier, serial, code = who
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, identifier),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    credentials = base64.b64encode(f"{identifier}:{code}".encode()).decode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/.well-known/est/simpleenroll",
            data=base64.encodebytes(csr.public_bytes(serialization.Encoding.DER)),
            headers={
                "Content-Type": "application/pkcs10",
                "Content-Transfer-Encoding": "base64",
                "Authorization": f"Basic {credentials}",
            },
            ssl=ssl.create_default_context(cafile=str(ca)),
        ) as answer,
    ):
        body = await answer.read()
        assert answer.status == 200, body
    (cert,) = pkcs7.load_der_pkcs7_certificates(base64.b64decode(body))
    cert_path, key_path = into / f"{identifier}.pem", into / f"{identifier}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(cert_path, key_path)
    return context


async def _journey(session: aiohttp.ClientSession, url: str, identifier: str) -> None:
    async with session.get(f"{url}/login") as r:
        csrf = dict(_INPUT.findall(await r.text()))["csrf"]
    async with session.post(f"{url}/login", data={"csrf": csrf, "identifier": identifier}) as r:
        page = await r.text()
        assert r.status == 200 and 'data-page="code"' in page, r.status
    fields = dict(_INPUT.findall(page))
    keys = {digit: position for position, digit in _KEY.findall(page)}
    form = {**fields, "positions": ",".join(keys[d] for d in CODE), "action": "validate"}
    async with session.post(f"{url}/code", data=form) as r:
        assert 'data-page="area"' in await r.text(), r.status
    async with session.get(f"{url}/area") as r:
        page = await r.text()
    async with session.post(
        f"{url}/logout", data={"csrf": dict(_INPUT.findall(page))["csrf"]}
    ) as r:
        assert r.status == 200


async def _static(session: aiohttp.ClientSession, url: str, _identifier: str) -> None:
    async with session.get(f"{url}/static/portal/portal.css") as r:
        await r.read()
        assert r.status == 200


async def _run(
    url: str, contexts: list[tuple[str, ssl.SSLContext]], seconds: float, step: Step
) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(identifier: str, context: ssl.SSLContext) -> None:
        nonlocal errors
        connector = aiohttp.TCPConnector(ssl=context, limit=1)
        jar = aiohttp.CookieJar(unsafe=True)  # cookies of 127.0.0.1
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                try:
                    await step(session, url, identifier)
                except (AssertionError, aiohttp.ClientError, KeyError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(client(i, c) for i, c in contexts))
    return latencies, errors


def _report(name: str, latencies: list[float], errors: int, seconds: float) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(
        f"{name:<28} {len(ordered):>7} done  {len(ordered) / seconds:>8.1f}/s  "
        f"p50 {p50:>8.1f} ms  p99 {p99:>8.1f} ms  errors {errors}"
    )


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        init_project(project, InitOptions(demo=True), passphrase=None)
        load_pepper(load_project(project))  # made here, then read by the server
        who = _customers(project, args.clients)
        proc, url = _start(project)
        try:
            ca = project / "trust" / "ca.pem"
            certs = Path(tmp) / "certs"
            certs.mkdir()

            async def prepare() -> list[tuple[str, ssl.SSLContext]]:
                contexts = [await _enrol(url, ca, w, certs) for w in who]
                return [(w[0], c) for w, c in zip(who, contexts, strict=True)]

            contexts = asyncio.run(prepare())
            print(f"{args.clients} clients, {args.seconds:.0f} s each run, server {url}")
            base = asyncio.run(_run(url, contexts, args.seconds, _static))
            _report("static file (baseline)", *base, args.seconds)
            journey = asyncio.run(_run(url, contexts, args.seconds, _journey))
            _report("login journey (5 requests)", *journey, args.seconds)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
