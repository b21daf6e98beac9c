"""The HTTP layer's pure parts: redaction, the log budget, the connection budget, the
limits' validation, refusal pages and the classification of parser errors."""

from __future__ import annotations

import logging

import pytest
from aiohttp import http_exceptions

from esecure.server.http import Hygiene, Limits, LogBudget, connection_budget
from esecure.server.http.guard import _malformed
from esecure.server.http.logs import redact
from esecure.server.http.pages import error_response, raw_response

SECRETS = [
    ("Authorization: Basic YWxpY2U6MTIzNDU2", "YWxpY2U6MTIzNDU2"),
    ("authorization=Bearer abc.def.ghi", "abc.def.ghi"),
    ("b'Cookie: session=9f8e7d'", "9f8e7d"),
    ("Set-Cookie: sid=42aa; Secure", "42aa"),
    ("GET /login?code=123456 HTTP/1.1", "123456"),
    ("postgresql://bank:s3cret@db:5432/esecure", "s3cret"),
    ("form password=hunter2&x=1", "hunter2"),
    ("csrf_token=tok-987 in a body", "tok-987"),
    ("'Basic dXNlcjpwYXNz'", "dXNlcjpwYXNz"),
]


@pytest.mark.parametrize(("line", "secret"), SECRETS)
def test_redact_removes_each_kind_of_secret(line, secret):
    """Each secret-bearing form loses its secret and says [redacted]."""
    cleaned = redact(line)
    assert secret not in cleaned
    assert "[redacted]" in cleaned


def test_redact_keeps_ordinary_lines():
    """A line without secrets is unchanged."""
    line = "refused a malformed request: 431, too many header fields"
    assert redact(line) == line


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("t", logging.ERROR, __file__, 1, msg, args, info)


def test_hygiene_drops_the_traceback_and_keeps_the_type():
    """Without --verbose: no traceback, no exception text, the type name stays."""
    try:
        raise ValueError("Authorization: Basic c2VjcmV0")  # noqa: TRY301 - a real traceback
    except ValueError as exc:
        record = _record("failed on %s", "GET /x?code=1", exc=exc)
    Hygiene().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == "failed on GET /x?[redacted] (ValueError)"
    assert "c2VjcmV0" not in logging.Formatter().format(record)


def test_hygiene_verbose_keeps_a_redacted_traceback():
    """With --verbose the traceback stays, secrets redacted in it too."""
    try:
        raise ValueError("Authorization: Basic c2VjcmV0")  # noqa: TRY301 - a real traceback
    except ValueError as exc:
        record = _record("failed", exc=exc)
    Hygiene(tracebacks=True).filter(record)
    text = logging.Formatter().format(record)
    assert "Traceback" in text
    assert "c2VjcmV0" not in text


def test_log_budget_writes_a_burst_then_a_count(caplog):
    """25 lines of one kind with a burst of 20: 20 written, then one line counting 5."""
    now = [0.0]
    logger = logging.getLogger("esecure.test.budget")
    budget = LogBudget(logger, burst=20, window=60, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="esecure.test.budget"):
        for i in range(25):
            budget.log(logging.INFO, "closed connection %s", i)
        assert len(caplog.records) == 20
        now[0] = 61.0
        budget.log(logging.INFO, "closed connection %s", 99)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[20].startswith("5 more lines like this one were not logged")
    assert messages[21] == "closed connection 99"


def test_log_budget_flush_says_what_it_held(caplog):
    """At shutdown the held count is logged."""
    budget = LogBudget(logging.getLogger("esecure.test.flush"), burst=1, clock=lambda: 0.0)
    with caplog.at_level(logging.INFO, logger="esecure.test.flush"):
        for _ in range(4):
            budget.log(logging.INFO, "x %s", 1)
        budget.flush()
    assert caplog.records[-1].getMessage().startswith("3 more lines like this one")


@pytest.mark.parametrize(
    ("wanted", "open_files", "cap"),
    [
        (1000, 20000, 1000),  # plenty of descriptors
        (1000, 1024, 792),  # 1024 - 64 - 128 = 832 usable; 832 * 20 // 21
        (1000, 128, 45),  # the audit's 128-file limit: 128 - 64 - 16 = 48; 48 * 20 // 21
        (1000, None, 1000),  # no limit known (Windows)
        (10, 50, 1),  # below the reserve: still one
    ],
)
def test_connection_budget_stays_below_the_open_files_limit(wanted, open_files, cap):
    """The cap plus its 503 slack plus the reserve fit in the open-files limit."""
    got = connection_budget(wanted, open_files)
    assert got == cap
    if open_files is not None and got > 1:
        assert got + Limits(max_connections=got).refusal_slack + 64 < open_files


@pytest.mark.parametrize("field", ["header_timeout", "body_timeout", "idle_timeout"])
def test_limits_refuse_a_non_positive_timeout(field):
    """A zero timeout would mean none: refused."""
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})


def test_raw_response_is_complete_http_that_closes():
    """The guard's raw 503: status line, length, Connection: close, no request data."""
    raw = raw_response(503, headers={"Retry-After": "5"})
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"Connection: close" in head
    assert b"Retry-After: 5" in head
    assert f"Content-Length: {len(body)}".encode() in head
    assert "Le serveur est occupé".encode() in body


def test_error_page_is_html_for_browsers_and_text_otherwise():
    """Accept: text/html gets a small HTML page with a strict CSP; others plain text."""
    page = error_response(413, "request body over 10 bytes", accept="text/html,*/*")
    assert page.content_type == "text/html"
    assert page.headers["Content-Security-Policy"] == "default-src 'none'"
    assert "request body over 10 bytes" in page.text
    text = error_response(413)
    assert text.content_type == "text/plain"
    assert text.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (http_exceptions.LineTooLong("b'GET /?code=1'", "8190"), 431),
        (http_exceptions.BadHttpMessage("Too many headers received"), 431),
        (
            http_exceptions.BadHttpMessage(
                "Transfer-Encoding can't be present with Content-Length"
            ),
            400,
        ),
        (http_exceptions.BadHttpMethod("b'Authorization: Basic x'"), 400),
        (http_exceptions.InvalidURLError("b'/\\x00'"), 400),
    ],
)
def test_parser_errors_map_to_fixed_words(exc, status):
    """The status fits the fault, and the words never quote the parser's message."""
    got, why = _malformed(exc)
    assert got == status
    assert "Basic" not in why
    assert "code" not in why
