"""The EST client (RFC 7030) of the launcher: first enrolment, renewal, error mapping.

The key pair is made here, on the key; the request carries the identifier (CN) and the
key's serial number (serialNumber, read from the data area's ``identity.json``). TLS trusts
only the CA pinned in the image's ``trust/`` (never the host's store), the proxy is the
key's ``[network] proxy`` (``EstSettings.proxy``: none, one, or the host's), every wait
is bounded, and 503 answers are retried after their Retry-After, a bounded number of
times. The wire's words (paths, media types, the refusal
header and its rules) are :mod:`esecure.est_protocol`'s, shared with the reference server.

Every outcome a user can meet has its own catalogue code (docs/errors.md):

=============================================  =====  ====
what happened                                  code   row
=============================================  =====  ====
server chain not from the pinned CA            ES201  E2
connection reset / cut mid-exchange            ES201  E2
pinned CA file missing or unusable             ES201  E2
serial unknown, blocked or bound elsewhere     ES202  E3
wrong identifier or activation code            ES203  E3
locked out for a while (429, Retry-After)      ES204  E3
code already used                              ES205  E3
code expired                                   ES206  E3
request refused (400, 415)                     ES207  E2
renewal refused (revoked)                      ES208  E3
no serial in the data area                     ES209  E1
damaged key store (or unusable for TLS, no CN) ES210  E1
DNS failure, connection refused, time-out      ES301  E5
other TLS handshake failure (alert, cipher)    ES302  E8
proxy refused the tunnel                       ES303  E5
service busy (503 for ever) / unexpected       ES304  E7
=============================================  =====  ====
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import http.client
import logging
import math
import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from esecure.errors import EnrolmentError, NetworkError
from esecure.est_protocol import (
    BASE64,
    PKCS10_TYPE,
    REFUSAL_HEADER,
    TRANSFER_ENCODING_HEADER,
    Operation,
    Refusal,
    operation_url,
    refusal_rule,
)
from esecure.launcher.identity import read_serial
from esecure.launcher.keystore import Credential, KeyStore, PrivateKey, generate_key
from esecure.trust import spki

__all__ = [
    "REFUSAL_CODES",
    "EstSettings",
    "Outcome",
    "enrol",
    "ensure_certificate",
    "read_serial",
    "renew",
    "renewal_due",
    "retry_delay",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EstSettings:
    """Where and how to enrol; the limits are the product's defaults."""

    base_url: str  # .../.well-known/est/
    ca_file: Path  # the CA pinned in the image's trust/
    key_algorithm: str = "ec-p256"
    renew_before_days: int = 30
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_attempts: int = 3  # for 503 + Retry-After
    max_retry_after: float = 30.0
    proxy: str = "system"
    """"none" (direct), ``http://host:port`` (every request through it) or "system" (the
    host's: urllib's environment / Internet Settings, with their bypass list); from
    :func:`esecure.launcher.diagnostics.proxy.configured_proxy`."""


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes


# --- pure decisions ------------------------------------------------------------------------


def renewal_due(certificate: x509.Certificate, now: dt.datetime, renew_before_days: int) -> bool:
    """True when ``certificate`` ends within ``renew_before_days`` of ``now``."""
    return certificate.not_valid_after_utc - now <= dt.timedelta(days=renew_before_days)


# The catalogue code of each rule the reference server names in its refusal header:
# every rule has one (tests/test_est_protocol.py fails on a rule missing here).
REFUSAL_CODES: Mapping[Refusal, str] = MappingProxyType(
    {
        Refusal.CREDENTIALS: "ES203",
        Refusal.LOCKOUT: "ES204",
        Refusal.CODE_USED: "ES205",
        Refusal.CODE_EXPIRED: "ES206",
        Refusal.CONTENT_TYPE: "ES207",
        Refusal.BODY: "ES207",
        Refusal.CSR_SYNTAX: "ES207",
        Refusal.CSR_KEY: "ES207",
        Refusal.CSR_SIGNATURE: "ES207",
        Refusal.CSR_SUBJECT: "ES207",
        Refusal.BINDING: "ES202",
        Refusal.RENEWAL_AUTH: "ES208",
        Refusal.REVOKED: "ES208",
        Refusal.USER_DISABLED: "ES208",
    }
)


def _refusal_code(status: int, rule: Refusal | None, *, renewal: bool) -> str:
    """The catalogue code of a non-200 EST answer: its rule's when the server is ours,
    else its status's (another EST server names no rule)."""
    code = REFUSAL_CODES.get(rule) if rule is not None else None
    if code is not None:
        return code
    if status == 429:
        return "ES204"
    if renewal and status in (401, 403):
        return "ES208"
    by_status = {401: "ES203", 403: "ES202", 400: "ES207", 413: "ES207", 415: "ES207"}
    return by_status.get(status, "ES304")


