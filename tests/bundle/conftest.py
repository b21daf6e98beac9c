"""The bundle tests' helpers; the session's demo image and its extraction are
tests/conftest.py's fixtures (the launcher's end-to-end test uses them too)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A temporary directory removed after the test (image builds are large)."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture
def flipped(extracted: Path):
    """Flip one byte of a file of the extracted image; restored afterwards."""
    saved: list[tuple[Path, bytes]] = []

    def flip(rel: str, offset: int = 10) -> None:
        path = extracted / rel
        data = path.read_bytes()
        saved.append((path, data))
        path.chmod(0o644)
        path.write_bytes(data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :])

    yield flip
    for path, data in saved:
        path.write_bytes(data)
