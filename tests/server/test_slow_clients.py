"""Slow and silent clients against a real `esecure serve` (the audit's attack, the other
way round): while 200 connections send one header byte every 2 s, 100 stay silent after
TLS and 100 open TCP only, a normal client is answered (a 10 s guard against a hang, no
timing assertion); then all 400 are closed by the server's timeouts (a bounded wait), the
log stays small and holds no traceback."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from esecure.server.http import raise_open_files_limit
from tests.server.serve_process import ServeProcess, client_context, request

pytestmark = pytest.mark.slow

TRICKLING, SILENT_TLS, SILENT_TCP = 200, 100, 100
SERVE_ARGS = (
    "--tls-handshake-timeout",
    "6",
    "--idle-timeout",
    "8",
    "--header-timeout",
    "8",
    "--body-timeout",
    "8",
)
BOUND = 90  # seconds: every connection must be closed by the server within this


async def _until_closed(reader: asyncio.StreamReader) -> bool:
    """Read until the server closes (True), or the bound passes (False)."""
    try:
        async with asyncio.timeout(BOUND):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        pass
    return True


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """A request line, then one header byte every 2 s until the server closes."""
    writer.write(b"GET /crl HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    for _ in range(BOUND // 2):
        try:
            writer.write(b"a")
            await writer.drain()
            chunk = await asyncio.wait_for(reader.read(65536), 2)
        except TimeoutError:
            continue
        except (ConnectionError, ssl.SSLError):
            return True
        if not chunk:
            return True
        if b" 408 " in chunk:
            return await _until_closed(reader)
    return False


async def _open_tls(port: int, context: ssl.SSLContext, count: int) -> list:
    streams = []
    for start in range(0, count, 25):  # a few handshakes at a time
        batch = [
            asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname="127.0.0.1")
            for _ in range(min(25, count - start))
        ]
        streams += await asyncio.gather(*batch)
    return streams


async def _attack(server: ServeProcess) -> dict[str, object]:
    context = client_context(server.ca)
    silent_tls = await _open_tls(server.port, context, SILENT_TLS)
    trickling = await _open_tls(server.port, context, TRICKLING)
    tasks = [asyncio.create_task(_trickle(r, w)) for r, w in trickling]
    silent_tcp = [
        await asyncio.open_connection("127.0.0.1", server.port) for _ in range(SILENT_TCP)
    ]
    quiet = [asyncio.create_task(_until_closed(r)) for r, _w in silent_tls + silent_tcp]
    # All 400 are open now: a normal client is still answered.
    normal = await asyncio.wait_for(asyncio.to_thread(request, server.url + "crl", server.ca), 10)
    closed = await asyncio.gather(*tasks, *quiet)
    for _r, writer in silent_tls + trickling + silent_tcp:
        writer.transport.abort()
    await asyncio.sleep(0)  # let the aborts run before the loop closes
    return {"normal": normal[0], "closed": closed}


def test_slow_and_silent_clients_do_not_block_and_are_all_closed(demo_project, tmp_path):
    """400 slow or silent connections: the normal client gets its 200, every one of the
    400 is closed by the server, the log is a few lines without a traceback."""
    raise_open_files_limit()  # 400 sockets here, as many in the server
    with ServeProcess(demo_project, *SERVE_ARGS, log=tmp_path / "serve.log") as server:
        outcome = asyncio.run(_attack(server))
        exit_code = server.stop()
    log = server.log()
    closed = outcome["closed"]
    print(f"\nnormal client: {outcome['normal']}; closed by the server: {sum(closed)}/400")
    print(f"log: {len(log)} bytes, {len(log.splitlines())} lines")
    assert outcome["normal"] == 200
    assert sum(closed) == TRICKLING + SILENT_TLS + SILENT_TCP
    assert exit_code == 0
    assert "Traceback" not in log
    assert len(log) < 16_000, log
    assert "no complete request headers within 8 s" in log
    assert "no TLS handshake within 6 s" in log