def _refusal_error(answer: _Answer, *, renewal: bool) -> Exception:
    """The catalogue error for a non-200 EST answer, with the server's reason."""
    rule = refusal_rule(answer.headers.get(REFUSAL_HEADER.lower()))
    reason = answer.body[:200].decode("utf-8", "replace").strip() or f"HTTP {answer.status}"
    detail = f"the certificate service answered {answer.status}: {reason}"
    if answer.status == 429:
        detail += f" (retry after {answer.headers.get('retry-after', '?')} s)"
    code = _refusal_code(answer.status, rule, renewal=renewal)
    if code.startswith("ES3"):
        return NetworkError(detail, code=code)
    return EnrolmentError(detail, code=code)


_CUT = (
    ConnectionResetError,
    BrokenPipeError,
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


def _transport_code(exc: BaseException) -> tuple[str, str]:
    """(catalogue code, what happened) for a transport failure: E2, E5 or E8."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        # The chain is not the pinned CA's: something intercepts (antivirus, proxy).
        return "ES201", f"the server's certificate is not the bank CA's ({exc.verify_message})"
    if isinstance(exc, _CUT):
        return "ES201", f"the connection was cut mid-way ({type(exc).__name__})"
    if isinstance(exc, ssl.SSLError):
        return "ES302", f"TLS handshake failed ({exc.reason or exc})"
    if isinstance(exc, OSError) and str(exc).startswith("Tunnel connection failed"):
        return "ES303", f"the proxy refused: {exc}"
    if isinstance(exc, socket.gaierror):
        what = f"server not found ({exc.strerror})"
    elif isinstance(exc, TimeoutError):
        what = "time-out exceeded"
    else:
        what = f"cannot connect ({type(exc).__name__}: {exc})"
    return "ES301", what


def _network_error(exc: BaseException, where: str) -> NetworkError:
    """Map a transport failure to E2 / E5 / E8 (see the table above)."""
    code, what = _transport_code(exc)
    return NetworkError(f"{where}: {what}", code=code)


# --- transport -----------------------------------------------------------------------------


def _context(settings: EstSettings, client: tuple[str, bytes] | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname check + CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(settings.ca_file))  # pinned CA only
    except (OSError, ssl.SSLError) as exc:
        raise NetworkError(
            f"the pinned CA {settings.ca_file} is unusable ({_reason(exc)})", code="ES201"
        ) from None
    if client is not None:
        try:
            context.load_cert_chain(client[0], password=client[1])
        except (OSError, ssl.SSLError) as exc:
            raise EnrolmentError(
                f"{client[0]} cannot be loaded for TLS ({_reason(exc)})", code="ES210"
            ) from None
    return context


def _reason(exc: OSError) -> str:
    """An OS error's own words (no errno prefix); an SSL error's in full."""
    if isinstance(exc, ssl.SSLError):
        return str(exc)
    return str(exc.strerror or exc)


def _connection(
    url: str, settings: EstSettings, context: ssl.SSLContext
) -> http.client.HTTPSConnection:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    if settings.proxy == "system":
        proxy = urllib.request.getproxies().get("https")
        if proxy and urllib.request.proxy_bypass(host):
            proxy = None
    else:
        proxy = None if settings.proxy == "none" else settings.proxy
    if proxy:
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        conn = http.client.HTTPSConnection(
            proxy_parts.hostname or "",
            proxy_parts.port or 8080,
            timeout=settings.connect_timeout,
            context=context,
        )
        headers = {}
        if proxy_parts.username:
            token = f"{urllib.parse.unquote(proxy_parts.username)}:" + urllib.parse.unquote(
                proxy_parts.password or ""
            )
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
        conn.set_tunnel(host, port, headers=headers)
        log.debug("EST through proxy %s:%s", proxy_parts.hostname, proxy_parts.port)
        return conn
    return http.client.HTTPSConnection(
        host, port, timeout=settings.connect_timeout, context=context
    )


def _post_once(
    url: str,
    body: bytes,
    headers: dict[str, str],
    settings: EstSettings,
    client: tuple[str, bytes] | None,
) -> _Answer:
    context = _context(settings, client)
    conn = _connection(url, settings, context)
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(settings.read_timeout)
        conn.request("POST", urllib.parse.urlsplit(url).path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read(256 * 1024)
        return _Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    except (OSError, http.client.HTTPException) as exc:
        raise _network_error(exc, urllib.parse.urlsplit(url).netloc) from exc
    finally:
        conn.close()


def retry_delay(value: str, max_wait: float, now: dt.datetime) -> float | None:
    """Seconds to wait for a Retry-After value (delta-seconds or HTTP-date, RFC 9110
    10.2.3), capped at ``max_wait``; None when it is unusable."""
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, min(seconds, max_wait))


def _retry_after(answer: _Answer, settings: EstSettings) -> float | None:
    """Seconds to wait before retrying a 503, None when the server gave no usable value."""
    value = answer.headers.get("retry-after", "")
    return retry_delay(value, settings.max_retry_after, dt.datetime.now(dt.UTC))


def _post(
    url: str,
    *,
    body: bytes,
    headers: dict[str, str],
    settings: EstSettings,
    client: tuple[str, bytes] | None,
    sleep: Callable[[float], None],
) -> _Answer:
    answer = _post_once(url, body, headers, settings, client)
    for _ in range(settings.max_attempts - 1):
        if answer.status != 503:
            break
        wait = _retry_after(answer, settings)
        if wait is None:
            break
        log.info("EST busy (503): retrying in %s s", wait)
        sleep(wait)
        answer = _post_once(url, body, headers, settings, client)
    return answer


# --- enrolment -----------------------------------------------------------------------------


def _csr(key: PrivateKey, identifier: str, serial: str) -> bytes:
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, identifier),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
        ]
    )
    request = (
        x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.DER)


def _issued(
    answer: _Answer, key: PrivateKey, serial: str, ca: x509.Certificate
) -> x509.Certificate:
    """The certificate of a 200 answer, checked: from the pinned CA, for our key and serial."""
    try:
        certificates = pkcs7.load_der_pkcs7_certificates(base64.b64decode(answer.body))
    except (ValueError, binascii.Error) as exc:
        raise NetworkError(
            f"the service's answer is not RFC 7030 PKCS#7 ({exc})", code="ES304"
        ) from None
    ours = spki(key.public_key())
    for cert in certificates:
        if spki(cert.public_key()) != ours:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise NetworkError(
                f"the issued certificate is not the bank CA's ({exc})", code="ES201"
            ) from None
        values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
        if not values or values[0].value != serial:
            raise NetworkError(
                "the issued certificate does not carry the key's serial", code="ES304"
            )
        return cert
    raise NetworkError("the service's answer holds no certificate for the key", code="ES304")


def _load_ca(settings: EstSettings) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(settings.ca_file).read_bytes())
    except (OSError, ValueError) as exc:
        raise NetworkError(
            f"the pinned CA {settings.ca_file} is unusable ({exc})", code="ES201"
        ) from None


def enrol(
    data_area: Path,
    identifier: str,
    activation_code: str,
    settings: EstSettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Credential:
    """First enrolment (simpleenroll): make the key pair, enrol, store; the credential."""
    serial = read_serial(data_area)
    key = generate_key(settings.key_algorithm)
    token = base64.b64encode(f"{identifier}:{activation_code}".encode()).decode()
    headers = {
        "Content-Type": PKCS10_TYPE,
        TRANSFER_ENCODING_HEADER: BASE64,
        "Authorization": f"Basic {token}",
    }
    body = base64.encodebytes(_csr(key, identifier, serial))
    answer = _post(
        operation_url(settings.base_url, Operation.SIMPLEENROLL),
        body=body,
        headers=headers,
        settings=settings,
        client=None,
        sleep=sleep,
    )
    if answer.status != 200:
        raise _refusal_error(answer, renewal=False)
    ca = _load_ca(settings)
    credential = Credential(key, (_issued(answer, key, serial, ca), ca))
    KeyStore(data_area).save(credential)
    log.info("enrolled key %s", serial)
    return credential


def renew(
    data_area: Path, settings: EstSettings, *, sleep: Callable[[float], None] = time.sleep
) -> Credential:
    """Renewal (simplereenroll) with a new key pair, authenticated by the current credential."""
    store = KeyStore(data_area)
    current = store.load()
    if current is None:
        raise EnrolmentError(f"{store.credential_path} is missing: nothing to renew", code="ES210")
    serial = read_serial(data_area)
    names = current.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise EnrolmentError(
            f"{store.credential_path}: the certificate names no identifier (CN)", code="ES210"
        )
    identifier = names[0].value
    key = generate_key(settings.key_algorithm)
    headers = {"Content-Type": PKCS10_TYPE, TRANSFER_ENCODING_HEADER: BASE64}
    body = base64.encodebytes(_csr(key, str(identifier), serial))
    answer = _post(
        operation_url(settings.base_url, Operation.SIMPLEREENROLL),
        body=body,
        headers=headers,
        settings=settings,
        client=store.tls_files(),
        sleep=sleep,
    )
    if answer.status != 200:
        raise _refusal_error(answer, renewal=True)
    ca = _load_ca(settings)
    credential = Credential(key, (_issued(answer, key, serial, ca), ca))
    store.save(credential)
    log.info("renewed the certificate of key %s", serial)
    return credential


@dataclass(frozen=True)
class Outcome:
    """What :func:`ensure_certificate` did."""

    credential: Credential
    action: str  # "kept", "renewed", "enrolled"


def ensure_certificate(
    data_area: Path,
    settings: EstSettings,
    ask_credentials: Callable[[], tuple[str, str]],
    *,
    now: dt.datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """A usable credential: the stored one, renewed when due (asking nothing), or a first
    enrolment with the identifier and activation code from ``ask_credentials``."""
    now = now or dt.datetime.now(dt.UTC)
    current = KeyStore(data_area).load()
    if current is not None and current.certificate.not_valid_after_utc > now:
        if not renewal_due(current.certificate, now, settings.renew_before_days):
            return Outcome(current, "kept")
        return Outcome(renew(data_area, settings, sleep=sleep), "renewed")
    identifier, code = ask_credentials()
    return Outcome(enrol(data_area, identifier, code, settings, sleep=sleep), "enrolled")
