"""The standard-library modules the frozen bootstrap carries, for the application it runs.

The bootstrap imports almost nothing itself, but the application it starts from lib/ needs
the standard library of the same Python: every stdlib module is frozen in, except what the
exclude list names (tests, GUI toolkits and terminal interfaces the launcher does not use,
build tools: esecure.bundle.exclude.RUNTIME_MODULES). Names are found by walking the
stdlib directory (nothing is imported), sorted for reproducible builds.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from esecure.bundle.exclude import RUNTIME_MODULES

__all__ = ["EXCLUDED", "RUNTIME_MODULES", "stdlib_modules"]

EXCLUDED = frozenset({name for name, _reason in RUNTIME_MODULES} | {"site-packages", "config-3"})
"""esecure.bundle.exclude.RUNTIME_MODULES (the one exclude list, with the reasons), and
the stdlib directory's entries that are no modules."""


def _excluded(parts: list[str]) -> bool:
    if parts[0] in EXCLUDED or parts[0].startswith("config-"):
        return True
    return any(p in {"test", "tests", "idle_test"} for p in parts)


def stdlib_modules() -> list[str]:
    """Every importable stdlib module name (packages, submodules and extensions)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    names: set[str] = set()
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        if "site-packages" in parts or not all(p.isidentifier() for p in parts[:-1]):
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not parts or not all(p.isidentifier() for p in parts) or _excluded(parts):
            continue
        names.add(".".join(parts))
    dynload = root / "lib-dynload"
    if dynload.is_dir():
        for path in dynload.iterdir():
            name = path.name.split(".", 1)[0]
            if name.isidentifier() and not _excluded([name]):
                names.add(name)
    names.update(n for n in sys.builtin_module_names if not _excluded([n]))
    return sorted(names)


if __name__ == "__main__":
    print("\n".join(stdlib_modules()))
