"""The built image's Firefox, read from inside: every policy active, none in error.

The image (the session's served image: built by `esecure build` with ``[firefox]
automation``, so WebDriver BiDi may attach) starts headless on a copy of its profile
template with ``--remote-allow-system-access``; the tests then run privileged code in the
browser window's chrome context and read the policy engine as ``about:policies`` does
(Firefox ESR 153, browser/components/enterprisepolicies/content/aboutPolicies.js):
``Services.policies.status``, ``getActivePolicies()``, and its Errors tab, which lists the
console messages of the policy engine's loggers (by prefix) and the failures recorded in
``PolicyFailures`` (resource://gre/modules/PoliciesHelpers.sys.mjs).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from esecure.bundle.firefox import doh_policy, proxy_policy
from esecure.demo.bidi import Browser
from esecure.demo.images import Served
from tests.firefox_profiles import FIREFOX_TEST
from tests.launcher.est_fixtures import RawServer, connect_proxy

pytestmark = FIREFOX_TEST

SYSTEM_ACCESS = ["--remote-allow-system-access"]

# about:policies' Errors tab: the console prefixes of the policy engine's loggers.
_ENGINE_PREFIXES = [
    "Enterprise Policies",
    "PolicySchemaValidator",
    "Policies",
    "WindowsGPOParser",
    "Enterprise Policies Child",
    "BookmarksPolicies",
    "ProxyPolicies",
    "WebsiteFilter Policy",
    "macOSPoliciesParser",
]

POLICY_STATE = (
    """(async () => {
  await SessionStore.promiseAllWindowsRestored;  // the last policy callbacks have run
  const { PolicyFailures } = ChromeUtils.importESModule(
    "resource://gre/modules/PoliciesHelpers.sys.mjs");
  const prefixes = """
    + json.dumps(_ENGINE_PREFIXES)
    + """;
  const storage = Cc["@mozilla.org/consoleAPI-storage;1"].getService(Ci.nsIConsoleAPIStorage);
  const errors = storage.getEvents().filter(e => prefixes.includes(e.prefix))
    .map(e => `${e.prefix} (${e.level}): ${e.arguments.map(String).join(" ")}`);
  const pref = name => [Services.prefs.getPrefType(name) === Services.prefs.PREF_INT
      ? Services.prefs.getIntPref(name) : Services.prefs.getBoolPref(name, null),
    Services.prefs.prefIsLocked(name)];
  return {
    active: Services.policies.status === Services.policies.ACTIVE,
    names: Object.keys(Services.policies.getActivePolicies() || {}),
    failures: JSON.stringify(PolicyFailures.getAll()),
    errors,
    prefs: Object.fromEntries([
      "permissions.default.camera", "permissions.default.microphone",
      "permissions.default.geo", "permissions.default.desktop-notification",
      "security.tls.version.min", "network.trr.mode", "network.proxy.type",
      "privacy.sanitize.sanitizeOnShutdown", "privacy.clearOnShutdown_v2.cookiesAndStorage",
      "browser.formfill.enable", "browser.download.useDownloadDir",
    ].map(name => [name, pref(name)])),
  };
})()"""
)


def _firefox(served: Served) -> Path:
    return served.cd / "firefox" / "linux" / "firefox-esr"


def _profile(served: Served, directory: Path) -> Path:
    """A fresh profile from the image's template (what the launcher copies)."""
    directory.mkdir(parents=True)
    shutil.copyfile(served.cd / "profile" / "user.js", directory / "user.js")
    return directory


def _state(browser: Browser) -> dict[str, Any]:
    state: dict[str, Any] = browser.evaluate(POLICY_STATE, context=browser.chrome_context())
    return state


def test_every_policy_of_the_image_is_active_and_none_in_error(served, tmp_path):
    """Status active; the active policies are exactly the image's policies.json; no error
    in about:policies' sense; the locks the table promises are in force."""
    written = json.loads(
        (served.cd / "firefox/linux/distribution/policies.json").read_text(encoding="utf-8")
    )["policies"]
    profile = _profile(served, tmp_path / "profile")
    with Browser.start(
        profile, home=tmp_path / "home", extra_args=SYSTEM_ACCESS, executable=_firefox(served)
    ) as browser:
        state = _state(browser)
        browser.navigate("about:addons")
        shown = browser.evaluate("document.documentURI")
    assert state["active"] is True
    assert sorted(state["names"]) == sorted(written)
    assert state["failures"] == "{}"
    assert state["errors"] == []
    prefs = state["prefs"]
    for name in (
        "permissions.default.camera",
        "permissions.default.microphone",
        "permissions.default.geo",
        "permissions.default.desktop-notification",
    ):
        assert prefs[name] == [2, True], name  # blocked, locked
    assert prefs["security.tls.version.min"] == [3, True]  # TLS 1.2
    assert prefs["network.trr.mode"] == [5, True]  # [network] doh = "off"
    assert prefs["network.proxy.type"] == [5, True]  # [network] proxy = "system"
    assert prefs["privacy.sanitize.sanitizeOnShutdown"] == [True, True]
    assert prefs["privacy.clearOnShutdown_v2.cookiesAndStorage"] == [True, True]
    assert prefs["browser.formfill.enable"] == [False, True]
    assert prefs["browser.download.useDownloadDir"] == [False, True]
    assert shown.startswith("about:neterror?e=blockedByPolicy"), shown  # BlockAboutAddons


