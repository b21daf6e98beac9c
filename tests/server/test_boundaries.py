"""The server's room: it never imports the launcher (ARCHITECTURE: one clear room each)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "src" / "esecure" / "server"


def test_server_never_imports_the_launcher():
    """No module of esecure.server imports esecure.launcher, even lazily."""
    offenders = []
    for path in sorted(SERVER.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith("esecure.launcher")]
    assert offenders == []
