"""The portal's HTTP side: thin aiohttp handlers over the pure rules, pages from Jinja2.

Everything that decides lives in the rule modules; this module reads requests, calls the
rules and the store, and renders. Its middleware acts on the portal's routes only (named
``portal.…``): it picks the language, turns refusals into readable pages (never a stack
trace), and adds the security headers. Forms are read with a size cap (413), a field cap
and strict decoding (400); every POST carries a CSRF token (403 otherwise, nothing done).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from cryptography import x509

from esecure.config import Project
from esecure.server.admin import IDENTIFIER_PATTERN
from esecure.server.est import ISSUER, peer_certificate
from esecure.server.http import CLIENT_FAULTS, mark_audited
from esecure.server.portal import auth, demo, i18n
from esecure.server.portal.codes import CodeHasher, refusal
from esecure.server.portal.contact import validate as validate_contact
from esecure.server.portal.keypad import (
    CELLS,
    CODE_LENGTH,
    ForgedPositions,
    Layout,
    new_layout,
    parse_positions,
)
from esecure.server.portal.pdf import Line, statement_pdf
from esecure.server.portal.pepper import load_pepper
from esecure.server.portal.sessions import (
    STAGE_PAGES,
    Session,
    csrf_matches,
    hash_id,
    is_expired,
    live_others,
    new_csrf,
    new_id,
)
from esecure.server.portal.settings import PortalSettings
from esecure.server.portal.store import PortalStore, PortalUser
from esecure.server.portal.theme import brand_css
from esecure.server.registry import Registry

__all__ = ["LANG_COOKIE", "PORTAL", "PRE_COOKIE", "SESSION_COOKIE", "Portal", "install"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "__Host-esecure-session"
PRE_COOKIE = "__Host-esecure-pre"
LANG_COOKIE = "__Host-esecure-lang"
_HERE = Path(__file__).parent
_STATIC_TYPES = {"portal.css": "text/css", "keypad.js": "text/javascript"}
_LOGO_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}
_FORM_TYPE = "application/x-www-form-urlencoded"
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")  # secrets.token_urlsafe's alphabet
_AMOUNT = re.compile(r"([0-9]{1,9})(?:[.,]([0-9]{1,2}))?")


_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cache-Control": "no-store",
}

# Message pages: data-page -> (title, paragraphs, error code, (link id, href, label)).
_TO_LOGIN = ("to-login", "/login", "error.home")
_MESSAGES: dict[str, tuple[str, tuple[str, ...], str | None, tuple[str, str, str]]] = {
    "no-certificate": (
        "cert.absent.title",
        ("cert.absent.intro", "cert.absent.action"),
        "ES410",
        _TO_LOGIN,
    ),
    "cert-unknown": (
        "cert.unknown.title",
        ("cert.unknown.intro", "cert.absent.action"),
        "ES410",
        _TO_LOGIN,
    ),
    "cert-revoked": ("cert.revoked.title", ("cert.revoked.intro", "cert.call"), "ES410", _TO_LOGIN),
    "cert-expired": ("cert.expired.title", ("cert.expired.intro", "cert.call"), "ES410", _TO_LOGIN),
    "cert-disabled": (
        "cert.disabled.title",
        ("cert.disabled.intro", "cert.call"),
        "ES410",
        _TO_LOGIN,
    ),
    "refused": ("refused.title", ("refused.intro", "refused.action"), "ES412", _TO_LOGIN),
    "locked": ("locked.title", ("locked.intro", "locked.action"), "ES411", _TO_LOGIN),
    "mail-expired": (
        "mail-expired.title",
        ("mail-expired.intro", "mail-expired.action"),
        "ES411",
        _TO_LOGIN,
    ),
    "slow": ("slow.title", ("code.slow",), "ES402", ("retry", "/code", "slow.retry")),
    "forged": ("forged.title", ("forged.intro",), "ES413", _TO_LOGIN),
    "csrf": ("csrf.title", ("csrf.intro",), "ES413", _TO_LOGIN),
    "bad-request": ("bad.title", ("bad.intro",), "ES413", _TO_LOGIN),
    "too-large": ("too-large.title", ("too-large.intro",), "ES413", _TO_LOGIN),
    "not-found": ("not-found.title", ("not-found.intro",), None, _TO_LOGIN),
    "logged-out": (
        "logout.title",
        ("logout.steps",),
        None,
        ("login-again", "/login", "logout.again"),
    ),
}


@dataclass
class Portal:
    """What the portal's handlers share (one per application)."""

    project: Project
    registry: Registry
    store: PortalStore
    hasher: CodeHasher
    settings: PortalSettings
    clock: Callable[[], float]
    env: jinja2.Environment
    ca: x509.Certificate
    static: dict[str, tuple[bytes, str]]

    def now(self) -> float:
        """The portal's clock (tests give a fake one)."""
        return self.clock()

    def audit(
        self,
        request: web.Request,
        what: str,
        status: int,
        outcome: str,
        *,
        identifier: str | None = None,
        key_serial: str | None = None,
    ) -> None:
        """One audit row ``portal/<what>`` (never a code, a token or a cookie); the HTTP
        layer then does not audit the same refusal again."""
        mark_audited(request)
        self.registry.audit(
            f"portal/{what}",
            status,
            outcome,
            identifier=identifier,
            key_serial=key_serial,
            peer=request.remote,
            now=self.now(),
        )


