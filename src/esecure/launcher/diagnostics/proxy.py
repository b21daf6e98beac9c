"""The proxy the key's connections use: decided from the environment and, on Windows, the
user's Internet Settings (pure functions over a mapping and a :class:`Registry`).

The rule is the one the key's own clients follow (``urllib.request.getproxies``, used by
enrolment and the update fetcher): the environment's ``https_proxy`` (lower case first),
else on Windows the Internet Settings' ``ProxyServer`` when ``ProxyEnable`` is 1 —
machine-wide when the ``ProxySettingsPerUser`` policy is 0. A proxy auto-configuration
script (``AutoConfigURL``) is reported but not evaluated: the key does not run PAC
scripts, so a network that needs one needs an explicit proxy.
"""

from __future__ import annotations

import fnmatch
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from esecure.errors import Text
from esecure.launcher.diagnostics._registry import Registry
from esecure.launcher.diagnostics.model import Row

__all__ = [
    "INTERNET_SETTINGS",
    "Proxy",
    "ProxySettings",
    "bypassed",
    "parse_proxy",
    "proxy_from_env",
    "proxy_from_registry",
    "proxy_row",
    "proxy_settings",
]

INTERNET_SETTINGS = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings"
_PER_USER_POLICY = r"Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings"


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy for https connections (CONNECT), where it came from, what bypasses it."""

    host: str
    port: int
    source: str
    bypass: tuple[str, ...] = ()
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def shown(self) -> str:
        """``host:port`` with a note when it carries credentials (never the credentials)."""
        auth = " (with credentials)" if self.username else ""
        return f"{self.host}:{self.port}{auth}"

    def applies_to(self, host: str) -> bool:
        """Whether a connection to ``host`` goes through this proxy."""
        return not bypassed(host, self.bypass)


@dataclass(frozen=True)
class ProxySettings:
    """The proxy in force (None: direct) and an auto-configuration script, if any."""

    proxy: Proxy | None
    pac: str | None = None


def parse_proxy(value: str, source: str, bypass: tuple[str, ...] = ()) -> Proxy | None:
    """A proxy from ``http://user:pass@host:port``, ``host:port`` or ``host``; None when
    it names no host."""
    text = value.strip()
    if not text:
        return None
    try:
        parts = urllib.parse.urlsplit(text if "://" in text else f"http://{text}")
        port = parts.port or 8080
    except ValueError:
        return None
    if not parts.hostname:
        return None
    user = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return Proxy(parts.hostname, port, source, bypass, user, password)


def bypassed(host: str, entries: tuple[str, ...]) -> bool:
    """Whether ``host`` is excluded by ``no_proxy`` or ``ProxyOverride`` entries: ``*``,
    ``<local>`` (a name without a dot), wildcards, and domain suffixes."""
    name = host.lower().rstrip(".")
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*" or (entry == "<local>" and "." not in name and ":" not in name):
            return True
        if any(c in entry for c in "*?"):
            if fnmatch.fnmatchcase(name, entry):
                return True
            continue
        if entry.startswith("[") or entry.count(":") > 1:  # an IPv6 address: no port here
            bare = entry.strip("[]")
        else:
            bare = entry.partition(":")[0]
        bare = bare.lstrip(".")
        if name == bare or name.endswith(f".{bare}"):
            return True
    return False


def proxy_from_env(environ: Mapping[str, str]) -> Proxy | None:
    """``https_proxy`` (or ``HTTPS_PROXY``) with ``no_proxy``, as urllib reads them."""
    for name in ("https_proxy", "HTTPS_PROXY"):
        value = environ.get(name)
        if value:
            no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
            return parse_proxy(value, name, tuple(no_proxy.split(",")))
    return None


def _dword(value: object) -> int | None:
    return value if isinstance(value, int) else None


def proxy_from_registry(registry: Registry) -> ProxySettings:
    """The Internet Settings proxy: HKCU, or HKLM when the per-user policy is off."""
    per_user = _dword(registry.value("HKLM", _PER_USER_POLICY, "ProxySettingsPerUser"))
    hive = "HKLM" if per_user == 0 else "HKCU"
    pac = registry.value(hive, INTERNET_SETTINGS, "AutoConfigURL")
    pac_url = pac if isinstance(pac, str) and pac else None
    if _dword(registry.value(hive, INTERNET_SETTINGS, "ProxyEnable")) != 1:
        return ProxySettings(None, pac_url)
    server = registry.value(hive, INTERNET_SETTINGS, "ProxyServer")
    if not isinstance(server, str):
        return ProxySettings(None, pac_url)
    override = registry.value(hive, INTERNET_SETTINGS, "ProxyOverride")
    bypass = tuple(override.split(";")) if isinstance(override, str) else ()
    chosen: str | None = server
    if "=" in server:  # "http=h:p;https=h:p": https connections use the https entry only
        chosen = None
        for item in server.split(";"):
            scheme, _, address = item.partition("=")
            if scheme.strip().lower() == "https":
                chosen = address
    source = f"Windows Internet Settings ({hive})"
    proxy = parse_proxy(chosen, source, bypass) if chosen else None
    return ProxySettings(proxy, pac_url)


def proxy_settings(environ: Mapping[str, str], registry: Registry | None) -> ProxySettings:
    """The environment's proxy first, else (Windows) the Internet Settings'."""
    from_env = proxy_from_env(environ)
    if from_env is not None or registry is None:
        return ProxySettings(from_env)
    return proxy_from_registry(registry)


_TITLE = Text(en="Proxy", fr="Proxy")


def proxy_row(settings: ProxySettings) -> Row:
    """The proxy row: direct or which proxy, from where; a PAC script is a warning."""
    proxy = settings.proxy
    detail = "direct connection (no proxy set)"
    if proxy is not None:
        bypass = ", ".join(b.strip() for b in proxy.bypass if b.strip())
        detail = f"{proxy.shown} from {proxy.source}" + (f"; not for {bypass}" if bypass else "")
    if settings.pac is None:
        return Row("proxy", _TITLE, "ok", detail)
    return Row(
        "proxy",
        _TITLE,
        "warn",
        f"{detail}; an automatic configuration script is set ({settings.pac}): the key does "
        "not run it",
        Text(
            en="If the connection checks fail, ask your IT department for the proxy's address "
            "and port and set them explicitly in the Internet options.",
            fr="Si les vérifications de connexion échouent, demandez à votre service "
            "informatique l'adresse et le port du proxy et indiquez-les explicitement dans "
            "les options Internet.",
        ),
        "ES303",
    )
