"""The hardening middleware: the outermost layer of every application `esecure serve`
runs (EST, repository, portal).

* A body announced larger than ``Limits.max_body`` is refused with 413 before it is read.
* A compressed body (``Content-Encoding``) is refused with 415, never inflated.
* A body that does not arrive within ``body_timeout`` (``BodyTimeoutError``) is a 408;
  one whose framing or encoding breaks is a 400.
* aiohttp's bare refusals (404, 405, 413 …) become readable pages.
* Every 401 carries ``WWW-Authenticate`` (RFC 9110 11.6.1).
* Every refusal (4xx but 404, and 503) is audited once: handlers that audit their own
  call ``mark_audited(request)``.
* Every answer says ``X-Content-Type-Options: nosniff`` and a version-less ``Server``
  (``common_headers``, an ``on_response_prepare`` signal: streamed answers too).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from esecure.server.http import pages
from esecure.server.http.guard import Audit, BodyFramingError, BodyTimeoutError
from esecure.server.http.limits import Limits

__all__ = ["AUDIT", "CLIENT_FAULTS", "LIMITS", "common_headers", "harden", "mark_audited"]

log = logging.getLogger("esecure.server.http")

AUDIT: web.AppKey[Audit] = web.AppKey("audit", Audit)
LIMITS: web.AppKey[Limits] = web.AppKey("limits", Limits)
_AUDITED: web.RequestKey[bool] = web.RequestKey("audited", bool)

_UNSAFE = re.compile(r"[^A-Za-z0-9/._-]")
DEFAULT_CHALLENGE = 'Basic realm="esecure", charset="UTF-8"'

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# What a client can make a handler raise, answered here (400, 408) or nowhere (gone):
# an application's own catch-all for internal errors must let these through.
CLIENT_FAULTS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    BodyFramingError,
    RequestPayloadError,
)


def mark_audited(request: web.Request) -> None:
    """Say that ``request``'s refusal is already in the audit trail (not twice)."""
    request[_AUDITED] = True


def _endpoint(request: web.Request) -> str:
    """The route's pattern; without one (a 405), the path cut to 100 characters of a
    safe alphabet (never the query: it could carry a code)."""
    resource = request.match_info.route.resource
    if resource is not None:
        return resource.canonical
    return _UNSAFE.sub("?", request.path[:100]) or "http"


def _is_refusal(status: int) -> bool:
    return status == 503 or (400 <= status < 500 and status != 404)


async def common_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: headers every answer gets, streamed ones included."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers["Server"] = pages.SERVER_NAME
    if response.status == 401 and "WWW-Authenticate" not in response.headers:
        response.headers["WWW-Authenticate"] = DEFAULT_CHALLENGE


def _finish(request: web.Request, response: web.StreamResponse, detail: str = "") -> None:
    """The audit row of a refusal."""
    if _is_refusal(response.status) and not request.get(_AUDITED, False):
        request[_AUDITED] = True
        audit = request.app.get(AUDIT)
        if audit is not None:
            outcome = detail or pages.status_title(response.status)
            try:
                audit(_endpoint(request), response.status, outcome, request.remote)
            except Exception as exc:  # noqa: BLE001 - the audit must not break the answer
                log.error("could not write an audit row (%s)", type(exc).__name__)  # noqa: TRY400


def _page(request: web.Request, status: int, detail: str, *, close: bool) -> web.Response:
    response = pages.error_response(status, detail, accept=request.headers.get("Accept", ""))
    if close:
        response.force_close()
    return response


def _is_bare(exc: web.HTTPException) -> bool:
    """aiohttp's own refusal (``404: Not Found``, its 413 when a read passes the
    application's body limit), not a handler's page."""
    return exc.text == f"{exc.status}: {exc.reason}" or isinstance(
        exc, web.HTTPRequestEntityTooLarge
    )


@web.middleware
async def harden(request: web.Request, handler: Handler) -> web.StreamResponse:
    """See the module's docstring."""
    limits = request.app.get(LIMITS) or Limits()
    length = request.content_length
    if length is not None and length > limits.max_body:
        # Refused before reading: the connection closes, the body is never taken in.
        detail = f"request body over {limits.max_body} bytes"
        refused = _page(request, 413, detail, close=True)
        _finish(request, refused, detail)
        return refused
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        # Never inflated: no decompression bomb, no second parser of client bytes.
        detail = "compressed request bodies are not accepted"
        refused = _page(request, 415, detail, close=True)
        _finish(request, refused, detail)
        return refused
    detail = ""
    response: web.StreamResponse
    try:
        response = await handler(request)
    except BodyTimeoutError:
        detail = f"request body not received within {limits.body_timeout:g} s"
        response = _page(request, 408, detail, close=True)
    except (BodyFramingError, RequestPayloadError):
        detail = "the request body is malformed"
        response = _page(request, 400, detail, close=True)
    except web.HTTPException as exc:
        if exc.status < 400 or not _is_bare(exc):
            _finish(request, exc)
            raise
        page = _page(request, exc.status, "", close=exc.status == 413)
        for name in ("Allow", "Retry-After"):
            if name in exc.headers:
                page.headers[name] = exc.headers[name]
        response = page
    _finish(request, response, detail)
    return response