PORTAL: web.AppKey[Portal] = web.AppKey("portal", Portal)
_LANG: web.RequestKey[str] = web.RequestKey("portal_lang", str)


class _Page(Exception):  # noqa: N818 - an answer, not an error of ours
    """Answer with the message page ``page``."""

    def __init__(self, status: int, page: str, *, end_session: bool = False) -> None:
        super().__init__(page)
        self.status = status
        self.page = page
        self.end_session = end_session


class _Redirect(Exception):  # noqa: N818 - an answer, not an error of ours
    """Answer 303 See Other to ``location``."""

    def __init__(self, location: str, *, end_session: bool = False) -> None:
        super().__init__(location)
        self.location = location
        self.end_session = end_session


# --- responses ------------------------------------------------------------------------------


def _portal(request: web.Request) -> Portal:
    return request.app[PORTAL]


def _lang(request: web.Request) -> str:
    return str(request.get(_LANG, "en"))


def _translator(request: web.Request) -> Callable[..., str]:
    portal, lang = _portal(request), _lang(request)
    product = portal.project.product
    brand = {
        "portal": product.portal_name,
        "bank": product.bank_name,
        "phone": product.support_phone,
        "minutes": round(portal.settings.sessions.idle_seconds / 60),
        "seconds": round(portal.settings.slow_notice_seconds),
    }

    def t(key: str, **values: object) -> str:
        return i18n.text(key, lang, **{**brand, **values})

    return t


def _render(
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    session: Session | None = None,
    switch: str | None = None,
    **context: Any,  # noqa: ANN401 - template values of any kind
) -> web.Response:
    portal = _portal(request)
    product = portal.project.product
    body = portal.env.get_template(template).render(
        t=_translator(request),
        lang=_lang(request),
        languages=[lang for lang in product.languages if lang in ("en", "fr")],
        product=product,
        session=session,
        switch=switch or request.path,
        **context,
    )
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")


def _message(request: web.Request, page: str, status: int) -> web.Response:
    title, paragraphs, code, link = _MESSAGES[page]
    return _render(
        request,
        "message.html",
        status=status,
        page=page,
        title=title,
        paragraphs=paragraphs,
        code=code,
        link=link,
        # The same page whatever the path that led to it: no difference to learn from.
        switch="/login",
    )


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _set_cookie(response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, secure=True, httponly=True, samesite="Strict", path="/")


def _end_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")


def _harden(response: web.StreamResponse) -> None:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    if response.content_type != "application/pdf":
        # Firefox's built-in PDF viewer runs inside the PDF's document: a CSP there could
        # stop it (the PDF response carries the other headers, and no active content).
        response.headers.setdefault("Content-Security-Policy", _CSP)


def _language(request: web.Request) -> tuple[str, str | None]:
    """(the page's language, the language to remember in the cookie if it was chosen)."""
    product = _portal(request).project.product
    offered = tuple(lang for lang in product.languages if lang in ("en", "fr")) or ("en",)
    asked = request.query.get("lang")
    if asked in offered:
        return asked, asked
    kept = request.cookies.get(LANG_COOKIE)
    if kept in offered:
        return kept, None
    default = product.default_language if product.default_language in offered else offered[0]
    return i18n.negotiate(request.headers.get("Accept-Language", ""), offered, default), None


@web.middleware
async def _portal_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    name = request.match_info.route.name or ""
    if not name.startswith("portal."):
        return await handler(request)
    lang, chosen = _language(request)
    request[_LANG] = lang
    response: web.StreamResponse
    try:
        response = await handler(request)
    except _Redirect as redirect:
        response = _redirect(redirect.location)
        if redirect.end_session:
            _end_cookie(response)
    except _Page as page:
        response = _message(request, page.page, page.status)
        if page.end_session:
            _end_cookie(response)
    except web.HTTPRequestEntityTooLarge:
        response = _message(request, "too-large", 413)
    except web.HTTPException:
        raise  # aiohttp's answers: given outside
    except CLIENT_FAULTS:
        raise  # a client's faults (gone, too slow, broken framing): answered outside
    except Exception:
        log.exception("portal: internal error on %s %s", request.method, request.path)
        response = web.Response(status=500, text="internal error\n")
    _harden(response)
    if chosen:
        _set_cookie(response, LANG_COOKIE, chosen)
    return response


