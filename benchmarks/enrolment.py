"""Enrolment benchmarks (issue 5): latency of one enrolment, with NSS delivery, and the
reference service's throughput with concurrent clients.

The server runs as a real `esecure serve` process on 127.0.0.1 (the client never shares
its interpreter). Baseline, measured in the same run: one HTTPS GET /cacerts on a fresh
TLS connection (what any enrolment costs at least: a handshake and a round trip).

Usage: .venv/bin/python benchmarks/enrolment.py [--runs 30] [--clients 16] [--requests 1000]
       [--workers 1]   (--runs 0: throughput only)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from esecure.launcher import enrol as est
from esecure.launcher import nss
from esecure.scaffold import InitOptions, init_project
from esecure.server import admin as ops
from esecure.server.registry import Registry

FIREFOX = Path("/usr/lib/firefox-esr")


def _customers(db: str, prefix: str, count: int) -> list[tuple[str, str, str]]:
    """(identifier, serial, code) for ``count`` new customers with bound keys."""
    registry = Registry.open(db)
    now = time.time()
    out = []
    registry.add_keys([(f"{prefix}-{i:05d}", "BENCH", "2026-11-27") for i in range(count)])
    for i in range(count):
        identifier, serial = f"{prefix.lower()}{i}", f"{prefix}-{i:05d}"
        registry.add_user(identifier, now)
        ops.assign(registry, serial, identifier)
        out.append((identifier, serial, ops.issue_code(registry, identifier, now).code))
    registry.close()
    return out


def _start_server(project: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "esecure",
            "serve",
            str(project),
            "--port",
            "0",
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("Listening on "):
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, line.split()[-1]


def _baseline(url: str, ca: Path) -> float:
    context = ssl.create_default_context(cafile=str(ca))
    parts = urllib.parse.urlsplit(url)
    start = time.perf_counter()
    conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=10)
    conn.request("GET", "/.well-known/est/cacerts")
    conn.getresponse().read()
    conn.close()
    return time.perf_counter() - start


def _median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def latency(project: Path, url: str, runs: int, work: Path) -> dict[str, float]:
    ca = project / "trust" / "ca.pem"
    ca_cert = x509.load_pem_x509_certificate(ca.read_bytes())
    settings = est.EstSettings(base_url=url + ".well-known/est/", ca_file=ca)
    db = f"sqlite:///{project / 'server' / 'registry.db'}"
    people = _customers(db, "LAT", runs * 3)
    results: dict[str, list[float]] = {
        "baseline": [],
        "enrol": [],
        "enrol+nss-ctypes": [],
        "enrol+nss-tools": [],
    }
    for i in range(runs):
        results["baseline"].append(_baseline(url, ca))
        for j, name in enumerate(("enrol", "enrol+nss-ctypes", "enrol+nss-tools")):
            identifier, serial, code = people[i * 3 + j]
            area = work / f"{name}-{i}"
            area.mkdir(parents=True)
            (area / "identity.json").write_text(json.dumps({"serial": serial}))
            start = time.perf_counter()
            credential = est.enrol(area, identifier, code, settings)
            if name != "enrol":
                method = name.rsplit("-", 1)[1]
                nss.deliver(
                    area / "profile", credential, ca_cert, firefox_dir=FIREFOX, method=method
                )
            results[name].append(time.perf_counter() - start)
    base = statistics.median(results["baseline"])
    print(f"\nLatency, median of {runs} runs (server: `esecure serve`, loopback)")
    print(f"{'what':<20} {'median':>10} {'p90':>10} {'x baseline':>11}")
    for name, values in results.items():
        p90 = sorted(values)[int(len(values) * 0.9) - 1]
        ratio = statistics.median(values) / base
        print(f"{name:<20} {_median_ms(values):>10} {p90 * 1000:>7.1f} ms {ratio:>10.1f}x")
    return {k: statistics.median(v) for k, v in results.items()}


def _csr_body(identifier: str, serial: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, identifier),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))


async def _enrol_once(host: str, port: int, context: ssl.SSLContext, request: bytes) -> int:
    """One enrolment on a new TLS connection, HTTP/1.1 written by hand (a light client, so
    the 2 cores go to the service rather than to the load generator)."""
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await reader.readexactly(length)
        return int(status_line.split()[1])
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def _load(
    url: str, ca: Path, jobs: list[tuple[str, str, bytes]], clients: int
) -> dict[int, int]:
    context = ssl.create_default_context(cafile=str(ca))
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    requests = []
    for identifier, code, body in jobs:
        token = base64.b64encode(f"{identifier}:{code}".encode()).decode()
        head = (
            "POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\nAuthorization: Basic {token}\r\n"
            "Content-Type: application/pkcs10\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        requests.append(head.encode() + body)
    statuses: dict[int, int] = {}
    pending = iter(requests)

    async def worker() -> None:
        for request in pending:
            status = await _enrol_once(host, port, context, request)
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(worker() for _ in range(clients)))
    return statuses


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` and its children, i.e. every worker
    (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children)


def throughput(project: Path, url: str, clients: int, requests: int, server_pid: int) -> float:
    ca = project / "trust" / "ca.pem"
    db = f"sqlite:///{project / 'server' / 'registry.db'}"
    people = _customers(db, "TPT", requests)
    # CSRs are made beforehand: this measures the service, not the clients' key generation.
    jobs = [
        (identifier, code, _csr_body(identifier, serial)) for identifier, serial, code in people
    ]
    cpu_before = _cpu_seconds(server_pid)
    start = time.perf_counter()
    statuses = asyncio.run(_load(url, ca, jobs, clients))
    elapsed = time.perf_counter() - start
    server_cpu = _cpu_seconds(server_pid) - cpu_before
    rate = requests / elapsed
    print(f"\nThroughput: {requests} enrolments, {clients} concurrent clients (new TLS each)")
    print(f"  {elapsed:.2f} s -> {rate:.0f} enrolments/s; statuses {statuses}")
    if server_cpu:
        per = server_cpu / requests
        print(
            f"  server CPU {per * 1000:.2f} ms per enrolment -> capacity "
            f"{1 / per:.0f} enrolments/s per core busy serving (the load generator shares the "
            "cores)"
        )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="esecure serve --workers")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    work = Path(tempfile.mkdtemp(prefix="esecure-bench-"))
    try:
        project = work / "project"
        init_project(project, InitOptions(demo=True), passphrase=None)
        Registry.open(f"sqlite:///{project / 'server' / 'registry.db'}").close()
        proc, url = _start_server(project, args.workers)
        try:
            if args.runs:
                latency(project, url, args.runs, work / "areas")
            throughput(project, url, args.clients, args.requests, proc.pid)
            print(f"load average {os.getloadavg()[0]:.2f} at the end")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
