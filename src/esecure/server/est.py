"""The EST service (RFC 7030) as an aiohttp application, and the CRL.

Endpoints under ``/.well-known/est/``: ``cacerts`` (4.1), ``csrattrs`` (4.5),
``simpleenroll`` (4.2.1, HTTP
Basic with the identifier and the activation code), ``simplereenroll`` (4.2.2, TLS client
authentication with the current certificate). ``/crl`` serves the CA's CRL (DER). Paths,
media types and the refusal header are :mod:`esecure.est_protocol`'s, shared with the
launcher's client.

The handlers are thin: the rules live in :mod:`esecure.server.rules`, the registry in
:mod:`esecure.server.registry`, the signing in :mod:`esecure.server.ca`. Bad input is
always a 4xx with a reason; a middleware turns any unexpected exception into a logged 500
that the fuzz test proves unreachable from input.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import logging
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from esecure.est_protocol import (
    BASE64,
    CERTS_ONLY_TYPE,
    CSRATTRS_TYPE,
    REFUSAL_HEADER,
    TRANSFER_ENCODING_HEADER,
    Operation,
    Refusal,
    operation_path,
)
from esecure.server import rules
from esecure.server.ca import Issuer, certs_only
from esecure.server.http import CLIENT_FAULTS, mark_audited
from esecure.server.registry import CertificateRow, Registry
from esecure.server.rules import Refused

__all__ = ["ISSUER", "REGISTRY", "make_app", "peer_certificate"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ISSUER: web.AppKey[Issuer] = web.AppKey("issuer", Issuer)
REGISTRY: web.AppKey[Registry] = web.AppKey("registry", Registry)
TRUSTED_PROXY: web.AppKey[str] = web.AppKey("trusted_proxy", str)
CLIENT_CERT_HEADER = "X-SSL-Client-Cert"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pkcs7_response(certificates: list[x509.Certificate]) -> web.Response:
    body = base64.encodebytes(certs_only(certificates))
    return web.Response(
        body=body,
        headers={"Content-Type": CERTS_ONLY_TYPE, TRANSFER_ENCODING_HEADER: BASE64},
    )


def _refusal(refused: Refused) -> web.Response:
    headers = {REFUSAL_HEADER: refused.rule.value}
    if refused.retry_after is not None:
        headers["Retry-After"] = str(refused.retry_after)
    return web.Response(
        status=refused.status, text=f"{refused.rule}: {refused.reason}\n", headers=headers
    )


@web.middleware
async def _no_500_leaks(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except CLIENT_FAULTS:
        raise  # a client's faults (gone, too slow, bad body): answered outside, not bugs
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return web.Response(status=500, text="internal error\n")


async def cacerts(request: web.Request) -> web.Response:
    """RFC 7030 4.1: the CA certificate, as certs-only PKCS#7."""
    return _pkcs7_response([request.app[ISSUER].certificate])


# RFC 7030 4.5.2: CsrAttrs ::= SEQUENCE OF AttrOrOID — here the two subject attributes
# the request must carry: commonName (2.5.4.3, the identifier) and serialNumber (2.5.4.5,
# the key serial). DER written out: it never changes.
CSR_ATTRS = bytes.fromhex("300a06035504030603550405")


async def csrattrs(_request: web.Request) -> web.Response:
    """RFC 7030 4.5: what the CSR must contain, base64 DER ``application/csrattrs``."""
    return web.Response(
        body=base64.encodebytes(CSR_ATTRS),
        headers={"Content-Type": CSRATTRS_TYPE, TRANSFER_ENCODING_HEADER: BASE64},
    )


async def crl(request: web.Request) -> web.Response:
    """The current CRL of the CA (DER, application/pkix-crl)."""
    registry = request.app[REGISTRY]
    revoked = [
        (int(serial, 16), dt.datetime.fromtimestamp(when, dt.UTC))
        for serial, when, _reason in registry.revoked()
    ]
    der = request.app[ISSUER].crl(revoked, _now()).public_bytes(serialization.Encoding.DER)
    return web.Response(body=der, headers={"Content-Type": "application/pkix-crl"})