# --- requests -------------------------------------------------------------------------------


async def _read_form(request: web.Request) -> dict[str, str]:
    """The urlencoded form of a POST: 415 for another type, 413 past the size cap, 400 for
    bad encoding, too many fields or a field given twice."""
    settings = _portal(request).settings
    if request.content_type != _FORM_TYPE:
        raise _Page(415, "bad-request")
    if request.content_length is not None and request.content_length > settings.max_form_bytes:
        raise _Page(413, "too-large")
    body = bytearray()
    for _ in range(settings.max_form_bytes + 2):  # bounded: each read returns >= 1 byte
        try:
            chunk = await request.content.read(settings.max_form_bytes + 1 - len(body))
        except ValueError:  # the body's framing broke (a bad chunk): the client's fault
            raise _Page(400, "bad-request") from None
        if not chunk:
            break
        body += chunk
        if len(body) > settings.max_form_bytes:
            raise _Page(413, "too-large")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(body),
            max_num_fields=settings.max_form_fields,
        )
    except (UnicodeDecodeError, ValueError):
        raise _Page(400, "bad-request") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form or len(value) > 512:
            raise _Page(400, "bad-request")
        form[key] = value
    return form


def _token(request: web.Request, name: str) -> str | None:
    """A cookie holding one of our tokens, if well formed (anything else is no cookie)."""
    value = request.cookies.get(name)
    return value if value is not None and _TOKEN.fullmatch(value) else None


def _session_of(request: web.Request) -> Session | None:
    token = _token(request, SESSION_COOKIE)
    return _portal(request).store.session(hash_id(token)) if token else None


def _require(request: web.Request, *stages: str) -> Session:
    """The request's live session, at one of ``stages`` (touched: its idle time restarts).
    No session: to the login page; expired: ended, to the login page with a notice; at
    another stage: to that stage's page."""
    portal = _portal(request)
    session = _session_of(request)
    if session is None:
        raise _Redirect("/login", end_session=SESSION_COOKIE in request.cookies)
    now = portal.now()
    if is_expired(session, now, portal.settings.sessions):
        portal.store.delete_session(session.id_hash)
        portal.audit(request, "session", 303, "expired (idle)", identifier=session.identifier)
        raise _Redirect("/login?expired=1", end_session=True)
    if session.stage not in stages:
        raise _Redirect(STAGE_PAGES[session.stage])
    session = dataclasses.replace(session, seen=now)
    portal.store.update_session(session)
    return session


def _check_csrf(request: web.Request, session: Session, form: dict[str, str]) -> None:
    if not csrf_matches(session.csrf, form.get("csrf")):
        _portal(request).audit(request, "csrf", 403, "refused", identifier=session.identifier)
        raise _Page(403, "csrf")


async def _session_form(request: web.Request, *stages: str) -> tuple[Session, dict[str, str]]:
    session = _require(request, *stages)
    form = await _read_form(request)
    _check_csrf(request, session, form)
    return session, form


def _pending(session: Session) -> dict[str, str]:
    if not session.pending:
        return {}
    value = json.loads(session.pending)
    return value if isinstance(value, dict) else {}


# --- login ----------------------------------------------------------------------------------


async def root(request: web.Request) -> web.StreamResponse:
    """``/``: the login page, or the page where the session stands."""
    portal = _portal(request)
    session = _session_of(request)
    if session is None or is_expired(session, portal.now(), portal.settings.sessions):
        raise _Redirect("/login")
    raise _Redirect(STAGE_PAGES[session.stage])


def _login_page(
    request: web.Request, *, status: int = 200, error: str | None = None, identifier: str = ""
) -> web.Response:
    portal = _portal(request)
    pre = _token(request, PRE_COOKIE)
    fresh = pre is None
    if pre is None:
        pre = new_csrf()
    notice = None
    if request.query.get("expired") == "1":
        notice = "login.expired"
    elif request.query.get("ended") == "1":
        notice = "login.ended"
    response = _render(
        request,
        "login.html",
        status=status,
        csrf=portal.hasher.token("login", pre),
        notice=notice,
        error=error,
        identifier=identifier,
    )
    if fresh:
        _set_cookie(response, PRE_COOKIE, pre)
    return response


async def login_get(request: web.Request) -> web.StreamResponse:
    """The login page: identifier and "Access with certificate"."""
    return _login_page(request)


