"""The proxy decision (pure): environment first, else Windows' Internet Settings read
through a fake registry; bypass lists; a PAC script is a warning."""

from __future__ import annotations

import pytest

from esecure.launcher.diagnostics import MapRegistry
from esecure.launcher.diagnostics.proxy import (
    INTERNET_SETTINGS,
    bypassed,
    parse_proxy,
    proxy_row,
    proxy_settings,
)

POLICY = r"Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings"


def _registry(hive: str = "HKCU", **values: object) -> MapRegistry:
    return MapRegistry({(hive, INTERNET_SETTINGS, name): data for name, data in values.items()})


def test_no_proxy_anywhere_is_direct():
    """No variable and no registry (Linux): direct, ok."""
    found = proxy_settings({}, None)
    assert found.proxy is None
    row = proxy_row(found)
    assert (row.status, row.detail) == ("ok", "direct connection (no proxy set)")


def test_lower_case_environment_wins_and_credentials_are_kept_apart():
    """https_proxy before HTTPS_PROXY; user and password parsed, never shown."""
    env = {"HTTPS_PROXY": "http://other:1", "https_proxy": "http://bob:p%40ss@proxy.corp:3128"}
    proxy = proxy_settings(env, None).proxy
    assert proxy is not None
    assert (proxy.host, proxy.port, proxy.username, proxy.password) == (
        "proxy.corp",
        3128,
        "bob",
        "p@ss",
    )
    assert proxy.shown == "proxy.corp:3128 (with credentials)"
    assert "p@ss" not in repr(proxy)
    assert "p@ss" not in proxy_row(proxy_settings(env, None)).detail


def test_a_bare_address_gets_the_default_port():
    """``proxy`` alone is http://proxy:8080, as urllib reads it."""
    proxy = parse_proxy("proxy", "HTTPS_PROXY")
    assert proxy is not None
    assert (proxy.host, proxy.port) == ("proxy", 8080)
    assert parse_proxy("  ", "x") is None


@pytest.mark.parametrize(
    ("host", "entries", "expected"),
    [
        ("est.bank.fr", ("bank.fr",), True),
        ("est.bank.fr", (".bank.fr",), True),
        ("bank.fr", ("bank.fr:443",), True),
        ("notbank.fr", ("bank.fr",), False),
        ("intranet", ("<local>",), True),
        ("est.bank.fr", ("<local>",), False),
        ("est.bank.fr", ("*.bank.fr",), True),
        ("10.1.2.3", ("10.*",), True),
        ("anything", ("*",), True),
        ("est.bank.fr", ("",), False),
    ],
)
def test_bypass_lists(host, entries, expected):
    """no_proxy and ProxyOverride entries: suffixes, ports, <local>, wildcards."""
    assert bypassed(host, entries) is expected


def test_windows_internet_settings_are_read_when_the_environment_has_none():
    """ProxyEnable=1 with one ProxyServer for every protocol: that proxy, its overrides."""
    registry = _registry(
        ProxyEnable=1, ProxyServer="proxy.corp:8080", ProxyOverride="<local>;*.bank.fr"
    )
    proxy = proxy_settings({}, registry).proxy
    assert proxy is not None
    assert (proxy.host, proxy.port) == ("proxy.corp", 8080)
    assert proxy.source == "Windows Internet Settings (HKCU)"
    assert not proxy.applies_to("est.bank.fr")
    assert proxy.applies_to("updates.cdn.example")
    assert proxy_row(proxy_settings({}, registry)).detail == (
        "proxy.corp:8080 from Windows Internet Settings (HKCU); not for <local>, *.bank.fr"
    )


def test_windows_per_protocol_servers_use_the_https_entry():
    """``http=a:1;https=b:2``: https connections use b:2; without an https entry, none."""
    both = _registry(ProxyEnable=1, ProxyServer="http=a.corp:1;https=b.corp:2")
    proxy = proxy_settings({}, both).proxy
    assert proxy is not None
    assert (proxy.host, proxy.port) == ("b.corp", 2)
    http_only = _registry(ProxyEnable=1, ProxyServer="http=a.corp:1")
    assert proxy_settings({}, http_only).proxy is None