@dataclass(frozen=True)
class _Subject:
    identifier: str
    key_serial: str


def _issue(
    request: web.Request,
    csr: x509.CertificateSigningRequest,
    subject: _Subject,
    code_id: int | None,
    endpoint: str,
) -> web.Response:
    registry, issuer = request.app[REGISTRY], request.app[ISSUER]
    identifier, key_serial = subject.identifier, subject.key_serial
    now = _now()
    cert = issuer.issue(csr, identifier=identifier, key_serial=key_serial, now=now)
    with registry.transaction():
        if code_id is not None and not registry.consume_code(code_id, now.timestamp()):
            # Two requests raced with one code: single use wins.
            raise Refused(401, Refusal.CODE_USED, "this activation code was already used")
        registry.add_certificate(
            CertificateRow(
                serial_number=format(cert.serial_number, "x"),
                identifier=identifier,
                key_serial=key_serial,
                subject=cert.subject.rfc4514_string(),
                not_after=cert.not_valid_after_utc.timestamp(),
                revoked=None,
            ),
            now.timestamp(),
        )
        registry.audit(
            endpoint,
            200,
            "issued",
            identifier=identifier,
            key_serial=key_serial,
            peer=request.remote,
        )
    log.info("issued %x to %s for key %s", cert.serial_number, identifier, key_serial)
    return _pkcs7_response([cert])


@dataclass
class _Seen:
    """What a request revealed before it was refused (for the audit log)."""

    identifier: str | None = None
    key_serial: str | None = None


def _authenticate(registry: Registry, header: str | None, seen: _Seen) -> tuple[str, int | None]:
    """Rule 1, credentials: (identifier, activation code id) or a 401 / 429 refusal."""
    identifier, code = rules.parse_basic_auth(header)
    seen.identifier = identifier
    check = registry.check_code(identifier, code, time.time())
    if check.outcome == "locked":
        raise Refused(429, Refusal.LOCKOUT, "too many wrong codes; wait", check.retry_after)
    if check.outcome == "used":
        raise Refused(401, Refusal.CODE_USED, "this activation code was already used")
    if check.outcome == "expired":
        raise Refused(401, Refusal.CODE_EXPIRED, "this activation code has expired")
    if check.outcome != "ok":
        raise Refused(401, Refusal.CREDENTIALS, "wrong identifier or activation code")
    return identifier, check.code_id


async def _simpleenroll(request: web.Request, seen: _Seen) -> web.Response:
    registry = request.app[REGISTRY]
    # 1. credentials: nothing else is looked at before they pass.
    identifier, code_id = _authenticate(registry, request.headers.get("Authorization"), seen)
    # 2. the body, 3. the CSR.
    body = await request.read()
    der = rules.decode_body(request.headers.get("Content-Type", ""), body)
    csr, key_serial = rules.check_csr(der, identifier)
    seen.key_serial = key_serial
    # 4. the binding of the key serial to the identifier.
    rules.check_binding(registry.key(key_serial), identifier)
    return _issue(
        request, csr, _Subject(identifier, key_serial), code_id, Operation.SIMPLEENROLL.value
    )


async def simpleenroll(request: web.Request) -> web.Response:
    """RFC 7030 4.2.1: first enrolment, authenticated by identifier + activation code."""
    seen = _Seen()
    try:
        return await _simpleenroll(request, seen)
    except Refused as refused:
        _audit_refusal(request, Operation.SIMPLEENROLL.value, refused, seen)
        response = _refusal(refused)
        if refused.status == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="estrealm"'
        return response


