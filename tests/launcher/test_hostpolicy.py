"""Host-policy detection: Firefox policies of the PC that would weaken the key's."""

from __future__ import annotations

from esecure.bundle.firefox import BrowserSettings, policies
from esecure.launcher.hostpolicy import gpo_policies, read_linux_host_policies, weakenings

SETTINGS = BrowserSettings(
    site="https://bank.example:8443/portal/", allowed_hosts=("static.bank.example", "*.cdn.example")
)

KEY = policies(SETTINGS)


def test_no_host_policies_no_weakening():
    """A host without policies changes nothing."""
    assert weakenings(KEY, None, "replace") == []
    assert weakenings(KEY, {}, "merge") == []


def test_linux_host_file_replaces_the_keys():
    """On Linux a host file drops every key policy it lacks, and changes what it sets."""
    host = dict(KEY)
    del host["WebsiteFilter"]
    host["BlockAboutConfig"] = False
    found = {w.policy: w for w in weakenings(KEY, host, "replace")}
    assert set(found) == {"BlockAboutConfig", "WebsiteFilter"}
    assert found["WebsiteFilter"].host_value is None
    assert "removed" in found["WebsiteFilter"].render()


def test_windows_group_policy_merges():
    """Merged Group Policy weakens only by changing a key policy or adding a risky one."""
    host = {"BlockAboutConfig": False, "Proxy": {"Mode": "manual"}, "DisplayMenuBar": "always"}
    assert [w.policy for w in weakenings(KEY, host, "merge")] == ["BlockAboutConfig", "Proxy"]


def test_identical_host_policies_are_fine():
    """A host that repeats the key's policies weakens nothing, in either mode."""
    assert weakenings(KEY, dict(KEY), "replace") == []
    assert weakenings(KEY, dict(KEY), "merge") == []


def test_reading_host_policies(tmp_path):
    """Missing: None; valid: its policies; malformed: reported, never ignored."""
    path = tmp_path / "policies.json"
    assert read_linux_host_policies(path) is None
    path.write_text('{"policies": {"DisableTelemetry": false}}')
    assert read_linux_host_policies(path) == {"DisableTelemetry": False}
    path.write_text("{not json")
    bad = read_linux_host_policies(path)
    assert bad is not None
    assert list(bad) == ["(malformed host policies file)"]


def test_group_policy_registry_becomes_policies():
    """DWORDs, numbered list keys, nested keys and JSON text read as Firefox reads them."""
    hklm = (
        {"BlockAboutConfig": 0, "ExtensionSettings": '{"*": {"installation_mode": "allowed"}}'},
        {
            "Certificates": ({"ImportEnterpriseRoots": 1}, {"Install": ({"1": "corp.pem"}, {})}),
            "Homepage": ({"URL": "https://intranet/", "Locked": 1}, {}),
        },
    )
    hkcu = ({"BlockAboutConfig": 1, "DisplayMenuBar": "always"}, {})
    assert gpo_policies(hklm, hkcu) == {
        "BlockAboutConfig": 0,  # HKLM wins over HKCU
        "DisplayMenuBar": "always",
        "ExtensionSettings": {"*": {"installation_mode": "allowed"}},
        "Certificates": {"ImportEnterpriseRoots": 1, "Install": ["corp.pem"]},
        "Homepage": {"URL": "https://intranet/", "Locked": 1},
    }
    assert gpo_policies(None, None) == {}


def test_group_policy_dwords_equal_to_the_keys_are_no_weakening():
    """DWORD 1 for a key's true (and nested ones) is the same policy, not a false alarm."""
    host = gpo_policies(
        ({"BlockAboutConfig": 1}, {"PDFjs": ({"Enabled": 1, "EnablePermissions": 0}, {})}), None
    )
    assert weakenings(KEY, host, "merge") == []


def test_domain_policies_that_weaken_the_key_are_found():
    """A domain PC re-enabling about:config and importing its roots is reported."""
    host = gpo_policies(
        (
            {"BlockAboutConfig": 0},
            {"Certificates": ({"ImportEnterpriseRoots": 1}, {})},
        ),
        None,
    )
    found = [w.policy for w in weakenings(KEY, host, "merge")]
    assert found == ["BlockAboutConfig", "Certificates"]
