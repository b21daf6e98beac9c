"""Fixtures of the server tests: a demo project with a running EST server and a customer,
and the registry's two backends (SQLite, and PostgreSQL on a throwaway cluster)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from esecure.server.registry import Registry
from tests.server.est_support import Customer, ServerThread, add_customer
from tests.server.pg_fixtures import PostgresCluster

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster for the whole session (fails, never skips, if it
    cannot start)."""
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def backend_url(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A fresh, empty registry URL on ``backend``."""
    if backend == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
        return cluster.new_database()
    return f"sqlite:///{tmp_path / 'r.db'}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh registry URL, once per backend."""
    return backend_url(request, request.param, tmp_path)


@pytest.fixture
def open_registry(db_url: str) -> Iterator[Callable[[], Registry]]:
    """Opens connections to the test's registry; all closed at the end of the test."""
    opened: list[Registry] = []

    def open_() -> Registry:
        opened.append(Registry.open(db_url))
        return opened[-1]

    yield open_
    for registry in opened:
        registry.close()


@pytest.fixture
def est_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """The EST server's registry: the project's SQLite default (None) unless a module asks
    for both backends with ``pytest.mark.parametrize("est_db_url", BACKENDS, indirect=True)``."""
    backend = getattr(request, "param", "sqlite")
    return None if backend == "sqlite" else backend_url(request, backend, tmp_path)


@pytest.fixture
def est_server(demo_project: Path, est_db_url: str | None) -> Iterator[ServerThread]:
    """The reference server of a fresh demo project, on 127.0.0.1 (any port)."""
    with ServerThread(demo_project, db_url=est_db_url) as server:
        yield server


@pytest.fixture
def customer(est_server: ServerThread) -> Customer:
    """alice, holding key KEY-0001 and a fresh activation code."""
    return add_customer(est_server.db_url)
