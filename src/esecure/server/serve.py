"""Running the reference server: TLS context, listening socket, clean shutdown.

HTTPS with the project's server TLS pair; client certificates are optional at the TLS
level (so ``simpleenroll`` works without one) and, when sent, verified against the
project's CA (so ``simplereenroll`` sees only verified certificates).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from esecure.config import Project
from esecure.errors import OperationError
from esecure.server.ca import Issuer
from esecure.server.est import make_app
from esecure.server.registry import Registry
from esecure.trust import Passphrase

__all__ = ["Running", "default_db_url", "serve_forever", "server_context", "start"]

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
) -> Running:
    """Start serving ``project`` on ``host:port`` (0: any free port)."""
    issuer = Issuer.from_project(project, passphrase)
    context = server_context(project, passphrase)
    registry = Registry.open(db_url or default_db_url(project))
    if app_factory is not None:
        app = app_factory(issuer, registry)
    else:
        app = make_app(issuer, registry, trusted_proxy=trusted_proxy)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=context, backlog=512)
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


def serve_forever(
    project: Project,
    *,
    host: str,
    port: int,
    db_url: str | None,
    passphrase: Callable[[], Passphrase] | None,
    trusted_proxy: str | None,
    announce: Callable[[str], None],
) -> None:
    """Serve until SIGINT or SIGTERM, then close cleanly."""

    async def main() -> None:
        running = await start(
            project,
            host=host,
            port=port,
            db_url=db_url,
            passphrase=passphrase,
            trusted_proxy=trusted_proxy,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
                loop.add_signal_handler(sig, stop.set)
        announce(running.url)
        try:
            await stop.wait()
        finally:
            await running.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
