"""The guard in front of every connection the server accepts.

aiohttp bounds the size of a request's headers but not the time a client takes to send
them, nor the number of connections it holds open. The guard sits where the listening
socket hands over a new TCP connection:

1. It counts the connection. Up to ``max_connections`` are served; the next few (a
   twentieth more) get a short 503 page and are closed; past those, the connection is
   closed at once. Reaching the cap is logged and audited once, not once per client, and
   the cap is sized below the open-files limit so that ``accept()`` never fails.
2. It runs the TLS handshake itself (``loop.start_tls``), bounded by
   ``tls_handshake_timeout``: a client that opens TCP and never sends a ClientHello is
   closed, and counted until it is.
3. It hands the TLS connection to ``GuardedHandler``, aiohttp's request handler with
   timers for the phases aiohttp leaves open: headers (first byte of a request to the end
   of its headers, then a 408), body (then the application's read fails with
   ``BodyTimeoutError`` and the hardening middleware answers 408), sending (the client stops
   reading our answer) — idle time between requests is aiohttp's keep-alive timeout.

Malformed HTTP is answered with a 4xx page, one log line and one audit row, never a
traceback and never the request's bytes (the parser's messages quote them, credentials
included). Every line goes through a ``LogBudget``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any, Literal, Protocol

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from esecure.server.http import pages
from esecure.server.http.limits import Limits
from esecure.server.http.logs import LogBudget

__all__ = ["Audit", "BodyFramingError", "BodyTimeoutError", "Guard", "GuardedHandler"]

log = logging.getLogger("esecure.server.http")


class Audit(Protocol):
    """Writes one refusal to the audit trail (never a secret: fixed words only)."""

    def __call__(self, endpoint: str, status: int, outcome: str, peer: str | None) -> None:
        """Record ``status`` and ``outcome`` for ``endpoint`` from ``peer``."""


_REFUSAL_READ_LIMIT = 16 * 1024  # what a refused client may send before its 503


class BodyTimeoutError(TimeoutError):
    """The client did not send the body it announced within ``body_timeout``."""


class BodyFramingError(ValueError):
    """The body's framing broke while it was being read (e.g. a bad chunk size)."""


_PARSER_ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (http_exceptions.LineTooLong, 431, "request line or header field too long"),
    (http_exceptions.BadHttpMethod, 400, "invalid method or not HTTP"),
    (http_exceptions.BadStatusLine, 400, "invalid request line"),
    (http_exceptions.InvalidURLError, 400, "invalid target URL"),
    (http_exceptions.TransferEncodingError, 400, "invalid body framing"),
    (http_exceptions.ContentLengthError, 400, "invalid body framing"),
)


def _malformed(exc: BaseException | None) -> tuple[int, str]:
    """(status, what was wrong) for a parser error: fixed words, never its message (it
    quotes the request's bytes)."""
    text = str(getattr(exc, "message", "")).lower()
    if "too many headers" in text:
        return 431, "too many header fields"
    if "transfer-encoding" in text and "content-length" in text:
        return 400, "both Content-Length and Transfer-Encoding"
    for kind, status, why in _PARSER_ERRORS:
        if isinstance(exc, kind):
            return status, why
    return 400, "malformed header or framing"


class _Slot:
    """One counted connection; released exactly once, whoever sees it end first."""

    def __init__(self, guard: Guard, transport: asyncio.Transport) -> None:
        self.guard = guard
        self.transport = transport
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            self.guard.released(self)