async def login_post(request: web.Request) -> web.StreamResponse:
    """Identify by identifier + TLS client certificate; then the keypad."""
    portal = _portal(request)
    form = await _read_form(request)
    pre = _token(request, PRE_COOKIE)
    if not pre or not csrf_matches(portal.hasher.token("login", pre), form.get("csrf")):
        portal.audit(request, "csrf", 403, "refused (login form)")
        raise _Page(403, "csrf")
    identifier = form.get("identifier", "").strip()
    if not IDENTIFIER_PATTERN.fullmatch(identifier):
        shown = form.get("identifier", "")[:64]  # shown back (autoescaped) to be corrected
        return _login_page(request, status=400, error="login.identifier.invalid", identifier=shown)
    cert = peer_certificate(request)
    registry = portal.registry
    row = registry.certificate(format(cert.serial_number, "x")) if cert is not None else None
    check = auth.check_certificate(
        cert,
        identifier,
        ca=portal.ca,
        row=row,
        key=registry.key(row.key_serial) if row else None,
        user=registry.user(row.identifier) if row else None,
        now=dt.datetime.fromtimestamp(portal.now(), dt.UTC),
    )
    if check.verdict != "ok":
        portal.audit(
            request,
            "login",
            403,
            f"certificate {check.verdict}",
            identifier=identifier,
            key_serial=check.key_serial,
        )
        if check.verdict == "absent":
            raise _Page(403, "no-certificate")
        # A certificate that is not this identifier's: the answer of a wrong code.
        raise _Page(403, "refused" if check.verdict == "mismatch" else f"cert-{check.verdict}")
    user = portal.store.user(identifier)
    if user is not None and user.locked:
        portal.audit(request, "login", 403, "locked", identifier=identifier)
        raise _Page(403, "locked")
    old = _session_of(request)
    now = portal.now()
    token, id_hash = new_id()
    assert check.serial_number is not None  # noqa: S101 - set for every "ok"
    with registry.transaction():
        if old is not None:
            portal.store.delete_session(old.id_hash)
        policy = portal.settings.sessions
        portal.store.purge_sessions(
            seen_before=now - policy.idle_seconds, created_before=now - policy.max_seconds
        )
        portal.store.add_session(
            Session(id_hash, identifier, "code", new_csrf(), check.serial_number, now, now)
        )
    portal.audit(request, "login", 200, "certificate ok", identifier=identifier)
    response = _redirect("/code")
    _set_cookie(response, SESSION_COOKIE, token)
    return response


# --- the keypad -----------------------------------------------------------------------------


def _keypad_page(
    request: web.Request,
    session: Session,
    *,
    layout: Layout | None = None,
    positions: tuple[int, ...] = (),
    status: int = 200,
    notice: str | None = None,
) -> web.Response:
    """The keypad page of ``session``'s stage; a new layout unless ``layout`` is kept."""
    portal = _portal(request)
    if layout is None:
        layout = new_layout()
        session = dataclasses.replace(session, layout=layout.encode())
        portal.store.update_session(session)
    step = _pending(session).get("step", "mail") if session.stage == "first" else None
    return _render(
        request,
        "code.html",
        status=status,
        session=session,
        page="first-login" if step else "code",
        action="/first-login" if step else "/code",
        step=step,
        layout=layout,
        positions=",".join(map(str, positions)),
        count=len(positions),
        notice=notice,
        length=CODE_LENGTH,
        cells=CELLS,
        slow_ms=round(portal.settings.slow_notice_seconds * 1000),
    )


def _keypad_input(layout: Layout, form: dict[str, str]) -> tuple[str, tuple[int, ...]]:
    """(the action, the positions it leaves) of a keypad form: a key pressed (no script),
    a correction, or the code to validate. :class:`ForgedPositions` for anything a page of
    ours cannot send."""
    positions = parse_positions(form.get("positions", ""))
    if "key" in form:
        key = parse_positions(form["key"], at_most=1)
        if not key:
            raise ForgedPositions("no key")
        layout.digits(key)  # a blank is no key
        return "key", positions + key if len(positions) < CODE_LENGTH else positions
    action = form.get("action", "")
    if action == "correct":
        return action, positions[:-1]
    if action == "clear":
        return action, ()
    if action != "validate":
        raise ForgedPositions("unknown action")
    return action, positions


async def _keypad_submit(
    request: web.Request, session: Session, form: dict[str, str]
) -> str | web.Response:
    """A keypad form: a page to send back (key added, corrected, stale), or the code the
    positions spell once validated (the layout is then spent)."""
    portal = _portal(request)
    current = session.layout
    if current is None or Layout.decode(current).id != form.get("layout"):
        return _keypad_page(request, session, status=409, notice="code.stale")
    layout = Layout.decode(current)
    try:
        action, positions = _keypad_input(layout, form)
        if action == "validate":
            digits = layout.digits(positions)
    except ForgedPositions as exc:
        portal.store.take_layout(session.id_hash, current)
        portal.audit(request, "keypad", 400, f"forged: {exc}", identifier=session.identifier)
        raise _Page(400, "forged") from None
    if action != "validate":
        return _keypad_page(request, session, layout=layout, positions=positions)
    if len(digits) != CODE_LENGTH:
        return _keypad_page(
            request,
            session,
            layout=layout,
            positions=positions,
            status=400,
            notice="code.incomplete",
        )
    if not portal.store.take_layout(session.id_hash, current):
        return _keypad_page(request, session, status=409, notice="code.stale")
    return digits


