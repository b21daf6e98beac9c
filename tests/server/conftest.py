"""Fixtures of the server tests: a demo project with a running EST server and a customer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.est_support import Customer, ServerThread, add_customer


@pytest.fixture
def est_server(demo_project: Path) -> Iterator[ServerThread]:
    """The reference server of a fresh demo project, on 127.0.0.1 (any port)."""
    with ServerThread(demo_project) as server:
        yield server


@pytest.fixture
def customer(est_server: ServerThread) -> Customer:
    """alice, holding key KEY-0001 and a fresh activation code."""
    return add_customer(est_server.db_url)
