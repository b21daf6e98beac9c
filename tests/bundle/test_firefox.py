"""Firefox policies, the profile template and the copy."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from esecure.bundle.firefox import (
    BrowserSettings,
    copy_firefox,
    policies,
    policies_json,
    user_js,
)
from esecure.errors import UsageError

SETTINGS = BrowserSettings(
    site="https://bank.example:8443/portal/", allowed_hosts=("static.bank.example", "*.cdn.example")
)


def test_policies_lock_the_browser_down():
    """Each lock-down the issue lists is present, with Firefox's own policy names."""
    p = policies(SETTINGS)
    assert p["DisableAppUpdate"] is True
    assert p["DisableTelemetry"] is True
    assert p["DisableFirefoxStudies"] is True
    assert p["OverrideFirstRunPage"] == ""
    assert p["DontCheckDefaultBrowser"] is True
    assert p["ExtensionSettings"] == {"*": {"installation_mode": "blocked"}}
    assert p["BlockAboutConfig"] is True
    assert p["BlockAboutProfiles"] is True
    assert p["PasswordManagerEnabled"] is False
    assert p["PDFjs"]["Enabled"] is True
    assert "Handlers" not in p  # ESR 153 refuses "handleInternally": PDF.js handles PDFs
    assert p["Certificates"]["Install"] == ["e-secure-ca.pem"]
    assert p["Homepage"] == {
        "URL": "https://bank.example:8443/portal/",
        "Locked": True,
        "StartPage": "homepage-locked",
    }
    assert p["Preferences"]["security.default_personal_cert"] == {
        "Value": "Select Automatically",
        "Status": "locked",
    }


def test_website_filter_allows_only_the_site_and_listed_hosts():
    """Everything is blocked but the site's host and the configured hosts (any port)."""
    assert policies(SETTINGS)["WebsiteFilter"] == {
        "Block": ["<all_urls>"],
        "Exceptions": [
            "https://bank.example/*",
            "https://static.bank.example/*",
            "https://*.cdn.example/*",
        ],
    }


def test_policies_json_is_stable_bytes():
    """Same settings, same bytes; the file parses back to the policies."""
    assert policies_json(SETTINGS) == policies_json(SETTINGS)
    assert json.loads(policies_json(SETTINGS)) == {"policies": policies(SETTINGS)}


def test_user_js_prefs_parse_back():
    """Every line is a user_pref with a JSON value; the key prefs are there."""
    prefs = {}
    for line in user_js(SETTINGS).decode().splitlines()[1:]:
        match = re.fullmatch(r'user_pref\(("[^"]+"), (.+)\);', line)
        assert match, line
        prefs[json.loads(match.group(1))] = json.loads(match.group(2))
    assert prefs["browser.startup.homepage"] == SETTINGS.site
    assert prefs["security.default_personal_cert"] == "Select Automatically"
    assert prefs["toolkit.telemetry.enabled"] is False
    assert prefs["browser.safebrowsing.malware.enabled"] is False
    assert prefs["network.captive-portal-service.enabled"] is False
    assert prefs["network.connectivity-service.enabled"] is False


def test_copy_dereferences_links_and_skips_distribution(tmp_path):
    """Symlinked files become files, modes are normalised, distribution/ is not copied."""
    src = tmp_path / "ff"
    (src / "browser").mkdir(parents=True)
    (src / "firefox-esr").write_bytes(b"bin")
    (src / "firefox-esr").chmod(0o700)
    (src / "libalias.so").symlink_to("firefox-esr")
    (src / "shared").mkdir()
    (src / "shared" / "x.txt").write_text("x")
    (src / "browser" / "defaults").symlink_to("../shared")
    (src / "distribution").mkdir()
    (src / "distribution" / "policies.json").write_text("{}")
    dest = tmp_path / "out"
    seen = []
    copy_firefox(src, dest, "linux", progress=lambda d, t: seen.append((d, t)))
    assert not (dest / "libalias.so").is_symlink()
    assert (dest / "libalias.so").read_bytes() == b"bin"
    assert (dest / "libalias.so").stat().st_mode & 0o777 == 0o755
    assert (dest / "browser" / "defaults" / "x.txt").read_text() == "x"
    assert (dest / "shared" / "x.txt").stat().st_mode & 0o777 == 0o644
    assert not (dest / "distribution").exists()
    assert seen[-1][0] == seen[-1][1]


def test_missing_firefox_is_es910(tmp_path):
    """A directory without a Firefox program is named with ES910."""
    with pytest.raises(UsageError, match="no Firefox for linux") as info:
        copy_firefox(tmp_path, tmp_path / "out", "linux")
    assert info.value.code == "ES910"
    assert not (tmp_path / "out").exists()