async def _verify(portal: Portal, identifier: str, code: str, stored: str | None) -> bool | None:
    """The slow check, off the event loop and bounded in time: None if it took too long."""
    loop = asyncio.get_running_loop()
    work = loop.run_in_executor(None, portal.hasher.verify, identifier, code, stored)
    try:
        return await asyncio.wait_for(work, timeout=portal.settings.answer_seconds)
    except TimeoutError:
        return None


async def _check_code(
    request: web.Request, session: Session, code: str, *, mail_only: bool
) -> PortalUser:
    """Count, check and answer one secret (or mail) code; returns the user when right.
    The attempt is counted before the check; a wrong third code locks the account."""
    portal = _portal(request)
    identifier = session.identifier
    attempt = portal.store.begin_attempt(identifier)
    if attempt.locked:
        portal.audit(request, "code", 403, "locked", identifier=identifier)
        portal.store.delete_session(session.id_hash)
        raise _Page(403, "locked", end_session=True)
    user = attempt.user
    stored = None
    if user is not None:
        stored = user.mail_hash if mail_only or user.code_hash is None else user.code_hash
    right = await _verify(portal, identifier, code, stored)
    if right is None:
        portal.audit(request, "code", 503, "no answer in time", identifier=identifier)
        raise _Page(503, "slow")
    if not right or user is None:
        if user is not None and attempt.failures >= auth.MAX_WRONG_CODES:
            portal.store.lock(identifier)
            portal.audit(request, "lockout", 403, "locked after wrong codes", identifier=identifier)
            portal.store.delete_session(session.id_hash)
            raise _Page(403, "locked", end_session=True)
        portal.audit(request, "code", 403, "wrong code", identifier=identifier)
        if mail_only:
            raise _Retry
        portal.store.delete_session(session.id_hash)
        raise _Page(403, "refused", end_session=True)
    portal.store.accept_attempt(identifier)
    using_mail = user.code_hash is None or mail_only
    expires = (user.mail_expires or 0.0) if using_mail else float("inf")
    if expires <= portal.now():
        portal.audit(request, "code", 403, "mail code expired", identifier=identifier)
        portal.store.delete_session(session.id_hash)
        raise _Page(403, "mail-expired", end_session=True)
    return user


class _Retry(Exception):  # noqa: N818 - a wrong mail code during the first connection
    """The mail code typed again was wrong (not yet the third time)."""


async def code_get(request: web.Request) -> web.StreamResponse:
    """The keypad, with a new layout."""
    return _keypad_page(request, _require(request, "code"))


async def code_post(request: web.Request) -> web.StreamResponse:
    """A key, a correction, or the code to check."""
    session, form = await _session_form(request, "code")
    result = await _keypad_submit(request, session, form)
    if isinstance(result, web.Response):
        return result
    user = await _check_code(request, session, result, mail_only=False)
    if user.code_hash is None:
        stage = "first"
    elif user.registered is None:
        stage = "contact"
    else:
        stage = "in"
    _portal(request).audit(request, "code", 200, "logged in", identifier=user.identifier)
    return _logged_in(request, session, stage)


def _logged_in(request: web.Request, session: Session, stage: str) -> web.Response:
    """A new session id for the identified user (fixation), at ``stage`` — or at the
    choice page first if another session of theirs is live (E6)."""
    portal = _portal(request)
    now = portal.now()
    token, id_hash = new_id()
    others = live_others(
        portal.store.sessions_of(session.identifier),
        current=session.id_hash,
        now=now,
        policy=portal.settings.sessions,
    )
    renewed = Session(
        id_hash,
        session.identifier,
        "choice" if others else stage,
        new_csrf(),
        session.cert_serial,
        now,
        now,
        pending=json.dumps({"next": stage}) if others else None,
    )
    with portal.registry.transaction():
        portal.store.delete_session(session.id_hash)
        portal.store.add_session(renewed)
    if renewed.stage == "in":
        demo.ensure_accounts(portal.store, session.identifier, _today(portal))
    response = _redirect(STAGE_PAGES[renewed.stage])
    _set_cookie(response, SESSION_COOKIE, token)
    return response


def _today(portal: Portal) -> dt.date:
    return dt.datetime.fromtimestamp(portal.now(), dt.UTC).date()


async def choice_get(request: web.Request) -> web.StreamResponse:
    """Another session is live: end it, or cancel this login."""
    session = _require(request, "choice")
    return _render(request, "choice.html", session=session)


