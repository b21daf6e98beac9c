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
import re
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from esecure.config import load_project
from esecure.scaffold import InitOptions, init_project
from esecure.server.serve import default_db_url

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))  # enrolment.py: its server start
sys.path.insert(0, str(HERE.parents[1]))  # the portal tests' customers with certificates
from enrolment import _start_server  # noqa: E402
from tests.server.portal.conftest import PERSONAL_CODE, new_user  # noqa: E402

CODE = PERSONAL_CODE
Step = Callable[[aiohttp.ClientSession, str, str], Awaitable[None]]
_INPUT = re.compile(r'name="(csrf|layout)" value="([^"]*)"')
_KEY = re.compile(r'data-position="(\d+)">(\d)<')


class _Served:
    """What the tests' ``new_user`` needs of a running server."""

    def __init__(self, project: Path, url: str) -> None:
        self.project = load_project(project)
        self.db_url = default_db_url(self.project)
        self.est_url = f"{url}/.well-known/est/"


def _context(ca: Path, cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(*cert)
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
        proc, url = _start_server(project, workers=1)
        url = url.rstrip("/")
        try:
            served, ca = _Served(project, url), project / "trust" / "ca.pem"
            users = [new_user(served, Path(tmp), personalised=True) for _ in range(args.clients)]
            contexts = [(u.identifier, _context(ca, u.cert)) for u in users]
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
