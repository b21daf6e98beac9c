"""Network probes (I/O only): name lookup, TCP, TLS and the server's clock, each bounded.

One :func:`probe` per server (host and port) gathers facts; :mod:`.verdicts` turns them
into rows. Through a proxy the probe looks up and connects to the proxy and opens an HTTP
CONNECT tunnel, as the key's clients do; the TLS facts are then those of the far end as
seen through the proxy — which is where an intercepting proxy shows itself.

TLS is looked at three ways, each one handshake: without verification (the certificate
presented and one HEAD request for the HTTP ``Date``), against the CA pinned on the key
(what enrolment accepts), and, when asked, against this computer's store (what the
update fetcher accepts). Python 3.11 hands out only the leaf certificate, so the chain's
validity is OpenSSL's verdict in the two verifying handshakes.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from esecure.launcher.diagnostics.model import Limits
from esecure.launcher.diagnostics.proxy import Proxy

__all__ = ["Connect", "Handshake", "Lookup", "Probe", "Verification", "probe"]

MAX_HEAD = 16 * 1024  # bytes of response head read for the Date header


@dataclass(frozen=True)
class Lookup:
    """A name lookup: the addresses found, or why none."""

    name: str
    addresses: tuple[str, ...]
    error: str | None
    literal: bool  # the name is an IP address: nothing was looked up
    seconds: float


@dataclass(frozen=True)
class Connect:
    """A TCP connection (and, through a proxy, its CONNECT tunnel)."""

    address: str
    error: str | None  # None: connected
    kind: str  # "ok", "refused", "timeout", "unreachable", "proxy-refused"
    seconds: float
    answered: str | None = None  # the address that answered (the next handshakes use it)


@dataclass(frozen=True)
class Verification:
    """One verifying handshake: did the chain verify, else OpenSSL's code and words."""

    ok: bool
    code: int | None = None
    message: str = ""


@dataclass(frozen=True)
class Handshake:
    """What TLS showed: the certificate presented (DER), the verdicts, the server's Date."""

    leaf: bytes | None
    error: str | None  # the handshake itself failed (alert, not TLS, time-out)
    pinned: Verification | None = None
    system: Verification | None = None
    server_date: str | None = None
    local_time: dt.datetime | None = None  # when the Date header was read


@dataclass(frozen=True)
class Probe:
    """Everything learnt about one server; later steps are None when an earlier one failed."""

    host: str
    port: int
    proxy: Proxy | None
    lookup: Lookup
    connect: Connect | None = None
    tls: Handshake | None = None


def _lookup(name: str, port: int, timeout: float) -> Lookup:
    """getaddrinfo in a daemon thread (it has no time-out of its own)."""
    start = time.monotonic()
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in name else socket.AF_INET, name)
    except OSError:
        pass
    else:
        return Lookup(name, (name,), None, literal=True, seconds=0.0)
    box: list[tuple[tuple[str, ...], str | None]] = []

    def run() -> None:
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
            found = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
            box.append((found, None))
        except (OSError, UnicodeError) as exc:
            box.append(((), getattr(exc, "strerror", None) or str(exc)))

    worker = threading.Thread(target=run, name=f"dns {name}", daemon=True)
    worker.start()
    worker.join(timeout)
    seconds = time.monotonic() - start
    if not box:
        return Lookup(name, (), f"no answer within {timeout:g} s", literal=False, seconds=seconds)
    addresses, error = box[0]
    return Lookup(name, addresses, error, literal=False, seconds=seconds)


def _kind(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "unreachable"


MAX_ADDRESSES = 3  # tried per connection: a name with many dead addresses stays bounded


def _tcp(addresses: tuple[str, ...], port: int, timeout: float) -> tuple[socket.socket, str]:
    """A socket connected to the first address that answers (each tried once)."""
    last: OSError = OSError("no address")
    for address in addresses[:MAX_ADDRESSES]:
        try:
            return socket.create_connection((address, port), timeout=timeout), address
        except OSError as exc:
            last = exc
    raise last


class _ProxyRefusedError(OSError):
    """The proxy answered CONNECT with something other than 2xx."""


def _tunnel(sock: socket.socket, host: str, port: int, proxy: Proxy) -> None:
    """HTTP CONNECT through ``proxy`` on ``sock`` (RFC 9110 9.3.6)."""
    import base64  # noqa: PLC0415

    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.username:
        token = f"{proxy.username}:{proxy.password or ''}".encode()
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(token).decode()}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = _read_head(sock)
    status = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = status.split(" ", 2)
    if len(parts) < 2 or not parts[1].startswith("2"):
        raise _ProxyRefusedError(f"the proxy answered {status or 'nothing'!r}")