async def choice_post(request: web.Request) -> web.StreamResponse:
    """The user's choice between the two sessions."""
    portal = _portal(request)
    session, form = await _session_form(request, "choice")
    action = form.get("action")
    if action == "cancel":
        portal.store.delete_session(session.id_hash)
        portal.audit(request, "session", 200, "login cancelled", identifier=session.identifier)
        raise _Redirect("/login", end_session=True)
    if action != "end-other":
        raise _Page(400, "bad-request")
    stage = _pending(session).get("next", "in")
    if stage not in STAGE_PAGES or stage in ("code", "choice"):
        raise _Page(400, "bad-request")
    with portal.registry.transaction():
        ended = portal.store.delete_sessions_of(session.identifier, keep=session.id_hash)
        portal.store.update_session(dataclasses.replace(session, stage=stage, pending=None))
    portal.audit(
        request, "session", 200, f"ended {ended} other session(s)", identifier=session.identifier
    )
    if stage == "in":
        demo.ensure_accounts(portal.store, session.identifier, _today(portal))
    raise _Redirect(STAGE_PAGES[stage])


# --- first connection -----------------------------------------------------------------------


async def first_get(request: web.Request) -> web.StreamResponse:
    """The first connection's keypad, at its current step."""
    return _keypad_page(request, _require(request, "first"))


async def first_post(request: web.Request) -> web.StreamResponse:
    """Mail code again → new personal code → the same again."""
    portal = _portal(request)
    session, form = await _session_form(request, "first")
    result = await _keypad_submit(request, session, form)
    if isinstance(result, web.Response):
        return result
    code, pending, identifier = result, _pending(session), session.identifier
    step = pending.get("step", "mail")
    hasher = portal.hasher

    def at(step: str, **values: str) -> Session:
        changed = dataclasses.replace(session, pending=json.dumps({"step": step, **values}))
        portal.store.update_session(changed)
        return changed

    if step == "mail":
        try:
            await _check_code(request, session, code, mail_only=True)
        except _Retry:
            return _keypad_page(request, session, status=400, notice="first.mail-wrong")
        at("new", mail=hasher.quick(identifier, code))
        raise _Redirect("/first-login")
    if step == "new":
        mail = pending.get("mail", "")
        reason = refusal(
            code, is_mail_code=lambda c: csrf_matches(mail, hasher.quick(identifier, c))
        )
        if reason is not None:
            portal.audit(
                request, "first-login", 400, f"code refused: {reason}", identifier=identifier
            )
            return _keypad_page(request, session, status=400, notice=reason)
        at("confirm", mail=mail, new=hasher.quick(identifier, code))
        raise _Redirect("/first-login")
    if not csrf_matches(pending.get("new"), hasher.quick(identifier, code)):
        changed = at("new", mail=pending.get("mail", ""))
        return _keypad_page(request, changed, status=400, notice="first.mismatch")
    loop = asyncio.get_running_loop()
    stored = await loop.run_in_executor(None, hasher.hash, identifier, code)
    with portal.registry.transaction():
        portal.store.set_code(identifier, stored)
        portal.store.update_session(dataclasses.replace(session, stage="contact", pending=None))
    portal.audit(request, "first-login", 200, "personal code chosen", identifier=identifier)
    raise _Redirect("/contact")


async def contact_get(request: web.Request) -> web.StreamResponse:
    """The contact form."""
    session = _require(request, "contact")
    return _render(request, "contact.html", session=session, values={}, problems={})


async def contact_post(request: web.Request) -> web.StreamResponse:
    """Validate the contact details; the certificate is then registered."""
    portal = _portal(request)
    session, form = await _session_form(request, "contact")
    values = {"email": form.get("email", ""), "phone": form.get("phone", "")}
    contact, problems = validate_contact(values["email"], values["phone"])
    if contact is None:
        return _render(
            request, "contact.html", status=400, session=session, values=values, problems=problems
        )
    with portal.registry.transaction():
        portal.store.register(
            session.identifier,
            email=contact.email,
            phone=contact.phone,
            cert_serial=session.cert_serial,
            now=portal.now(),
        )
        portal.store.update_session(dataclasses.replace(session, stage="in"))
    portal.audit(request, "contact", 200, "certificate registered", identifier=session.identifier)
    demo.ensure_accounts(portal.store, session.identifier, _today(portal))
    raise _Redirect("/registered")


# --- the client area ------------------------------------------------------------------------


async def registered(request: web.Request) -> web.StreamResponse:
    """ "Your certificate is registered", and the link to the client area."""
    return _render(request, "registered.html", session=_require(request, "in"))


async def area(request: web.Request) -> web.StreamResponse:
    """The client area's menu."""
    return _render(request, "area.html", session=_require(request, "in"))