def test_windows_proxy_switched_off_is_direct():
    """A ProxyServer left behind with ProxyEnable=0 is not used."""
    assert proxy_settings({}, _registry(ProxyEnable=0, ProxyServer="proxy:1")).proxy is None


def test_machine_wide_settings_when_the_per_user_policy_is_off():
    """ProxySettingsPerUser=0 (HKLM policy): the machine's Internet Settings apply."""
    registry = MapRegistry(
        {
            ("HKLM", POLICY, "ProxySettingsPerUser"): 0,
            ("HKLM", INTERNET_SETTINGS, "ProxyEnable"): 1,
            ("HKLM", INTERNET_SETTINGS, "ProxyServer"): "machine.corp:3128",
            ("HKCU", INTERNET_SETTINGS, "ProxyEnable"): 1,
            ("HKCU", INTERNET_SETTINGS, "ProxyServer"): "user.corp:1",
        }
    )
    proxy = proxy_settings({}, registry).proxy
    assert proxy is not None
    assert (proxy.host, proxy.source) == ("machine.corp", "Windows Internet Settings (HKLM)")


def test_the_environment_wins_over_the_registry():
    """As urllib on Windows: the environment's proxy, if any, else the registry's."""
    registry = _registry(ProxyEnable=1, ProxyServer="registry.corp:1")
    proxy = proxy_settings({"https_proxy": "env.corp:2"}, registry).proxy
    assert proxy is not None
    assert proxy.host == "env.corp"


def test_an_auto_configuration_script_is_a_warning():
    """AutoConfigURL is not evaluated by the key: a warning that says so, with advice."""
    registry = _registry(AutoConfigURL="http://wpad.corp/proxy.pac")
    row = proxy_row(proxy_settings({}, registry))
    assert row.status == "warn"
    assert "http://wpad.corp/proxy.pac" in row.detail
    assert "does not run it" in row.detail
    assert row.advice is not None
    assert "proxy" in row.advice.fr


def _product(proxy: object) -> dict[str, object]:
    return {"network": {"proxy": proxy, "doh": "off"}}


@pytest.mark.parametrize(
    ("product", "expected"),
    [
        ({}, "system"),  # an image built before [network]
        (_product("system"), "system"),
        (_product("none"), "none"),
        (_product("http://proxy.corp:3128"), "http://proxy.corp:3128"),
        (_product("pac:https://wpad.corp/proxy.pac"), "system"),  # the launcher runs no PAC
        (_product(42), "system"),
        (_product("ftp://x"), "system"),
    ],
)
def test_configured_proxy_is_what_the_launcher_follows(product, expected):
    """product.json's network.proxy as the launcher's connections follow it."""
    from esecure.launcher.diagnostics.proxy import configured_proxy  # noqa: PLC0415

    assert configured_proxy(product) == expected


def test_settings_for_reports_the_configured_proxy():
    """The diagnostics' proxy row shows the key's choice: its proxy, direct despite the
    environment, or the host's with the PAC script reported as not run."""
    from esecure.launcher.diagnostics.proxy import settings_for  # noqa: PLC0415

    env = {"https_proxy": "http://env.proxy:8080"}
    configured = settings_for(_product("http://proxy.corp:3128"), env, None)
    assert configured.proxy is not None
    assert (configured.proxy.shown, configured.proxy.source) == (
        "proxy.corp:3128",
        "the key's [network] proxy",
    )
    assert settings_for(_product("none"), env, None).proxy is None
    pac = settings_for(_product("pac:https://wpad.corp/proxy.pac"), env, None)
    assert pac.proxy is not None and pac.proxy.host == "env.proxy"
    assert pac.pac == "https://wpad.corp/proxy.pac"
    assert proxy_row(pac).status == "warn"
