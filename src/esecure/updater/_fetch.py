"""HTTP(S) for python-tuf: standard library only, bounded in time, reporting progress."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tuf.api import exceptions
from tuf.ngclient.fetcher import FetcherInterface

__all__ = ["Fetcher", "opener", "tls_context"]

CHUNK = 64 * 1024


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """TLS for the update host: the system's trust store, plus the key's own CA (the one
    pinned in the image's trust/) when ``ca_file`` is given; verification always on.

    Both, not the key's CA alone: a bank may serve its repository from a CDN with a public
    chain, or from its own host under the project CA (`esecure serve`). TLS is the outer
    layer only: every byte installed is checked against the TUF signatures anyway. An
    unreadable ``ca_file`` is ignored here (the system store still applies; the
    self-check and the diagnostics name a damaged trust/)."""
    context = ssl.create_default_context()
    if ca_file is not None:
        with contextlib.suppress(OSError, ssl.SSLError, ValueError):
            context.load_verify_locations(cafile=str(ca_file))
    return context


class _Through(urllib.request.ProxyHandler):
    """Every request through one HTTP proxy (``host:port``), whatever the environment's
    proxies and no_proxy say: the key's configuration decides (a ProxyHandler, so
    ``build_opener`` adds no default one reading the environment)."""

    def __init__(self, address: str) -> None:
        super().__init__({})
        self.address = address

    def http_open(self, req: urllib.request.Request) -> None:
        """Point the request at the proxy (an https one tunnels with CONNECT)."""
        req.set_proxy(self.address, "http")

    https_open = http_open


def opener(proxy: str, context: ssl.SSLContext) -> urllib.request.OpenerDirector:
    """An opener for ``[network] proxy`` as the launcher follows it: "none" (direct, even
    when the environment names a proxy), ``http://host:port``, or "system" (urllib's own:
    the environment, the Windows Internet Settings)."""
    https = urllib.request.HTTPSHandler(context=context)
    if proxy == "none":
        return urllib.request.build_opener(urllib.request.ProxyHandler({}), https)
    if proxy.startswith("http://"):
        return urllib.request.build_opener(_Through(proxy.removeprefix("http://")), https)
    return urllib.request.build_opener(https)


class Fetcher(FetcherInterface):
    """Each read waits at most ``timeout`` seconds; the whole session ends at ``deadline``.

    ``progress(n)`` is called with the byte count of each chunk. ``server_time`` keeps the
    last HTTP Date header: it tells an expired repository from a wrong local clock.
    ``declared_length`` keeps the last Content-Length (None when the server sent none): it
    tells a file longer than signed from an endless stream.

    ``ca_file``: the key's own CA, trusted beside the system's (:func:`tls_context`).
    ``proxy``: the key's ``[network] proxy`` as the launcher follows it (:func:`opener`).

    ``before_request()``, when set, runs before each request python-tuf makes. python-tuf
    writes each metadata file it verified to its directory before it requests the next
    one (or ends its refresh), and offers no public hook there: the client uses this one
    to keep what was verified, durably, before anything more is read from the network.
    """

    def __init__(
        self,
        *,
        timeout: float,
        deadline: float | None = None,
        ca_file: Path | None = None,
        proxy: str = "system",
    ) -> None:
        self.timeout = timeout
        self.context = tls_context(ca_file)
        self.opener = opener(proxy, self.context)
        self.deadline = deadline
        self.progress: Callable[[int], None] | None = None
        self.before_request: Callable[[], None] | None = None
        self.server_time: dt.datetime | None = None
        self.declared_length: int | None = None
        self._open: list[Any] = []

    def fetch(self, url: str) -> Iterator[bytes]:
        """python-tuf's ``fetch``, after ``before_request``; its errors (ES524 when the
        data area fails) pass through unchanged, not as a download error."""
        if self.before_request is not None:
            self.before_request()
        return super().fetch(url)

    def close(self) -> None:
        """Close responses that python-tuf stopped reading (too long, or an error)."""
        while self._open:
            self._open.pop().close()

    def _fetch(self, url: str) -> Iterator[bytes]:
        if not url.startswith(("https://", "http://")):
            raise exceptions.DownloadError(f"refusing a non-HTTP URL: {url}")
        self._check_deadline(url)
        self.declared_length = None
        try:
            response = self.opener.open(url, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the connection: a 404 must not leave it open
            raise exceptions.DownloadHTTPError(f"{url}: HTTP {exc.code}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise exceptions.DownloadError(f"{url}: {exc}") from exc
        self._open.append(response)
        length = response.headers.get("Content-Length")
        self.declared_length = int(length) if length and length.strip().isdigit() else None
        date = response.headers.get("Date")
        if date:
            try:
                self.server_time = email.utils.parsedate_to_datetime(date).astimezone(dt.UTC)
            except (TypeError, ValueError):
                self.server_time = None
        return self._chunks(response, url)

    def _chunks(self, response: Any, url: str) -> Iterator[bytes]:  # noqa: ANN401 - urllib's type
        with response:
            while True:
                self._check_deadline(url)
                try:
                    data = response.read1(CHUNK)  # what arrived: a drip cannot block a read
                except (OSError, TimeoutError) as exc:
                    raise exceptions.SlowRetrievalError(f"{url}: {exc}") from exc
                if not data:
                    return
                if self.progress is not None:
                    self.progress(len(data))
                yield data

    def _check_deadline(self, url: str) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise exceptions.SlowRetrievalError(f"{url}: took too long (time limit reached)")