async def services(request: web.Request) -> web.StreamResponse:
    """The service menu: groups that expand (+) and collapse (-)."""
    session = _require(request, "in")
    mine = _portal(request).store.accounts(session.identifier)
    first = f"/accounts/{mine[0].number}" if mine else "/accounts"
    groups = [
        (
            "accounts",
            [
                ("service-balances", "/accounts", "service.balances"),
                ("service-operations", first, "service.operations"),
            ],
        ),
        (
            "transfers",
            [
                ("service-transfer-new", "/transfers#transfer-form", "service.transfer-new"),
                ("service-transfer-list", "/transfers#history", "service.transfer-list"),
            ],
        ),
        ("statements", [("service-statements", "/statements", "service.statements")]),
        ("help", [("service-guide", "/guide", "service.guide")]),
    ]
    # ?open=NAME (repeatable) opens groups server-side: the "+" links of browsers without
    # <details> support; every browser in use has it, so all groups start closed.
    opened = set(request.query.getall("open", []))
    return _render(request, "services.html", session=session, groups=groups, opened=opened)


def _money(cents: int, lang: str) -> str:
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    grouped = f"{units:,}".replace(",", "\u202f" if lang == "fr" else ",")
    return f"{sign}{grouped}{',' if lang == 'fr' else '.'}{rest:02d} EUR"


async def accounts(request: web.Request) -> web.StreamResponse:
    """Balances."""
    session = _require(request, "in")
    rows = _portal(request).store.accounts(session.identifier)
    return _render(request, "accounts.html", session=session, accounts=rows, money=_money)


async def operations(request: web.Request) -> web.StreamResponse:
    """The lines of one account of the user's."""
    session = _require(request, "in")
    store = _portal(request).store
    number = request.match_info["number"]
    mine = {a.number: a for a in store.accounts(session.identifier)}
    if number not in mine:
        raise _Page(404, "not-found")
    return _render(
        request,
        "operations.html",
        session=session,
        account=mine[number],
        operations=store.operations(number),
        money=_money,
    )


def _transfers_page(
    request: web.Request, session: Session, *, status: int = 200, error: bool = False
) -> web.Response:
    store = _portal(request).store
    mine = store.accounts(session.identifier)
    history = [op for a in mine for op in store.operations(a.number, kind="transfer")]
    history.sort(key=lambda op: op.day, reverse=True)
    return _render(
        request,
        "transfers.html",
        status=status,
        session=session,
        accounts=mine,
        history=history[:30],
        done=request.query.get("done") == "1",
        error=error,
        money=_money,
    )


async def transfers_get(request: web.Request) -> web.StreamResponse:
    """The transfer form and the transfers made."""
    return _transfers_page(request, _require(request, "in"))


async def transfers_post(request: web.Request) -> web.StreamResponse:
    """Make a transfer between two accounts of the user's."""
    portal = _portal(request)
    session, form = await _session_form(request, "in")
    amount = _AMOUNT.fullmatch(form.get("amount", "").strip())
    label = " ".join(form.get("label", "").split())
    cents = (
        int(amount.group(1)) * 100 + int((amount.group(2) or "0").ljust(2, "0")) if amount else 0
    )
    if cents <= 0 or not 0 < len(label) <= 64 or not label.isprintable():
        return _transfers_page(request, session, status=400, error=True)
    made = portal.store.transfer(
        session.identifier,
        form.get("from", ""),
        form.get("to", ""),
        cents,
        label,
        _today(portal).isoformat(),
    )
    if not made:
        return _transfers_page(request, session, status=400, error=True)
    portal.audit(request, "transfer", 200, "transfer made", identifier=session.identifier)
    raise _Redirect("/transfers?done=1")


def _months(portal: Portal, count: int = 3) -> list[str]:
    today = _today(portal)
    year, month, out = today.year, today.month, []
    for _ in range(count):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out


async def statements(request: web.Request) -> web.StreamResponse:
    """The monthly statements, as PDF links."""
    portal = _portal(request)
    session = _require(request, "in")
    return _render(
        request,
        "statements.html",
        session=session,
        accounts=portal.store.accounts(session.identifier),
        months=_months(portal),
    )


