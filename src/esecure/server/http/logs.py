"""What the server writes to its log: nothing secret, no traceback, and no flood.

Two tools. ``Hygiene`` is a ``logging.Filter`` that `esecure serve` puts on the process's
log handlers: it removes tracebacks (unless --verbose) and redacts what would be secret
if some code or library ever logged it — Authorization and Cookie values, Basic or
Bearer credentials, query strings (a request line can carry a code), passwords in URLs,
``code=``/``password=``-style fields. It is the second line: the HTTP layer's own lines
never hold request data in the first place. ``LogBudget`` caps how many lines of one kind
the HTTP layer writes per time window, so a flood of bad clients writes a few lines and a
count, not one line per client.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Hygiene", "LogBudget", "install", "loop_exception_handler", "redact"]

REDACTED = "[redacted]"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # header lines or reprs: "Authorization: Basic xyz", "cookie=abc"
    (
        re.compile(
            r"(?i)\b(proxy-authorization|authorization|set-cookie|cookie|x-ssl-client-cert)"
            r"(['\"]?\s*[:=]\s*)[^\r\n]*"
        ),
        rf"\1\2{REDACTED}",
    ),
    # credentials of an HTTP authentication scheme
    (
        re.compile(r"(?i)\b(basic|bearer|digest|negotiate)\s+[A-Za-z0-9+/=._~-]{4,}"),
        rf"\1 {REDACTED}",
    ),
    # user:password@ in a URL
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@"), rf"\1{REDACTED}@"),
    # a query string after a path (request lines and URLs)
    (re.compile(r"(?<=[\w/.%-])\?[^\s'\"]*"), f"?{REDACTED}"),
    # name=value fields that hold secrets
    (
        re.compile(
            r"(?i)\b(code|pin|password|passwd|passphrase|secret|token|csrf[_-]?token|session"
            r"|sessionid|sid)=[^&\s'\";]*"
        ),
        rf"\1={REDACTED}",
    ),
]


def redact(text: str) -> str:
    """``text`` with every secret-looking part replaced by ``[redacted]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Hygiene(logging.Filter):
    """Redacts each record, and drops its traceback unless ``tracebacks`` (--verbose):
    the exception's type name stays, its text goes (it may quote the request)."""

    def __init__(self, *, tracebacks: bool = False) -> None:
        super().__init__()
        self.tracebacks = tracebacks

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format
            message = str(record.msg)
        if record.exc_info and not self.tracebacks:
            exc = record.exc_info[1]
            if exc is not None:
                message = f"{message} ({type(exc).__name__})"
            record.exc_info = None
            record.exc_text = None
        elif record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if not self.tracebacks:
            record.stack_info = None
        record.msg = redact(message)
        record.args = ()
        return True


def install(*, verbose: bool) -> None:
    """Put ``Hygiene`` on every handler of the root logger (the CLI's) and let the
    server's INFO lines through (DEBUG with ``verbose``). Idempotent."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, Hygiene) for f in handler.filters):
            handler.addFilter(Hygiene(tracebacks=verbose))
    logging.getLogger("esecure.server").setLevel(logging.DEBUG if verbose else logging.INFO)


class LogBudget:
    """At most ``burst`` lines of each kind (its format string) per ``window`` seconds;
    the lines past it are counted, and the count is logged when the window ends (at the
    next line of that kind, or at ``flush``)."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 20,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.burst = burst
        self.window = window
        self.clock = clock
        self._kinds: dict[str, list[float]] = {}  # format -> [window start, written, held]

    def log(self, level: int, msg: str, *args: object) -> None:
        """Log ``msg % args`` unless this kind of line is over its budget."""
        now = self.clock()
        state = self._kinds.setdefault(msg, [now, 0, 0])
        if now - state[0] >= self.window:
            self._say_held(level, msg, state, now)
            state[:] = [now, 0, 0]
        if state[1] < self.burst:
            state[1] += 1
            self.logger.log(level, msg, *args)
        else:
            state[2] += 1

    def _say_held(self, level: int, msg: str, state: list[float], now: float) -> None:
        if state[2]:
            kind = msg.replace("%s", "…").replace("%d", "…").replace("%.1f", "…")
            self.logger.log(
                level,
                "%d more lines like this one were not logged (over %.1f s): %s",
                int(state[2]),
                now - state[0],
                kind,
            )

    def flush(self) -> None:
        """Log the counts still held (at shutdown)."""
        now = self.clock()
        for msg, state in self._kinds.items():
            self._say_held(logging.INFO, msg, state, now)
            state[2] = 0


def loop_exception_handler(
    budget: LogBudget, verbose: bool
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An event loop exception handler writing one budgeted line per error (asyncio's
    default logs a traceback each time, e.g. once a second while accept() fails)."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if verbose:
            loop.default_exception_handler(context)
            return
        exc = context.get("exception")
        name = type(exc).__name__ if exc is not None else "-"
        budget.log(logging.ERROR, "event loop: %s (%s)", str(context.get("message")), name)

    return handle