def test_customer_policies_block_firefoxs_remote_agent():
    """Without [firefox] automation, DisableDeveloperTools stays: Firefox then refuses
    --remote-debugging-port and --marionette (checked on Firefox ESR 153), so
    ESECURE_FIREFOX_ARGS cannot open a customer key's Firefox to automation."""
    p = policies(SETTINGS)
    assert p["DisableDeveloperTools"] is True
    assert "devtools.policy.disabled" not in p["Preferences"]


def test_automation_images_keep_the_developer_tools_off_but_not_the_remote_agent():
    """[firefox] automation (test images): the developer tools' preference is locked off,
    the policy that also blocks the Remote Agent is left out; nothing else changes."""
    automated = policies(replace(SETTINGS, automation=True))
    assert "DisableDeveloperTools" not in automated
    assert automated["Preferences"]["devtools.policy.disabled"] == {
        "Value": True,
        "Status": "locked",
    }
    customer = policies(SETTINGS)
    del customer["DisableDeveloperTools"]
    del automated["Preferences"]["devtools.policy.disabled"]
    assert automated == customer


def test_the_lock_down_of_issue_11():
    """SanitizeOnShutdown (every category, locked), the Disable* policies, about:addons,
    TLS 1.2, and the permissions no bank page needs (blocked, locked)."""
    p = policies(SETTINGS)
    assert p["SanitizeOnShutdown"] == {
        "Cache": True,
        "Cookies": True,
        "Downloads": True,
        "FormData": True,
        "History": True,
        "Sessions": True,
        "SiteSettings": True,
        "OfflineApps": True,
        "Locked": True,
    }
    for name in (
        "DisableSafeMode",
        "DisableFirefoxAccounts",
        "DisableSystemAddonUpdate",
        "DisableFormHistory",
        "DisableProfileImport",
        "BlockAboutAddons",
        "PromptForDownloadLocation",
        "NoDefaultBookmarks",
        "DontCheckDefaultBrowser",
    ):
        assert p[name] is True, name
    assert p["SSLVersionMin"] == "tls1.2"
    for name in ("Camera", "Microphone", "Location", "Notifications"):
        assert p["Permissions"][name] == {"BlockNewRequests": True, "Locked": True}
    assert "DisablePocket" not in p  # deprecated in ESR 153: never active


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        ("system", {"Mode": "system", "Locked": True}),
        ("none", {"Mode": "none", "Locked": True}),
        (
            "http://proxy.bank.example:3128",
            {
                "Mode": "manual",
                "HTTPProxy": "proxy.bank.example:3128",
                "UseHTTPProxyForAllProtocols": True,
                "Locked": True,
            },
        ),
        (
            "pac:https://wpad.bank.example/proxy.pac",
            {
                "Mode": "autoConfig",
                "AutoConfigURL": "https://wpad.bank.example/proxy.pac",
                "Locked": True,
            },
        ),
    ],
)
def test_proxy_policy_follows_network_proxy(proxy, expected):
    """Each [network] proxy form becomes Firefox's locked Proxy policy."""
    assert policies(replace(SETTINGS, proxy=proxy))["Proxy"] == expected


def test_doh_policy_and_user_js_agree():
    """doh "off": DNSOverHTTPS disabled and locked, user.js mode 5; a resolver: enabled
    without fallback (mode 3) and the same URL in user.js."""
    assert policies(SETTINGS)["DNSOverHTTPS"] == {"Enabled": False, "Locked": True}
    assert 'user_pref("network.trr.mode", 5);' in user_js(SETTINGS).decode()
    resolver = replace(SETTINGS, doh="https://dns.bank.example/dns-query")
    assert policies(resolver)["DNSOverHTTPS"] == {
        "Enabled": True,
        "ProviderURL": "https://dns.bank.example/dns-query",
        "Fallback": False,
        "Locked": True,
    }
    text = user_js(resolver).decode()
    assert 'user_pref("network.trr.mode", 3);' in text
    assert 'user_pref("network.trr.uri", "https://dns.bank.example/dns-query");' in text
    assert 'network.trr.mode", 5' not in text


def test_network_reaches_the_keys_product_json(demo_project):
    """[network] is written into product.json, where the launcher reads it."""
    import json  # noqa: PLC0415

    from esecure.bundle.build import product_json  # noqa: PLC0415
    from esecure.config import load_project  # noqa: PLC0415

    text = (demo_project / "esecure.toml").read_text()
    (demo_project / "esecure.toml").write_text(
        text.replace('proxy = "system"', 'proxy = "http://proxy.bank.example:3128"')
    )
    doc = json.loads(product_json(load_project(demo_project)))
    assert doc["network"] == {"proxy": "http://proxy.bank.example:3128", "doh": "off"}
