"""The proxy the key's connections use: the project's ``[network] proxy`` (product.json),
and for "system" the environment and, on Windows, the user's Internet Settings (pure
functions over a mapping and a :class:`Registry`).

:func:`configured_proxy` turns product.json's setting into what the launcher's own
connections (enrolment, the update fetcher) follow: "none" (direct, whatever the host
says), ``http://host:port`` (every connection through it, no bypass), or "system". A PAC
setting (``pac:https://…``) is Firefox's alone: evaluating a PAC script needs a
JavaScript engine the launcher does not carry, so the launcher uses the host's settings
and says so in the log and in the diagnostics' proxy row.

"system" follows the rule of ``urllib.request.getproxies``: the environment's
``https_proxy`` (lower case first), else on Windows the Internet Settings' ``ProxyServer``
when ``ProxyEnable`` is 1 — machine-wide when the ``ProxySettingsPerUser`` policy is 0. The
host's own auto-configuration script (``AutoConfigURL``) is reported but not evaluated.
"""

from __future__ import annotations

import fnmatch
import logging
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
    "configured_proxy",
    "network_proxy",
    "parse_proxy",
    "proxy_from_env",
    "proxy_from_registry",
    "proxy_row",
    "proxy_settings",
    "settings_for",
]

log = logging.getLogger(__name__)

CONFIGURED = "the key's [network] proxy"

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


def network_proxy(product: Mapping[str, object]) -> str:
    """``network.proxy`` of product.json as written by the build ("system", "none",
    ``http://host:port`` or ``pac:https://…``); "system" when absent or not a string (an
    image built before the setting existed)."""
    network = product.get("network")
    value = network.get("proxy") if isinstance(network, dict) else None
    return value if isinstance(value, str) and value else "system"


def configured_proxy(product: Mapping[str, object]) -> str:
    """What the launcher's own connections follow: "none", ``http://host:port`` or
    "system". A PAC script and a setting this launcher cannot read fall back to the host's
    settings, logged."""
    value = network_proxy(product)
    if value in ("none", "system"):
        return value
    if value.startswith("pac:"):
        log.info(
            "[network] proxy is a PAC script (%s): Firefox runs it; the launcher does not "
            "run PAC scripts and uses this computer's proxy settings",
            value.removeprefix("pac:"),
        )
        return "system"
    proxy = parse_proxy(value, CONFIGURED)
    if proxy is None or not value.startswith("http://"):
        log.warning("[network] proxy %r is unreadable: using this computer's settings", value)
        return "system"
    return f"http://{proxy.host}:{proxy.port}"


def settings_for(
    product: Mapping[str, object], environ: Mapping[str, str], registry: Registry | None
) -> ProxySettings:
    """The proxy in force for the key's connections (the diagnostics' row): the
    configured one, none, or the host's (with a PAC setting reported as not run)."""
    value = network_proxy(product)
    chosen = configured_proxy(product)
    if chosen == "none":
        return ProxySettings(None)
    if chosen != "system":
        return ProxySettings(parse_proxy(chosen, CONFIGURED))
    host = proxy_settings(environ, registry)
    if value.startswith("pac:"):
        return ProxySettings(host.proxy, value.removeprefix("pac:"))
    return host


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