def peer_certificate(request: web.Request) -> x509.Certificate | None:
    """The client certificate verified by TLS, or forwarded by the trusted proxy."""
    proxy = request.app.get(TRUSTED_PROXY)
    forwarded = request.headers.get(CLIENT_CERT_HEADER)
    if proxy and forwarded is not None and request.remote == proxy:
        # nginx: proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert; (verified there)
        try:
            cert = x509.load_pem_x509_certificate(urllib.parse.unquote(forwarded).encode())
            cert.verify_directly_issued_by(request.app[ISSUER].certificate)
        except (ValueError, TypeError, InvalidSignature):
            return None
        # The proxy verified it; its dates are checked again in case the proxy is misconfigured.
        now = dt.datetime.now(dt.UTC)
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return None
        return cert
    ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
    if not isinstance(ssl_object, ssl.SSLObject):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der) if der else None


async def _simplereenroll(request: web.Request, seen: _Seen) -> web.Response:
    registry = request.app[REGISTRY]
    current = peer_certificate(request)
    if current is None:
        raise Refused(401, Refusal.RENEWAL_AUTH, "a TLS client certificate is required")
    row = registry.certificate(format(current.serial_number, "x"))
    if row is None:
        raise Refused(401, Refusal.RENEWAL_AUTH, "the client certificate was not issued here")
    seen.identifier, seen.key_serial = row.identifier, row.key_serial
    if row.revoked is not None:
        raise Refused(403, Refusal.REVOKED, "the client certificate is revoked")
    user = registry.user(row.identifier)
    if user is None or user.state != "active":
        # A disabled customer keeps no way to extend their access, renewal included.
        raise Refused(403, Refusal.USER_DISABLED, "the customer of this certificate is disabled")
    body = await request.read()
    der = rules.decode_body(request.headers.get("Content-Type", ""), body)
    csr, csr_serial = rules.check_csr(der, row.identifier)
    if csr_serial != row.key_serial:
        # 4.2.2: the subject must be the one of the current certificate.
        raise Refused(400, Refusal.CSR_SUBJECT, "the subject differs from the current certificate")
    rules.check_binding(registry.key(row.key_serial), row.identifier)
    return _issue(
        request, csr, _Subject(row.identifier, row.key_serial), None, Operation.SIMPLEREENROLL.value
    )


async def simplereenroll(request: web.Request) -> web.Response:
    """RFC 7030 4.2.2: renewal, authenticated by the current certificate (TLS)."""
    seen = _Seen()
    try:
        return await _simplereenroll(request, seen)
    except Refused as refused:
        _audit_refusal(request, Operation.SIMPLEREENROLL.value, refused, seen)
        return _refusal(refused)


def _audit_refusal(request: web.Request, endpoint: str, refused: Refused, seen: _Seen) -> None:
    mark_audited(request)
    request.app[REGISTRY].audit(
        endpoint,
        refused.status,
        f"{refused.rule}: {refused.reason}",
        identifier=seen.identifier,
        key_serial=seen.key_serial,
        peer=request.remote,
    )


def make_app(
    issuer: Issuer,
    registry: Registry,
    *,
    trusted_proxy: str | None = None,
    middlewares: Iterable[Callable[..., Awaitable[web.StreamResponse]]] = (),
    outer: Iterable[Callable[..., Awaitable[web.StreamResponse]]] = (),
) -> web.Application:
    """The EST application over ``issuer`` and ``registry``; ``outer`` middlewares wrap
    everything (the HTTP layer's), ``middlewares`` sit inside the 500 guard."""
    app = web.Application(
        middlewares=[*outer, _no_500_leaks, *middlewares], client_max_size=rules.MAX_BODY + 1
    )
    app[ISSUER] = issuer
    app[REGISTRY] = registry
    if trusted_proxy:
        app[TRUSTED_PROXY] = str(ipaddress.ip_address(trusted_proxy))
    app.router.add_get(operation_path(Operation.CACERTS), cacerts)
    app.router.add_get(operation_path(Operation.CSRATTRS), csrattrs)
    app.router.add_post(operation_path(Operation.SIMPLEENROLL), simpleenroll)
    app.router.add_post(operation_path(Operation.SIMPLEREENROLL), simplereenroll)
    app.router.add_get("/crl", crl)
    app.on_cleanup.append(_close_registry)
    return app


async def _close_registry(app: web.Application) -> None:
    app[REGISTRY].close()