def _read_head(sock: socket.socket) -> bytes:
    """An HTTP response head (bounded in size)."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < MAX_HEAD:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class _Route:
    """How to reach one server: the addresses to dial (the proxy's, through a proxy)."""

    def __init__(
        self, host: str, port: int, proxy: Proxy | None, addresses: tuple[str, ...]
    ) -> None:
        self.host, self.port, self.proxy, self.addresses = host, port, proxy, addresses

    def open(self, timeout: float) -> tuple[socket.socket, str]:
        """A connected socket to the server (tunnelled through the proxy when there is one)."""
        port = self.proxy.port if self.proxy is not None else self.port
        sock, address = _tcp(self.addresses, port, timeout)
        try:
            sock.settimeout(timeout)
            if self.proxy is not None:
                _tunnel(sock, self.host, self.port, self.proxy)
        except BaseException:
            sock.close()
            raise
        return sock, address


def _connect(route: _Route, limits: Limits) -> Connect:
    """Connect once; ``Connect.address`` starts with the address that answered."""
    start = time.monotonic()
    port = route.proxy.port if route.proxy is not None else route.port
    try:
        sock, address = route.open(limits.connect_timeout)
    except _ProxyRefusedError as exc:
        return Connect("", str(exc), "proxy-refused", time.monotonic() - start)
    except OSError as exc:
        where = ", ".join(route.addresses)
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Connect(f"{where} port {port}", why, _kind(exc), time.monotonic() - start)
    sock.close()
    return Connect(f"{address} port {port}", None, "ok", time.monotonic() - start, address)


def _unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # looking at what is presented: no trust
    return context


def _look(route: _Route, path: str, limits: Limits) -> Handshake:
    """The unverified handshake: the leaf presented and the Date of a HEAD answer."""
    try:
        sock, _ = route.open(limits.tls_timeout)
    except OSError as exc:
        return Handshake(None, f"cannot connect again ({exc})")
    try:
        with _unverified().wrap_socket(sock, server_hostname=route.host) as tls:
            leaf = tls.getpeercert(binary_form=True)
            request = (
                f"HEAD {path} HTTP/1.1\r\nHost: {route.host}\r\n"
                "User-Agent: e-secure-diagnostics\r\nConnection: close\r\n\r\n"
            )
            try:
                tls.sendall(request.encode())
                head = _read_head(tls)
            except OSError:
                head = b""
            local = dt.datetime.now(dt.UTC)
    except (OSError, ssl.SSLError) as exc:
        return Handshake(None, _ssl_reason(exc))
    finally:
        sock.close()
    date = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"date":
            date = value.strip().decode("latin-1", "replace")
    return Handshake(leaf, None, server_date=date, local_time=local)


def _ssl_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(getattr(exc, "strerror", None) or exc or type(exc).__name__)


def _verify(route: _Route, context: ssl.SSLContext, limits: Limits) -> Verification:
    try:
        sock, _ = route.open(limits.tls_timeout)
    except OSError as exc:
        return Verification(ok=False, message=f"cannot connect again ({exc})")
    try:
        with context.wrap_socket(sock, server_hostname=route.host):
            return Verification(ok=True)
    except ssl.SSLCertVerificationError as exc:
        return Verification(ok=False, code=exc.verify_code, message=str(exc.verify_message))
    except (OSError, ssl.SSLError) as exc:
        return Verification(ok=False, message=_ssl_reason(exc))
    finally:
        sock.close()


def _pinned_context(ca_file: Path) -> ssl.SSLContext | str:
    """The context enrolment uses (the pinned CA only), or why it cannot be made."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        return f"the key's CA {ca_file} is unusable ({_ssl_reason(exc)})"
    return context


def probe(
    host: str,
    port: int,
    path: str,
    *,
    proxy: Proxy | None,
    ca_file: Path,
    limits: Limits,
    system: bool,
) -> Probe:
    """Look up, connect, then look at TLS; ``system``: also verify against this computer's
    store when the pinned CA does not verify the chain."""
    via = proxy if proxy is not None and proxy.applies_to(host) else None
    lookup = _lookup(via.host if via else host, via.port if via else port, limits.dns_timeout)
    if lookup.error is not None:
        return Probe(host, port, via, lookup)
    connect = _connect(_Route(host, port, via, lookup.addresses), limits)
    if connect.error is not None or connect.answered is None:
        return Probe(host, port, via, lookup, connect)
    route = _Route(host, port, via, (connect.answered,))
    look = _look(route, path, limits)
    if look.error is not None:
        return Probe(host, port, via, lookup, connect, look)
    context = _pinned_context(ca_file)
    pinned = (
        Verification(ok=False, message=context)
        if isinstance(context, str)
        else _verify(route, context, limits)
    )
    by_system = None
    if system and not pinned.ok:
        by_system = _verify(route, ssl.create_default_context(), limits)
    tls = Handshake(look.leaf, None, pinned, by_system, look.server_date, look.local_time)
    return Probe(host, port, via, lookup, connect, tls)
