"""The application `esecure serve` runs, put together in one place: the EST service, the
update repository and the HTTP layer's hardening middleware (outermost, so that it sees
every answer)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from esecure.config import Project
from esecure.server import portal, repository
from esecure.server.ca import Issuer
from esecure.server.est import make_app
from esecure.server.http import AUDIT, LIMITS, Audit, Limits, common_headers, harden
from esecure.server.registry import Registry

__all__ = ["build_app", "registry_audit", "repository_root", "updates_path"]


def registry_audit(registry: Registry) -> Audit:
    """The HTTP layer's refusals go to the registry's audit trail."""

    def audit(endpoint: str, status: int, outcome: str, peer: str | None) -> None:
        registry.audit(endpoint, status, outcome, peer=peer)

    return audit


def repository_root(project: Project) -> Path:
    """Where `esecure publish` writes the repository (``updater.publish.repository_dir``)."""
    return project.root / "repository"


def updates_path(project: Project) -> str:
    """The URL path the repository is served under: that of ``[urls] updates``."""
    return repository.updates_prefix(urlsplit(project.urls.updates).path)


def build_app(
    project: Project,
    issuer: Issuer,
    registry: Registry,
    *,
    trusted_proxy: str | None = None,
    limits: Limits | None = None,
) -> web.Application:
    """EST + repository + the portal behind the hardening middleware."""
    app = make_app(issuer, registry, trusted_proxy=trusted_proxy, outer=[harden])
    app[LIMITS] = limits or Limits()
    app[AUDIT] = registry_audit(registry)
    app.on_response_prepare.append(common_headers)
    repository.install(app, repository_root(project), updates_path(project))
    portal.install(app, project=project, registry=registry)  # behind the same middleware
    return app