class Guard:
    """The connection count, the cap and the shared tools of one listening server."""

    def __init__(
        self,
        server: web.Server,
        context: ssl.SSLContext,
        limits: Limits,
        *,
        audit: Audit | None = None,
        tracebacks: bool = False,
        budget: LogBudget | None = None,
    ) -> None:
        self.server = server
        self.context = context
        self.limits = limits
        self.audit_callback = audit
        self.tracebacks = tracebacks
        self.budget = budget or LogBudget(log)
        self.open: set[_Slot] = set()
        self.refused = 0  # in the current episode at the cap
        self.at_cap = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._listener: asyncio.AbstractServer | None = None

    # --- listening --------------------------------------------------------------------

    async def listen(
        self, host: str, port: int, *, backlog: int = 512, reuse_port: bool = False
    ) -> tuple[str, int]:
        """Listen on ``host:port`` (OSError as the OS gives it); the bound address."""
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            lambda: _Acceptor(self),
            host,
            port,
            backlog=backlog,
            reuse_port=reuse_port or None,
        )
        sockets = self._listener.sockets
        bound = sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    def stop_accepting(self) -> None:
        """Close the listening socket; handshakes under way are abandoned."""
        if self._listener is not None:
            self._listener.close()
        for task in list(self._tasks):
            task.cancel()

    def abort_remaining(self) -> None:
        """Abort what is still open (after the application's own shutdown) and log the
        counts the budget held back."""
        for slot in list(self.open):
            slot.transport.abort()
            slot.release()
        self.budget.flush()

    def start_upgrade(self, slot: _Slot, transport: asyncio.Transport, serve: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._upgrade(slot, transport, serve))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _upgrade(self, slot: _Slot, transport: asyncio.Transport, serve: bool) -> None:
        """TLS handshake within its timeout, then the handler (or the 503 refusal)."""
        if transport.is_closing():
            slot.release()
            return
        gate = _Gate(slot)
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(
                transport,
                gate,
                self.context,
                server_side=True,
                ssl_handshake_timeout=self.limits.tls_handshake_timeout,
                ssl_shutdown_timeout=self.limits.close_timeout,
            )
        except asyncio.CancelledError:
            transport.abort()
            slot.release()
            raise
        except Exception as exc:  # noqa: BLE001 - any failed handshake ends the same way
            slot.release()
            if isinstance(exc, ConnectionAbortedError):
                seconds = f"{self.limits.tls_handshake_timeout:g}"
                self.note("closed a connection: no TLS handshake within %s s", seconds)
            else:
                log.debug("TLS handshake failed (%s)", type(exc).__name__)
            return
        if tls is None or gate.lost or tls.is_closing():
            slot.release()
            return
        gate.hand_over(tls, GuardedHandler(self, slot) if serve else _Refuser(slot))

    # --- counting ---------------------------------------------------------------------

    def admitted(self, slot: _Slot) -> Literal["serve", "refuse", "drop"]:
        """Count a new connection: served, refused with a 503, or dropped at once."""
        self.open.add(slot)
        cap = self.limits.max_connections
        if len(self.open) <= cap:
            return "serve"
        self.refused += 1
        if not self.at_cap:
            self.at_cap = True
            log.warning(
                "connection cap of %d reached: new connections get a 503 until some close",
                cap,
            )
            self.audit("http", 503, f"connection cap of {cap} reached", None)
        return "refuse" if len(self.open) <= cap + self.limits.refusal_slack else "drop"

    def released(self, slot: _Slot) -> None:
        self.open.discard(slot)
        if self.at_cap and len(self.open) <= self.limits.max_connections * 9 // 10:
            self.at_cap = False
            log.info("connections back under the cap; %d refused meanwhile", self.refused)
            self.refused = 0

    # --- reporting --------------------------------------------------------------------

    def note(self, msg: str, *args: object, level: int = logging.INFO) -> None:
        """One line through the budget."""
        self.budget.log(level, msg, *args)

    def audit(self, endpoint: str, status: int, outcome: str, peer: str | None) -> None:
        """One audit row; a failing registry costs a log line, never the connection."""
        if self.audit_callback is None:
            return
        try:
            self.audit_callback(endpoint, status, outcome, peer)
        except Exception as exc:  # noqa: BLE001 - the audit must not break serving
            self.note("could not write an audit row (%s)", type(exc).__name__, level=logging.ERROR)


class _Gate(asyncio.Protocol):
    """The TLS connection's protocol from the handshake's end to the handover.

    ``start_tls`` returns a loop iteration after the handshake, and the TLS layer may
    deliver the client's first bytes in between (TLS 1.3 sends them with its Finished):
    they are held here, then given to the real protocol after its ``connection_made``.
    """

    def __init__(self, slot: _Slot) -> None:
        self.slot = slot
        self.held: list[bytes] = []
        self.eof = False
        self.lost = False

    def data_received(self, data: bytes) -> None:
        self.held.append(data)

    def eof_received(self) -> bool:
        self.eof = True
        return True

    def connection_lost(self, _exc: Exception | None) -> None:
        self.lost = True
        self.slot.release()

    def hand_over(self, tls: asyncio.Transport, protocol: asyncio.Protocol) -> None:
        """Make ``protocol`` the connection's, then give it what was held."""
        tls.set_protocol(protocol)
        protocol.connection_made(tls)
        for data in self.held:
            protocol.data_received(data)
        self.held.clear()
        if self.eof:
            protocol.eof_received()


