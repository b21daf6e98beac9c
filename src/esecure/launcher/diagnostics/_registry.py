"""Reading single values of the Windows registry, behind a protocol tests can replace.

The proxy and autorun checks ask :class:`Registry` for values; :func:`host_registry`
returns the real one (``winreg``) on Windows and None elsewhere, so their decisions are
tested on Linux with a dictionary (:class:`MapRegistry`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["MapRegistry", "Registry", "WinRegistry", "host_registry"]


class Registry(Protocol):
    """One value of a key, or None when the key or the value is absent or unreadable."""

    def value(self, hive: str, path: str, name: str) -> object | None:
        """The data of ``name`` under ``hive`` ("HKLM" or "HKCU") ``\\path``."""


class MapRegistry:
    """A registry held in a dictionary: ``{(hive, path, name): data}`` (tests, reports)."""

    def __init__(self, values: Mapping[tuple[str, str, str], object]) -> None:
        self._values = {(h, p.lower(), n.lower()): v for (h, p, n), v in values.items()}

    def value(self, hive: str, path: str, name: str) -> object | None:
        """The stored data, matched without case as Windows does."""
        return self._values.get((hive, path.lower(), name.lower()))


class WinRegistry:  # pragma: no cover - Windows only
    """The host's registry through ``winreg`` (read-only)."""

    def __init__(self) -> None:
        self._winreg: Any = importlib.import_module("winreg")

    def value(self, hive: str, path: str, name: str) -> object | None:
        """The data of one value, None when absent or denied."""
        root = {"HKLM": self._winreg.HKEY_LOCAL_MACHINE, "HKCU": self._winreg.HKEY_CURRENT_USER}
        try:
            with self._winreg.OpenKey(root[hive], path) as key:
                data: object = self._winreg.QueryValueEx(key, name)[0]
        except OSError:
            return None
        return data


def host_registry() -> Registry | None:
    """The real registry on Windows, None elsewhere."""
    host: str = sys.platform  # a plain str: mypy would prune the Windows branch otherwise
    if not host.startswith("win"):
        return None
    return WinRegistry()  # pragma: no cover - Windows only
