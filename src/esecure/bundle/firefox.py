"""The portable Firefox: its enterprise policies, the profile template, and the copy.

:func:`policies` and :func:`user_js` are pure functions of the project's settings; the
policy names are Firefox's enterprise policy names (mozilla/policy-templates), spelt
exactly. The CA reaches Firefox through ``Certificates`` → ``Install`` (a file in
``distribution/certificates/``): no NSS database is shipped, since NSS names its objects
from the clock and would break reproducibility.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from esecure.bundle.exclude import duplicate_launchers, firefox_excluded
from esecure.errors import UsageError
from esecure_onkey.browser import find_executable, rule

__all__ = [
    "BLOCKED_PERMISSIONS",
    "CA_FILE_NAME",
    "SANITIZE_CATEGORIES",
    "BrowserSettings",
    "copy_firefox",
    "doh_policy",
    "firefox_executable",
    "installation_files",
    "policies",
    "policies_json",
    "proxy_policy",
    "user_js",
]

CA_FILE_NAME = "e-secure-ca.pem"
CLIENT_CERT_PREF = "security.default_personal_cert"
CLIENT_CERT_VALUE = "Select Automatically"


@dataclass(frozen=True)
class BrowserSettings:
    """What the browser's lock-down depends on."""

    site: str
    allowed_hosts: tuple[str, ...] = ()
    automation: bool = False
    """``[firefox] automation`` (test and demo images only, never a customer's): the
    developer tools stay off for the user (their locked preference), but Firefox's Remote
    Agent (WebDriver BiDi) is not blocked by policy; it still opens only when the
    launcher's own environment asks (ESECURE_FIREFOX_ARGS), never from the key."""
    proxy: str = "system"
    """``[network] proxy`` (validated by the config): "system", "none", ``http://host:port``
    or ``pac:https://…``."""
    doh: str = "off"
    """``[network] doh`` (validated by the config): "off" or a resolver's https URL."""


DEVTOOLS_PREF = "devtools.policy.disabled"
"""What DisableDeveloperTools sets for the user interface; locked alone (automation
images), it hides the developer tools without blocking the Remote Agent."""


def _patterns(settings: BrowserSettings) -> list[str]:
    """WebExtension match patterns (no ports: a pattern's host matches every port)."""
    site_host = urlsplit(settings.site).hostname or ""
    hosts = [site_host, *settings.allowed_hosts]
    seen: list[str] = []
    for host in hosts:
        pattern = f"https://{host}/*"
        if pattern not in seen:
            seen.append(pattern)
    return seen


SANITIZE_CATEGORIES = (
    "Cache",
    "Cookies",
    "Downloads",
    "FormData",
    "History",
    "Sessions",
    "SiteSettings",
    "OfflineApps",
)
"""Every category of Firefox's SanitizeOnShutdown (ESR 153's schema); the certificate and
key databases (cert9.db, key4.db) are none of them: the client certificate stays."""

BLOCKED_PERMISSIONS = (
    "Camera",
    "Microphone",
    "Location",
    "Notifications",
    "VirtualReality",
    "ScreenShare",
)
"""Permissions no page of the bank may ask for (new requests blocked, locked)."""


def proxy_policy(proxy: str) -> dict[str, Any]:
    """Firefox's ``Proxy`` policy for ``[network] proxy`` (locked)."""
    if proxy in ("system", "none"):
        return {"Mode": proxy, "Locked": True}
    if proxy.startswith("pac:"):
        return {"Mode": "autoConfig", "AutoConfigURL": proxy.removeprefix("pac:"), "Locked": True}
    address = urlsplit(proxy).netloc
    return {
        "Mode": "manual",
        "HTTPProxy": address,
        "UseHTTPProxyForAllProtocols": True,
        "Locked": True,
    }


def doh_policy(doh: str) -> dict[str, Any]:
    """Firefox's ``DNSOverHTTPS`` policy for ``[network] doh`` (locked): off, or only the
    configured resolver (no fallback to the host's DNS)."""
    if doh == "off":
        return {"Enabled": False, "Locked": True}
    return {"Enabled": True, "ProviderURL": doh, "Fallback": False, "Locked": True}