class _Acceptor(asyncio.Protocol):
    """The protocol of a raw TCP connection until its TLS handshake starts."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.slot: _Slot | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a stream server
        self.slot = _Slot(self.guard, transport)
        verdict = self.guard.admitted(self.slot)
        if verdict == "drop":
            transport.abort()
            return
        transport.pause_reading()  # nothing is read before the handshake takes over
        self.guard.start_upgrade(self.slot, transport, verdict == "serve")

    def connection_lost(self, _exc: Exception | None) -> None:
        # Reached only before the handshake took the transport over (or after a drop).
        if self.slot is not None:
            self.slot.release()


class _Refuser(asyncio.Protocol):
    """Past the cap: read the request's head (bounded), answer 503, close."""

    def __init__(self, slot: _Slot) -> None:
        self.slot = slot
        self.limits = slot.guard.limits
        self.transport: asyncio.Transport | None = None
        self.received = 0
        self.tail = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a TLS transport
        self.transport = transport
        loop = asyncio.get_running_loop()
        self.timer = loop.call_later(self.limits.header_timeout, self._answer)

    def data_received(self, data: bytes) -> None:
        # Reading the head first lets the client see the answer (closing with unread
        # data would reset the connection and lose the 503).
        self.received += len(data)
        self.tail = (self.tail + data)[-4:]
        if b"\r\n\r\n" in self.tail or self.received >= _REFUSAL_READ_LIMIT:
            self._answer()

    def _answer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(
                pages.raw_response(503, "", {"Retry-After": "5"})  # the page says the rest
            )
            self.transport.close()

    def connection_lost(self, _exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.slot.release()


class GuardedHandler(RequestHandler):
    """aiohttp's request handler with header, body and send timers, one-line error
    handling and the connection's slot released when it closes."""

    def __init__(self, guard: Guard, slot: _Slot) -> None:
        limits = guard.limits
        options: dict[str, Any] = {"access_log": None}  # refusals are logged here, once
        super().__init__(
            guard.server,
            loop=asyncio.get_running_loop(),
            keepalive_timeout=limits.idle_timeout,
            logger=log,
            max_line_size=limits.max_request_line,
            max_field_size=limits.max_header_field,
            max_headers=limits.max_headers,
            lingering_time=min(5.0, limits.body_timeout),
            auto_decompress=False,  # compressed bodies are refused (415), never inflated
            **options,
        )
        self.guard = guard
        self.slot = slot
        self.phase: Literal["idle", "headers", "body"] = "idle"
        self.in_flight = 0  # requests parsed and not yet answered
        self.body: Any = None  # the StreamReader being filled
        self.timers: dict[str, asyncio.TimerHandle] = {}

    # --- timers -----------------------------------------------------------------------

    def _arm(self, name: str, delay: float, callback: Callable[[], None]) -> None:
        self._disarm(name)
        self.timers[name] = asyncio.get_running_loop().call_later(delay, callback)

    def _disarm(self, name: str) -> None:
        timer = self.timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _peer(self) -> str | None:
        if self.transport is None:
            return None
        peer = self.transport.get_extra_info("peername")
        return str(peer[0]) if isinstance(peer, tuple) and peer else None

    def data_received(self, data: bytes) -> None:
        """Arm the header timer at a request's first byte; when aiohttp's parser yields a
        request, swap it for the body timer (or none)."""
        if data and self.phase == "idle" and self.transport is not None:
            self.phase = "headers"
            self.keep_alive(val=True)  # aiohttp's idle timer stops; the header timer runs
            self._arm("headers", self.guard.limits.header_timeout, self._headers_late)
        queue = self._messages  # aiohttp's parsed-request queue (3.14)
        before = len(queue)
        super().data_received(data)
        added = len(queue) - before
        if added > 0:
            self.in_flight += added
            self._disarm("headers")
            self._disarm("body")
            if self.body is not None and not self.body.is_eof():
                # The parser failed inside a body: its reader would wait for ever.
                self.body.set_exception(BodyFramingError("the body's framing is invalid"))
            payload = queue[-1][1]
            if not payload.is_eof():
                self.phase, self.body = "body", payload
                self._arm("body", self.guard.limits.body_timeout, self._body_late)
            else:
                self.phase, self.body = "idle", None
        elif self.phase == "body" and self.body is not None and self.body.is_eof():
            self._disarm("body")
            self.phase, self.body = "idle", None

    def _headers_late(self) -> None:
        self.timers.pop("headers", None)
        peer = self._peer()
        seconds = f"{self.guard.limits.header_timeout:g}"
        self.guard.note("closed a connection: no complete request headers within %s s", seconds)
        if self.in_flight == 0 and self.transport is not None:
            self.guard.audit("http", 408, f"request headers not received within {seconds} s", peer)
            self.transport.write(pages.raw_response(408))
        self.force_close()

    def _body_late(self) -> None:
        self.timers.pop("body", None)
        seconds = f"{self.guard.limits.body_timeout:g}"
        if self.body is not None:
            late = BodyTimeoutError(f"request body not received within {seconds} s")
            self.body.set_exception(late)
        self.phase, self.body = "idle", None

    def pause_writing(self) -> None:
        """The client stopped reading: it has ``send_timeout`` to resume."""
        super().pause_writing()
        self._arm("send", self.guard.limits.send_timeout, self._send_late)

    def resume_writing(self) -> None:
        """The client reads again."""
        super().resume_writing()
        self._disarm("send")

    def _send_late(self) -> None:
        self.timers.pop("send", None)
        self.guard.note(
            "closed a connection: the client read nothing for %s s",
            f"{self.guard.limits.send_timeout:g}",
        )
        if self.transport is not None:
            self.transport.abort()

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        """aiohttp's, counting the request as answered."""
        try:
            return await super().finish_response(request, resp, start_time)
        finally:
            self.in_flight = max(0, self.in_flight - 1)

    def connection_lost(self, exc: BaseException | None) -> None:
        """Stop the timers and free the connection's slot."""
        for name in list(self.timers):
            self._disarm(name)
        super().connection_lost(exc)
        self.slot.release()

    # --- errors -----------------------------------------------------------------------

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,  # noqa: ARG002 - aiohttp's text quotes the request
    ) -> web.StreamResponse:
        """A refusal page for a malformed request (one line, one audit row), or a 500 /
        504 page with one line; never a traceback unless --verbose."""
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was already being sent")
        peer = request.remote
        if isinstance(exc, http_exceptions.HttpProcessingError):
            status, why = _malformed(exc)
            self.guard.note("refused a malformed request: %d, %s", status, why)
            self.guard.audit("http", status, f"malformed request: {why}", peer)
        elif isinstance(exc, ConnectionError):
            log.debug("the client went away (%s)", type(exc).__name__)
        elif status == 504:
            self.guard.note("a request handler timed out", level=logging.WARNING)
        else:
            self.guard.note(
                "internal error on %s %s (%s)",
                request.method,
                request.path,
                type(exc).__name__,
                level=logging.ERROR,
            )
            if self.guard.tracebacks and exc is not None:
                log.debug("internal error", exc_info=exc)
        response = pages.error_response(status, accept=request.headers.get("Accept", ""))
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:  # noqa: ANN401 - aiohttp's signature
        """aiohttp's last-resort log: one line with the exception's type, no traceback."""
        exc = kw.get("exc_info")
        if isinstance(exc, BodyFramingError | ConnectionError):
            # aiohttp draining a body already refused (400), or a client gone
            log.debug("connection ended (%s)", type(exc).__name__)
            return
        what = str(args[0]) if args else "unexpected error"
        name = type(exc).__name__ if isinstance(exc, BaseException) else "-"
        self.guard.note("%s (%s)", what, name, level=logging.ERROR)
        if self.guard.tracebacks and isinstance(exc, BaseException):
            log.debug("details", exc_info=exc)
