"""Running the reference server: TLS context, listening socket, clean shutdown.

HTTPS with the project's server TLS pair; client certificates are optional at the TLS
level (so ``simpleenroll`` works without one) and, when sent, verified against the
project's CA (so ``simplereenroll`` sees only verified certificates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import queue
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from esecure.config import Project
from esecure.errors import OperationError
from esecure.server import portal
from esecure.server.ca import Issuer
from esecure.server.est import make_app
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
    """The server's TLS context: its pair, TLS 1.2+, optional client certs from the CA."""
    cert, key = project.trust.server_certificate, project.trust.server_key
    if cert is None or key is None:
        raise OperationError(
            f"{project.config_path}: [trust] server_certificate and server_key are needed "
            "to serve HTTPS",
            code="ES934",
        )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
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
    """A started server: its URL and how to stop it."""

    url: str
    runner: web.AppRunner

    async def stop(self) -> None:
        """Close the listening socket and the registry."""
        await self.runner.cleanup()


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
) -> Running:
    """Start serving ``project`` on ``host:port`` (0: any free port)."""
    issuer = Issuer.from_project(project, passphrase)
    context = server_context(project, passphrase)
    registry = Registry.open(db_url or default_db_url(project))
    if app_factory is not None:
        app = app_factory(issuer, registry)
    else:
        app = make_app(issuer, registry, trusted_proxy=trusted_proxy)
        portal.install(app, project=project, registry=registry)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(
        runner, host, port, ssl_context=context, backlog=512, reuse_port=reuse_port or None
    )
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise OperationError(
            f"cannot listen on {host}:{port}: {exc.strerror}", code="ES934"
        ) from None
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return Running(url=f"https://{shown}:{bound[1]}/", runner=runner)


@dataclass(frozen=True)
class ServeOptions:
    """What `esecure serve` was asked for."""

    host: str = "127.0.0.1"
    port: int = 8443
    db_url: str | None = None
    trusted_proxy: str | None = None
    workers: int = 1


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
        asyncio.run(main())


def serve_forever(
    project: Project,
    options: ServeOptions,
    *,
    passphrase: Callable[[], Passphrase] | None,
    announce: Callable[[str], None],
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
        )
        children: list[multiprocessing.process.BaseProcess] = []
        try:
            port = int(running.url.rsplit(":", 1)[1].strip("/"))
            children = _spawn(project, options, port, got[0].value if got else None)
            announce(running.url)
            await _until_signalled()
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.join(timeout=20)
            await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def _spawn(
    project: Project, options: ServeOptions, port: int, secret: bytes | None
) -> list[multiprocessing.process.BaseProcess]:
    """Start the further workers and wait until each listens (or fail, stopping them)."""
    if options.workers <= 1:
        return []
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.queues.Queue[str] = context.Queue()
    child_options = ServeOptions(
        host=options.host,
        port=port,
        db_url=options.db_url,
        trusted_proxy=options.trusted_proxy,
    )
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
