"""Running the reference server: TLS context, listening socket, clean shutdown.

HTTPS with the project's server TLS pair; client certificates are optional at the TLS
level (so ``simpleenroll`` works without one) and, when sent, verified against the
project's CA (so ``simplereenroll`` sees only verified certificates). Connections go
through the HTTP layer's guard (:mod:`esecure.server.http.guard`): handshake, header,
body, send and idle timeouts and a connection cap sized below the open-files limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import queue
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path

from aiohttp import web

from esecure.config import Project
from esecure.errors import OperationError
from esecure.est_protocol import EST_PATH
from esecure.server.app import build_app, registry_audit, updates_path
from esecure.server.ca import Issuer
from esecure.server.http import (
    AUDIT,
    Guard,
    Limits,
    LogBudget,
    connection_budget,
    harden_tls,
    raise_open_files_limit,
)
from esecure.server.http.logs import install as install_log_hygiene
from esecure.server.http.logs import loop_exception_handler
from esecure.server.registry import Registry
from esecure.trust import Passphrase

__all__ = [
    "Running",
    "ServeOptions",
    "default_db_url",
    "serve_forever",
    "server_context",
    "start",
]

log = logging.getLogger(__name__)


def default_db_url(project: Project) -> str:
    """The registry of a project: ``server/registry.db`` beside its TLS pair."""
    return f"sqlite:///{project.root / 'server' / 'registry.db'}"


def server_context(project: Project, passphrase: Callable[[], Passphrase] | None) -> ssl.SSLContext:
    """The server's TLS context: its pair, TLS 1.2+ with AEAD suites only
    (:mod:`esecure.server.http.tls`), optional client certificates from the CA."""
    cert, key = project.trust.server_certificate, project.trust.server_key
    if cert is None or key is None:
        raise OperationError(
            f"{project.config_path}: [trust] server_certificate and server_key are needed "
            "to serve HTTPS",
            code="ES934",
        )
    context = harden_tls(ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    password = None
    if b"ENCRYPTED" in key.read_bytes():
        if passphrase is None:
            raise OperationError(f"{key} is encrypted and no passphrase was given", code="ES903")
        secret = passphrase().value
        password = secret
    try:
        context.load_cert_chain(cert, key, password=password)
    except ssl.SSLError as exc:
        raise OperationError(f"cannot load {cert} / {key}: {exc}", code="ES904") from None
    context.load_verify_locations(cafile=project.trust.ca_certificate)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


@dataclass
class Running:
    """A started server: its URLs, what clients must trust, and how to stop it."""

    url: str
    runner: web.AppRunner
    guard: Guard
    updates_path: str = "/updates/"
    ca_file: Path | None = None

    @property
    def est_url(self) -> str:
        """The EST base URL (RFC 7030 3.2.2)."""
        return f"{self.url.rstrip('/')}{EST_PATH}/"

    @property
    def updates_url(self) -> str:
        """Where the update repository is served."""
        return f"{self.url.rstrip('/')}{self.updates_path}"

    @property
    def max_connections(self) -> int:
        """The connection cap in force (sized below the open-files limit)."""
        return self.guard.limits.max_connections

    async def stop(self) -> None:
        """Stop accepting, close the connections and the registry."""
        self.guard.stop_accepting()
        try:
            await self.runner.cleanup()
        finally:
            self.guard.abort_remaining()


def _listen_error(host: str, port: int, exc: OSError) -> OperationError:
    """ES936 saying why ``host:port`` cannot be listened on."""
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        detail = (
            f"{where} is already in use by another program (another `esecure serve`?); "
            f"see `ss -ltnp 'sport = :{port}'`"
        )
    elif exc.errno == errno.EACCES:
        detail = f"{where}: listening on a port below 1024 needs privileges"
    elif exc.errno == errno.EADDRNOTAVAIL:
        detail = f"{where}: {host} is not an address of this machine"
    elif isinstance(exc, socket.gaierror):
        detail = f"{where}: {host} cannot be resolved"
    else:
        detail = f"cannot listen on {where}: {exc.strerror or type(exc).__name__}"
    return OperationError(detail, code="ES936")


def _fit(limits: Limits) -> Limits:
    """``limits`` with a connection cap that fits the open-files limit (raised first)."""
    open_files = raise_open_files_limit()
    cap = connection_budget(limits.max_connections, open_files)
    if cap < limits.max_connections:
        log.warning(
            "open files limited to %s: serving at most %d connections (not %d)",
            open_files,
            cap,
            limits.max_connections,
        )
        return replace(limits, max_connections=cap)
    return limits


async def start(
    project: Project,
    *,
    host: str = "127.0.0.1",
    port: int = 8443,
    db_url: str | None = None,
    passphrase: Callable[[], Passphrase] | None = None,
    trusted_proxy: str | None = None,
    app_factory: Callable[[Issuer, Registry], web.Application] | None = None,
    reuse_port: bool = False,
    limits: Limits | None = None,
    tracebacks: bool = False,
) -> Running:
    """Start serving ``project`` on ``host:port`` (0: any free port)."""
    limits = _fit(limits or Limits())
    issuer = Issuer.from_project(project, passphrase)
    context = server_context(project, passphrase)
    registry = Registry.open(db_url or default_db_url(project))
    if app_factory is not None:
        app = app_factory(issuer, registry)
    else:
        app = build_app(project, issuer, registry, trusted_proxy=trusted_proxy, limits=limits)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    assert runner.server is not None  # noqa: S101 - set by setup()
    audit = app.get(AUDIT) or registry_audit(registry)
    guard = Guard(runner.server, context, limits, audit=audit, tracebacks=tracebacks)
    try:
        bound = await guard.listen(host, port, backlog=512, reuse_port=reuse_port)
    except OSError as exc:
        await runner.cleanup()
        raise _listen_error(host, port, exc) from None
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return Running(
        url=f"https://{shown}:{bound[1]}/",
        runner=runner,
        guard=guard,
        updates_path=updates_path(project),
        ca_file=project.trust.ca_certificate,
    )


@dataclass(frozen=True)
class ServeOptions:
    """What `esecure serve` was asked for."""

    host: str = "127.0.0.1"
    port: int = 8443
    db_url: str | None = None
    trusted_proxy: str | None = None
    workers: int = 1
    limits: Limits = field(default_factory=Limits)
    verbose: bool = False


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _worker(
    root: str,
    options: ServeOptions,
    secret: bytes | None,
    ready: multiprocessing.queues.Queue[str],
) -> None:
    """A further worker process on the same port (SO_REUSEPORT), same registry."""
    from esecure.config import load_project  # noqa: PLC0415

    # A spawned process starts without the command line's logging: the same here.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_hygiene(verbose=options.verbose)

    given = Passphrase(secret, "the serving process") if secret is not None else None

    async def main() -> None:
        try:
            running = await start(
                load_project(Path(root)),
                host=options.host,
                port=options.port,
                db_url=options.db_url,
                passphrase=(lambda: given) if given else None,
                trusted_proxy=options.trusted_proxy,
                reuse_port=True,
                limits=options.limits,
                tracebacks=options.verbose,
            )
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails
            ready.put(f"{type(exc).__name__}: {exc}")
            return
        ready.put("ok")
        try:
            await _until_signalled()
        finally:
            await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_quietly(main(), options.verbose))


async def _quietly(main: Coroutine[object, object, None], verbose: bool) -> None:
    """Run ``main`` with the loop's own errors (e.g. a failed accept) on one budgeted
    line each, without a traceback unless ``verbose``."""
    asyncio.get_running_loop().set_exception_handler(
        loop_exception_handler(LogBudget(logging.getLogger("esecure.server.http")), verbose)
    )
    await main


def serve_forever(
    project: Project,
    options: ServeOptions,
    *,
    passphrase: Callable[[], Passphrase] | None,
    announce: Callable[[Running], None],
) -> None:
    """Serve until SIGINT or SIGTERM with ``options.workers`` processes, then close cleanly."""
    got: list[Passphrase] = []

    def recorded() -> Passphrase:
        assert passphrase is not None  # noqa: S101 - only called when one was given
        value = passphrase()
        got.append(value)
        return value

    async def main() -> None:
        running = await start(
            project,
            host=options.host,
            port=options.port,
            db_url=options.db_url,
            passphrase=recorded if passphrase else None,
            trusted_proxy=options.trusted_proxy,
            reuse_port=options.workers > 1,
            limits=options.limits,
            tracebacks=options.verbose,
        )
        children: list[multiprocessing.process.BaseProcess] = []
        try:
            port = int(running.url.rsplit(":", 1)[1].strip("/"))
            children = _spawn(project, options, port, got[0].value if got else None)
            announce(running)
            await _until_signalled()
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.join(timeout=20)
            await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_quietly(main(), options.verbose))


def _spawn(
    project: Project, options: ServeOptions, port: int, secret: bytes | None
) -> list[multiprocessing.process.BaseProcess]:
    """Start the further workers and wait until each listens (or fail, stopping them)."""
    if options.workers <= 1:
        return []
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.queues.Queue[str] = context.Queue()
    child_options = replace(options, port=port, workers=1)
    children: list[multiprocessing.process.BaseProcess] = [
        context.Process(
            target=_worker, args=(str(project.root), child_options, secret, ready), daemon=True
        )
        for _ in range(options.workers - 1)
    ]
    for child in children:
        child.start()
    for _ in children:
        try:
            status = ready.get(timeout=60)
        except queue.Empty:
            status = "did not start within 60 s"
        if status != "ok":
            for child in children:
                child.terminate()
            raise OperationError(f"a server worker failed: {status}", code="ES934")
    return children
