"""A small scripted browser for the portal's HTTP tests: real HTTPS to 127.0.0.1 with an
optional client certificate, a cookie jar, forms and the keypad read from the pages."""

from __future__ import annotations

import html.parser
import http.client
import ssl
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

__all__ = ["Browser", "Page"]


class _Parser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.keys: dict[str, int] = {}  # digit -> position
        self.ids: set[str] = set()
        self.page = ""
        self.links: dict[str, str] = {}
        self._key: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "body":
            self.page = a.get("data-page", "")
        if tag == "input" and "name" in a:
            self.inputs[a["name"]] = a.get("value", "")
        if tag == "a" and "id" in a:
            self.links[a["id"]] = a.get("href", "")
        if tag == "button" and "data-position" in a:
            self._key = int(a["data-position"])

    def handle_data(self, data: str) -> None:
        if self._key is not None and data.strip():
            self.keys[data.strip()] = self._key
            self._key = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._key = None


@dataclass
class Page:
    """One answer."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes
    url: str
    parsed: _Parser = field(init=False)

    def __post_init__(self) -> None:
        self.parsed = _Parser()
        if self.headers.get_content_type() == "text/html":
            self.parsed.feed(self.text)

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", errors="replace")

    @property
    def name(self) -> str:
        """The page's ``data-page``."""
        return self.parsed.page

    @property
    def csrf(self) -> str:
        """The page's CSRF token."""
        return self.parsed.inputs["csrf"]

    def positions(self, code: str) -> str:
        """The key positions that spell ``code`` on this page's keypad."""
        return ",".join(str(self.parsed.keys[d]) for d in code)


class Browser:
    """Cookies kept per browser; one TLS context (with or without a certificate)."""

    def __init__(self, base_url: str, ca: Path, cert: tuple[Path, Path] | None = None) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 443
        self.context = ssl.create_default_context(cafile=str(ca))
        if cert is not None:
            self.context.load_cert_chain(*cert)
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []
        self.lang = "en"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        follow: bool = True,
    ) -> Page:
        """One request (and, with ``follow``, the 303 redirects after it)."""
        for _ in range(10):
            conn = http.client.HTTPSConnection(
                self.host, self.port, context=self.context, timeout=60
            )
            sent = {"Accept-Language": self.lang, **(headers or {})}
            if self.cookies:
                sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            try:
                conn.request(method, path, body=body, headers=sent)
                response = conn.getresponse()
                page = Page(response.status, response.msg, response.read(), path)
            finally:
                conn.close()
            for header in page.headers.get_all("Set-Cookie") or []:
                self.set_cookie_headers.append(header)
                jar = SimpleCookie()
                jar.load(header)
                for name, morsel in jar.items():
                    if morsel["max-age"] == "0" or morsel.value == "":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            if not (follow and page.status in (302, 303)):
                return page
            method, path, body = "GET", page.headers["Location"], None
        raise AssertionError("too many redirects")

    def get(self, path: str, **kwargs: object) -> Page:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, form: dict[str, str], **kwargs: object) -> Page:
        """POST ``form`` urlencoded."""
        return self.request(
            "POST",
            path,
            body=urllib.parse.urlencode(form).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            **kwargs,  # type: ignore[arg-type]
        )

    def submit_code(self, page: Page, code: str) -> Page:
        """Type ``code`` on the keypad of ``page`` (positions only) and validate."""
        action = "/first-login" if page.name == "first-login" else "/code"
        return self.post(
            action,
            {
                "csrf": page.csrf,
                "layout": page.parsed.inputs["layout"],
                "positions": page.positions(code),
                "action": "validate",
            },
        )