HISTORY_URL = "https://127.0.0.1/lockdown-visit"
CLIENT = "lockdown-client"

_SESSION = """(async () => {
  await SessionStore.promiseAllWindowsRestored;
  const url = HISTORY_URL;
  const db = Cc["@mozilla.org/security/x509certdb;1"].getService(Ci.nsIX509CertDB);
  const certificates = db.getCerts().filter(c => c.commonName === CLIENT).length;
  const visited = await PlacesUtils.history.hasVisits(url);
  if (!visited) {
    await PlacesUtils.history.insert({url, visits: [{date: new Date()}]});
  }
  return {certificates, visited, now: await PlacesUtils.history.hasVisits(url)};
})()""".replace("HISTORY_URL", json.dumps(HISTORY_URL)).replace("CLIENT", json.dumps(CLIENT))


def _certutil(*args: str) -> str:
    proc = subprocess.run(
        ["certutil", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_sanitize_on_shutdown_keeps_the_client_certificate(served, tmp_path):
    """Two sessions on one profile holding a client certificate and its key: what the
    first session visited is gone in the second (SanitizeOnShutdown ran at shutdown), the
    certificate and its private key are still in the profile's NSS database."""
    profile = _profile(served, tmp_path / "profile")
    database = f"sql:{profile}"
    (tmp_path / "noise").write_bytes(bytes(range(256)) * 4)
    _certutil("-N", "-d", database, "--empty-password")
    _certutil(
        "-S", "-x", "-n", CLIENT, "-s", f"CN={CLIENT}", "-t", ",,", "-k", "ec", "-q",
        "nistp256", "-v", "12", "-z", str(tmp_path / "noise"), "-d", database,
    )  # fmt: skip
    runs = []
    for run in range(2):
        with Browser.start(
            profile,
            home=tmp_path / f"home-{run}",
            extra_args=SYSTEM_ACCESS,
            executable=_firefox(served),
        ) as browser:
            runs.append(browser.evaluate(_SESSION, context=browser.chrome_context()))
    assert runs[0] == {"certificates": 1, "visited": False, "now": True}
    assert runs[1]["visited"] is False  # the first session's history was sanitized
    assert runs[1]["certificates"] == 1  # the client certificate survived
    assert CLIENT in _certutil("-K", "-d", database)  # and its private key


def test_firefox_follows_a_configured_proxy_and_resolver(served, tmp_path):
    """The image's Firefox with [network] proxy = a loopback CONNECT proxy and doh = a
    resolver URL (its policies.json rewritten in a linked copy): both policies active
    without error, the locks in force, and the bank's page is fetched through the proxy."""
    firefox = tmp_path / "firefox"
    subprocess.run(
        ["cp", "-al", str(served.cd / "firefox" / "linux"), str(firefox)], check=True, timeout=60
    )
    written = firefox / "distribution" / "policies.json"
    table = json.loads(written.read_text(encoding="utf-8"))
    seen: list[str] = []
    with RawServer(connect_proxy(seen)) as proxy:
        table["policies"]["Proxy"] = proxy_policy(f"http://127.0.0.1:{proxy.port}")
        table["policies"]["DNSOverHTTPS"] = doh_policy("https://127.0.0.1:9/dns-query")
        written.unlink()  # a hard link to the image's file: replace it, never write through
        written.write_text(json.dumps(table), encoding="utf-8")
        profile = _profile(served, tmp_path / "profile")
        with (profile / "user.js").open("a", encoding="utf-8") as js:
            # Firefox never proxies loopback unless told to (test only, not the image's).
            js.write('user_pref("network.proxy.allow_hijacking_localhost", true);\n')
        with Browser.start(
            profile,
            home=tmp_path / "home",
            extra_args=SYSTEM_ACCESS,
            executable=firefox / "firefox-esr",
        ) as browser:
            state = _state(browser)  # the locked homepage, the bank's, has been asked for
            for _ in range(100):  # bounded: 10 s at most
                if seen:
                    break
                time.sleep(0.1)
    assert state["active"] is True
    assert sorted(state["names"]) == sorted(table["policies"])
    assert (state["failures"], state["errors"]) == ("{}", [])
    assert state["prefs"]["network.proxy.type"] == [1, True]  # manual, locked
    assert state["prefs"]["network.trr.mode"] == [3, True]  # the resolver only, locked
    assert f"CONNECT {served.url.split('/')[2]}" in seen