async def statement_pdf_view(request: web.Request) -> web.StreamResponse:
    """One statement, a PDF shown inline by the browser's built-in viewer (E11, E12)."""
    portal = _portal(request)
    session = _require(request, "in")
    number, month = request.match_info["number"], request.match_info["month"]
    mine = {a.number: a for a in portal.store.accounts(session.identifier)}
    if number not in mine or not _MONTH.fullmatch(month):
        raise _Page(404, "not-found")
    lang = _lang(request)
    t = _translator(request)
    product = portal.project.product
    lines = [
        Line(f"{product.bank_name} - {product.portal_name}", 16, bold=True),
        Line(t("statements.open", month=month, number=number).replace(" (PDF)", ""), 12),
        Line(f"{mine[number].label} - {session.identifier}", 10),
        Line(""),
    ]
    total = 0
    for op in reversed(portal.store.operations(number)):
        if op.day.startswith(month):
            total += op.amount_cents
            lines.append(
                Line(f"{op.day}   {op.label:<40.40}   {_money(op.amount_cents, lang):>18}")
            )
    lines += [Line(""), Line(f"Total: {_money(total, lang)}", 11, bold=True)]
    body = statement_pdf(lines, title=f"{product.bank_name} {number} {month}")
    return web.Response(
        body=body,
        content_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="statement-{number}-{month}.pdf"'},
    )


# --- guide, logout, static ------------------------------------------------------------------


async def guide(request: web.Request) -> web.StreamResponse:
    """The online user guide (no session needed; with a live one, the page keeps its
    logout button and menu, and the visit counts as activity)."""
    portal = _portal(request)
    session = _session_of(request)
    if session is not None and not is_expired(session, portal.now(), portal.settings.sessions):
        session = _require(request, session.stage)
    else:
        session = None
    return _render(request, "guide.html", session=session)


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (any stage); the page says how to finish (step 12)."""
    portal = _portal(request)
    session = _session_of(request)
    if session is None:
        raise _Redirect("/login", end_session=True)
    form = await _read_form(request)
    _check_csrf(request, session, form)
    portal.store.delete_session(session.id_hash)
    portal.audit(request, "logout", 200, "logged out", identifier=session.identifier)
    raise _Page(200, "logged-out", end_session=True)


async def static(request: web.Request) -> web.StreamResponse:
    """The portal's style sheets, script and logo (from memory: no file system walk)."""
    found = _portal(request).static.get(request.match_info["name"])
    if found is None:
        raise _Page(404, "not-found")
    body, content_type = found
    response = web.Response(body=body, content_type=content_type)
    response.headers["Cache-Control"] = "no-cache"
    return response


def _static_files(project: Project) -> dict[str, tuple[bytes, str]]:
    files = {
        name: ((_HERE / "static" / name).read_bytes(), kind) for name, kind in _STATIC_TYPES.items()
    }
    branding = project.branding
    files["brand.css"] = (
        brand_css(branding.primary_colour, branding.secondary_colour).encode(),
        "text/css",
    )
    logo_type = _LOGO_TYPES.get(branding.logo.suffix.lower(), "application/octet-stream")
    files["logo"] = (branding.logo.read_bytes(), logo_type)
    return files


def install(
    app: web.Application,
    *,
    project: Project,
    registry: Registry,
    settings: PortalSettings,
    clock: Callable[[], float] | None = None,
) -> None:
    """Add the portal's routes and middleware to ``app`` (an EST application: the issuer
    under :data:`esecure.server.est.ISSUER` checks certificates here too)."""
    import time  # noqa: PLC0415 - the default clock only

    if ISSUER not in app:
        raise TypeError("the portal is installed on the EST application (it needs its issuer)")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app[PORTAL] = Portal(
        project=project,
        registry=registry,
        store=PortalStore(registry),
        hasher=CodeHasher(load_pepper(project), settings.cost),
        settings=settings,
        clock=clock or time.time,
        env=env,
        ca=app[ISSUER].certificate,
        static=_static_files(project),
    )
    app.middlewares.append(_portal_middleware)
    routes: list[tuple[str, str, Handler]] = [
        ("GET", "/", root),
        ("GET", "/login", login_get),
        ("POST", "/login", login_post),
        ("GET", "/code", code_get),
        ("POST", "/code", code_post),
        ("GET", "/session-choice", choice_get),
        ("POST", "/session-choice", choice_post),
        ("GET", "/first-login", first_get),
        ("POST", "/first-login", first_post),
        ("GET", "/contact", contact_get),
        ("POST", "/contact", contact_post),
        ("GET", "/registered", registered),
        ("GET", "/area", area),
        ("GET", "/services", services),
        ("GET", "/accounts", accounts),
        ("GET", "/accounts/{number}", operations),
        ("GET", "/transfers", transfers_get),
        ("POST", "/transfers", transfers_post),
        ("GET", "/statements", statements),
        ("GET", "/statements/{number}/{month}.pdf", statement_pdf_view),
        ("GET", "/guide", guide),
        ("POST", "/logout", logout),
        ("GET", "/static/portal/{name}", static),
    ]
    resources: dict[str, web.Resource] = {}
    for method, path, handler in routes:
        if path not in resources:
            slug = re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "root"
            resources[path] = app.router.add_resource(path, name=f"portal.{slug}")
        resources[path].add_route(method, handler)
        if method == "GET":
            resources[path].add_route("HEAD", handler)
