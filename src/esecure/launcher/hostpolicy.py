"""Host-level Firefox policies that would weaken the key's: a pure comparison.

Stock Firefox reads, besides the key's ``distribution/policies.json``:

* on Linux, ``/etc/firefox/policies/policies.json``, which *replaces* the distribution
  file when present (so every key policy it lacks or changes is lost);
* on Windows, Group Policy (``HKLM``/``HKCU\\Software\\Policies\\Mozilla\\Firefox``),
  *merged* with the distribution file, Group Policy winning per policy.

The launcher calls :func:`weakenings` with the key's policies and what it read from the
host, then warns (ES105) or refuses, per ``[firefox] host_policies``. Reading Group Policy
on Windows is the launcher's adapter (winreg); the comparison is the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "GPO_KEY",
    "LINUX_HOST_POLICIES",
    "RegistryTree",
    "Weakening",
    "gpo_policies",
    "read_linux_host_policies",
    "weakenings",
]

GPO_KEY = r"Software\Policies\Mozilla\Firefox"  # under HKLM (wins) and HKCU

# A registry key as read by the Windows adapter: values by name, then subkeys by name.
RegistryTree = tuple[dict[str, object], dict[str, "RegistryTree"]]

LINUX_HOST_POLICIES = Path("/etc/firefox/policies/policies.json")

# Policies that weaken the key even when the key does not set them (merge mode).
_RISKY_EXTRA = frozenset(
    {
        "Proxy",
        "SecurityDevices",
        "Extensions",
        "ExtensionSettings",
        "InstallAddonsPermission",
        "Certificates",
        "DisableSecurityBypass",
        "DNSOverHTTPS",
        "SSLVersionMin",
        "SSLVersionMax",
        "Preferences",
        "Authentication",
    }
)


@dataclass(frozen=True)
class Weakening:
    """One host policy that changes or removes one of the key's."""

    policy: str
    key_value: Any
    host_value: Any  # None: the host's file drops it

    def render(self) -> str:
        """One line for the user and the support report."""
        if self.key_value is None:
            return f"{self.policy}: added by the computer ({json.dumps(self.host_value)})"
        if self.host_value is None:
            return f"{self.policy}: removed by the computer's policies"
        return f"{self.policy}: the computer sets {json.dumps(self.host_value)}"


def _from_registry(tree: RegistryTree) -> Any:  # noqa: ANN401 - JSON-like by construction
    values, subkeys = tree
    out: dict[str, Any] = {name: _json_text(v) for name, v in values.items() if name}
    out.update({name: _from_registry(sub) for name, sub in subkeys.items()})
    if out and all(k.isdigit() for k in out):  # lists are keys "1", "2", … (policy templates)
        return [out[k] for k in sorted(out, key=int)]
    return out


def _json_text(value: object) -> object:
    """Group Policy carries some objects as JSON text (e.g. ExtensionSettings)."""
    if isinstance(value, list):  # REG_MULTI_SZ
        value = "\n".join(str(v) for v in value)
    if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
        try:
            parsed: object = json.loads(value)
        except ValueError:
            return value
        return parsed
    return value


def gpo_policies(hklm: RegistryTree | None, hkcu: RegistryTree | None) -> dict[str, Any]:
    """Firefox's policies from the two Group Policy keys (HKLM wins over HKCU, per policy)."""
    merged: dict[str, Any] = {}
    for tree in (hkcu, hklm):
        if tree is not None:
            found = _from_registry(tree)
            if isinstance(found, dict):
                merged.update(found)
    return merged


def _same(key_value: Any, host_value: Any) -> bool:  # noqa: ANN401 - JSON values
    """Equal as Firefox would read them: Group Policy writes booleans as DWORD 0/1."""
    if isinstance(key_value, bool) and isinstance(host_value, int):
        return bool(host_value) == key_value
    if isinstance(key_value, dict) and isinstance(host_value, dict):
        return key_value.keys() == host_value.keys() and all(
            _same(v, host_value[k]) for k, v in key_value.items()
        )
    if isinstance(key_value, list) and isinstance(host_value, list):
        return len(key_value) == len(host_value) and all(
            _same(a, b) for a, b in zip(key_value, host_value, strict=True)
        )
    return bool(key_value == host_value)


def weakenings(
    key: Mapping[str, Any],
    host: Mapping[str, Any] | None,
    mode: Literal["replace", "merge"],
) -> list[Weakening]:
    """What the host's policies change about the key's (sorted by policy name).

    ``replace`` (Linux /etc/firefox/policies): every key policy the host lacks or changes.
    ``merge`` (Windows Group Policy): every key policy the host changes, and risky policies
    the key leaves unset. An absent or empty host set changes nothing.
    """
    if not host:
        return []
    out: list[Weakening] = []
    for name, value in key.items():
        if name in host:
            if not _same(value, host[name]):
                out.append(Weakening(name, value, host[name]))
        elif mode == "replace":
            out.append(Weakening(name, value, None))
    if mode == "merge":
        out.extend(
            Weakening(name, None, host[name])
            for name in host
            if name not in key and name in _RISKY_EXTRA
        )
    return sorted(out, key=lambda w: w.policy)


def read_linux_host_policies(path: Path = LINUX_HOST_POLICIES) -> dict[str, Any] | None:
    """The host's policies on Linux, None when there are none. An unreadable or malformed
    file is reported as a policy of its own: Firefox would ignore the key's anyway."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return {"(unreadable host policies file)": str(exc)}
    try:
        doc = json.loads(raw)
        found = doc["policies"]
        if not isinstance(found, dict):
            raise TypeError("policies is not an object")  # noqa: TRY301
        return found
    except (ValueError, KeyError, TypeError) as exc:
        return {"(malformed host policies file)": str(exc)}
