"""Which room may import which: the allowed-imports table, checked over every module.

A room is ``esecure_onkey`` or a top-level module or subpackage of ``esecure``. Low rooms
(the on-key format, errors, durable writes, trust material, the version) may be used by
every room. Changed from issue 8's starting table, and why:

* ``launcher`` may also use ``bundle.manifest`` and ``bundle.tree``: the self-check makes
  the same decisions over the image's signed file list as ``esecure verify`` (one
  implementation, pure functions over bytes and file sizes); nothing else of ``bundle``.
* ``server`` may also use ``bundle.serials`` (pure functions): `esecure admin import-keys`
  checks every serial's check character with the same code that made it.
* ``demo`` (`esecure demo` and the end-to-end harness) drives every room, as ``cli`` does.
* ``trust`` uses ``config`` (it checks the trust material a project names) and
  ``scaffold`` uses ``config``, ``trust`` and ``_assets`` (it writes a whole project).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LOW = {"errors", "_fs", "trust", "esecure_onkey", "__init__", "_tools"}
WIRE = "est_protocol"
# room -> rooms it may import besides the low ones ("*": any)
ALLOWED: dict[str, set[str]] = {
    "esecure_onkey": set(),
    "errors": set(),
    "_fs": set(),
    "_tools": set(),
    "__init__": set(),
    "trust": {"config"},
    "config": set(),
    "_assets": set(),
    "_catalogue_doc": set(),
    "scaffold": {"config", "_assets"},
    WIRE: set(),
    "autorun": set(),
    "bundle": {"config", "autorun"},
    "updater": {"config", "bundle"},
    "launcher": {"updater", WIRE, "bundle"},
    "server": {"config", WIRE, "bundle"},
    "demo": {"*"},  # the whole life of a key: every room, as the CLI
    "cli": {"*"},
    "__main__": {"*"},
}
# client side of the updater: what runs on a key (never the publishing side's bundle use)
UPDATER_CLIENT = {
    "client",
    "_install",
    "_fetch",
    "_security",
    "_disk",
    "_zstd",
    "_container",
    "_plan",
    "__init__",
}
LAUNCHER_MAY_USE_BUNDLE = {"esecure.bundle.manifest", "esecure.bundle.tree"}
SERVER_MAY_USE_BUNDLE = {"esecure.bundle", "esecure.bundle.serials"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _room(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "esecure":
        return parts[0]
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[str]:
    """Every esecure / esecure_onkey module ``path`` imports, absolute."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            out.append(base)
            out.extend(f"{base}.{a.name}" for a in node.names)
    return [n for n in out if n.split(".")[0] in ("esecure", "esecure_onkey")]


def _resolve(name: str) -> str:
    """``esecure.bundle.manifest.compare`` -> ``esecure.bundle.manifest`` (a real module)."""
    parts = name.split(".")
    while parts:
        candidate = SRC.joinpath(*parts)
        if candidate.with_suffix(".py").is_file() or (candidate / "__init__.py").is_file():
            return ".".join(parts)
        parts.pop()
    return name


MODULES = sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_room_is_in_the_table():
    """A new room must say what it may import."""
    rooms = {_room(_module_name(p)) for p in MODULES}
    assert rooms <= set(ALLOWED), sorted(rooms - set(ALLOWED))


def _violation(module: str, name: str) -> str | None:
    """Why ``module`` may not import ``name`` (a resolved module), or None."""
    room, target = _room(module), _room(name)
    allowed = ALLOWED[room]
    if target == room or "*" in allowed or (target in LOW and room != "esecure_onkey"):
        return None
    if target not in allowed:
        return name
    may_use_bundle = {"launcher": LAUNCHER_MAY_USE_BUNDLE, "server": SERVER_MAY_USE_BUNDLE}
    if target == "bundle" and room in may_use_bundle and name not in may_use_bundle[room]:
        return name
    client = module.rpartition(".")[2] in UPDATER_CLIENT
    if room == "updater" and target == "bundle" and client:
        return f"{name} (client side)"
    publishing = name.rpartition(".")[2] not in UPDATER_CLIENT and name != "esecure.updater"
    if room == "launcher" and target == "updater" and publishing:
        return f"{name} (publishing side)"
    return None


@pytest.mark.parametrize("path", MODULES, ids=_module_name)
def test_imports_follow_the_table(path):
    """Each module imports only its own room, the low rooms and what its room may use."""
    module = _module_name(path)
    wrong = [w for n in {_resolve(n) for n in _imports(path)} if (w := _violation(module, n))]
    assert not wrong, f"{module} imports {sorted(wrong)}"


def test_nothing_but_the_cli_imports_the_launcher_or_the_server():
    """The launcher and the server are leaves: only the command line (and the demo it
    runs, which drives the server's registry) reaches them."""
    for path in MODULES:
        room = _room(_module_name(path))
        if room in ("cli", "__main__", "demo", "launcher", "server"):
            continue
        reached = {_room(_resolve(n)) for n in _imports(path)}
        assert not reached & {"launcher", "server"}, _module_name(path)


def _top_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


ONKEY = sorted((SRC / "esecure_onkey").rglob("*.py"))


@pytest.mark.parametrize("path", ONKEY, ids=lambda p: p.name)
def test_the_onkey_package_uses_the_standard_library_only(path):
    """esecure_onkey is frozen with the bootstrap: stdlib and itself, nothing else."""
    foreign = _top_imports(path) - set(sys.stdlib_module_names) - {"esecure_onkey", "__future__"}
    assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_the_stdlib_check_can_fail(tmp_path):
    """The AST walk sees every import form (a planted `import cryptography` is found)."""
    planted = tmp_path / "planted.py"
    planted.write_text("import json\nfrom cryptography import x509\nimport esecure.errors\n")
    foreign = _top_imports(planted) - set(sys.stdlib_module_names) - {"esecure_onkey"}
    assert foreign == {"cryptography", "esecure"}