def policies(settings: BrowserSettings) -> dict[str, Any]:
    """The ``policies`` object of ``distribution/policies.json``."""
    return {
        # No application updates: the key's updates (TUF) renew Firefox.
        "DisableAppUpdate": True,
        "AppAutoUpdate": False,
        # No telemetry, studies or vendor messaging (no DisablePocket: ESR 153 has no Pocket
        # and ignores that policy, it is never active).
        "DisableTelemetry": True,
        "DisableFirefoxStudies": True,
        "DisableFeedbackCommands": True,
        "UserMessaging": {
            "ExtensionRecommendations": False,
            "FeatureRecommendations": False,
            "SkipOnboarding": True,
            "MoreFromMozilla": False,
            "Locked": True,
        },
        # No first-run, post-update or default-browser prompts.
        "OverrideFirstRunPage": "",
        "OverridePostUpdatePage": "",
        "DontCheckDefaultBrowser": True,
        "DisableDefaultBrowserAgent": True,
        "DisableProfileImport": True,
        "NoDefaultBookmarks": True,
        # Nothing of a session is left on the key after Firefox closes (the certificate
        # database is not a category: the client certificate stays).
        "SanitizeOnShutdown": {**dict.fromkeys(SANITIZE_CATEGORIES, True), "Locked": True},
        "DisableFormHistory": True,
        # No other modes, accounts or components than the key's own.
        "DisableSafeMode": True,
        "DisableFirefoxAccounts": True,
        "DisableSystemAddonUpdate": True,
        # Downloads: the user picks where each file goes (never silently onto the key).
        "PromptForDownloadLocation": True,
        # No page may use the camera, microphone, location, notifications, VR devices or
        # share the screen; media plays only when the user asks.
        "Permissions": {
            **{name: {"BlockNewRequests": True, "Locked": True} for name in BLOCKED_PERMISSIONS},
            "Autoplay": {"Default": "block-audio-video", "Locked": True},
        },
        # The network: TLS 1.2 at least; proxy and DNS-over-HTTPS as [network] says.
        "SSLVersionMin": "tls1.2",
        "Proxy": proxy_policy(settings.proxy),
        "DNSOverHTTPS": doh_policy(settings.doh),
        # No add-ons at all.
        "ExtensionSettings": {"*": {"installation_mode": "blocked"}},
        "InstallAddonsPermission": {"Default": False},
        "ExtensionUpdate": False,
        # No way around the lock-down from inside.
        "BlockAboutConfig": True,
        "BlockAboutProfiles": True,
        "BlockAboutAddons": True,
        **({} if settings.automation else {"DisableDeveloperTools": True}),
        "DisableSecurityBypass": {"InvalidCertificate": True, "SafeBrowsing": True},
        # No saved passwords.
        "PasswordManagerEnabled": False,
        "OfferToSaveLogins": False,
        # PDFs in the built-in viewer (seed rows E11/E12 removed by design): PDF.js on is
        # enough. No Handlers entry: ESR 153's schema refuses "handleInternally" (the
        # engine logged it as an error and ignored it).
        "PDFjs": {"Enabled": True, "EnablePermissions": False},
        # The project's CA, and only it (no host roots imported).
        "Certificates": {"ImportEnterpriseRoots": False, "Install": [CA_FILE_NAME]},
        # The bank's site, locked, and nothing else.
        "Homepage": {"URL": settings.site, "Locked": True, "StartPage": "homepage-locked"},
        "WebsiteFilter": {"Block": ["<all_urls>"], "Exceptions": _patterns(settings)},
        "CaptivePortal": False,
        "NetworkPrediction": False,
        "Preferences": {
            CLIENT_CERT_PREF: {"Value": CLIENT_CERT_VALUE, "Status": "locked"},
            **({DEVTOOLS_PREF: {"Value": True, "Status": "locked"}} if settings.automation else {}),
        },
    }


def policies_json(settings: BrowserSettings) -> bytes:
    """The exact bytes of ``distribution/policies.json`` (sorted keys: reproducible)."""
    return (json.dumps({"policies": policies(settings)}, indent=2, sort_keys=True) + "\n").encode()


def _js(value: str | bool | int) -> str:
    return json.dumps(value)


def _doh_prefs(doh: str) -> list[tuple[str, str | bool | int]]:
    """What the DNSOverHTTPS policy locks, said the same way in the profile: mode 5 (off by
    choice) or 3 (the resolver only) with its URL."""
    if doh == "off":
        return [("network.trr.mode", 5)]
    return [("network.trr.mode", 3), ("network.trr.uri", doh)]


def user_js(settings: BrowserSettings) -> bytes:
    """The profile template's ``user.js``: quiet (no background traffic) and pointed at the
    site, with the client certificate chosen automatically (else headless Firefox waits on
    an invisible dialog)."""
    prefs: list[tuple[str, str | bool | int]] = [
        ("browser.startup.homepage", settings.site),
        ("browser.startup.page", 1),
        ("browser.startup.homepage_override.mstone", "ignore"),
        ("startup.homepage_welcome_url", ""),
        ("browser.aboutwelcome.enabled", False),
        ("browser.shell.checkDefaultBrowser", False),
        (CLIENT_CERT_PREF, CLIENT_CERT_VALUE),
        # telemetry and studies
        ("datareporting.healthreport.uploadEnabled", False),
        ("datareporting.policy.dataSubmissionEnabled", False),
        ("toolkit.telemetry.enabled", False),
        ("toolkit.telemetry.unified", False),
        ("toolkit.telemetry.archive.enabled", False),
        ("app.normandy.enabled", False),
        ("app.shield.optoutstudies.enabled", False),
        ("browser.ping-centre.telemetry", False),
        # safe-browsing look-ups (the allow-list already confines navigation)
        ("browser.safebrowsing.malware.enabled", False),
        ("browser.safebrowsing.phishing.enabled", False),
        ("browser.safebrowsing.downloads.enabled", False),
        ("browser.safebrowsing.downloads.remote.enabled", False),
        ("browser.safebrowsing.blockedURIs.enabled", False),
        # captive-portal and connectivity checks
        ("network.captive-portal-service.enabled", False),
        ("network.connectivity-service.enabled", False),
        # other background networking
        ("network.prefetch-next", False),
        ("network.dns.disablePrefetch", True),
        ("network.http.speculative-parallel-limit", 0),
        ("browser.urlbar.speculativeConnect.enabled", False),
        *_doh_prefs(settings.doh),
        ("extensions.update.enabled", False),
        ("extensions.getAddons.cache.enabled", False),
        ("media.gmp-manager.url", ""),
        ("media.gmp-gmpopenh264.enabled", False),
        ("browser.newtabpage.enabled", False),
        ("browser.newtabpage.activity-stream.feeds.telemetry", False),
        ("browser.newtabpage.activity-stream.feeds.topsites", False),
        ("browser.region.network.url", ""),
        ("identity.fxaccounts.enabled", False),
        ("geo.enabled", False),
    ]
    lines = ["// e-secure profile template: written by `esecure build`, do not edit."]
    lines += [f"user_pref({_js(name)}, {_js(value)});" for name, value in prefs]
    return ("\n".join(lines) + "\n").encode()


def firefox_executable(directory: Path, platform: str) -> Path | None:
    """The Firefox program in an installation directory, or None: the one the key will
    start (``esecure_onkey.browser``, the on-key rule)."""
    return find_executable(directory, platform)


def installation_files(source: Path, platform: str) -> list[Path]:
    """The files :func:`copy_firefox` copies from ``source``: every file, symlinks followed,
    sorted, without the installation's own ``distribution/`` and without what never runs
    on a key (``esecure.bundle.exclude``: the crash reporter, the updater, pingsender, a
    second name of the program the key starts)."""
    started = firefox_executable(source, platform)
    twins: set[str] = set()
    if started is not None:
        twins = set(duplicate_launchers(source, started.name, rule(platform).executables))
    files: list[Path] = []
    for directory, dirs, names in os.walk(source, followlinks=True):
        base = Path(directory)
        if base == source:
            dirs[:] = [d for d in dirs if d != "distribution"]
        dirs.sort()
        for n in sorted(names):
            rel = (base / n).relative_to(source).as_posix()
            if rel not in twins and not firefox_excluded(rel, platform):
                files.append(base / n)
    return files


def copy_firefox(
    source: Path,
    dest: Path,
    platform: str,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Copy an installation with symlinks dereferenced (Debian's relative links would break),
    files 0644 or 0755 (executable when the source is); ``distribution/`` is left out (the
    build writes its own), and so is what never runs (:func:`installation_files`).
    Returns image-relative origins: each copied file's path relative to ``dest`` and the
    file it was copied from."""
    if not source.is_dir() or firefox_executable(source, platform) is None:
        raise UsageError(
            f"no Firefox for {platform} in {source}: expected one of "
            f"{', '.join(rule(platform).executables)} there. Install firefox-esr or correct "
            f"[firefox] {platform} in esecure.toml",
            code="ES910",
        )
    files = installation_files(source, platform)
    total = sum(f.stat().st_size for f in files)
    done = 0
    copied: dict[str, Path] = {}
    for f in files:
        rel = f.relative_to(source)
        copied[rel.as_posix()] = f
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)  # follows symlinks: the bytes, not the link
        target.chmod(0o755 if f.stat().st_mode & 0o111 else 0o644)
        done += f.stat().st_size
        if progress is not None:
            progress(done, total)
    return copied
