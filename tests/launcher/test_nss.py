"""NSS delivery: both paths write the CA and the key's certificate, replace on renewal, and
leave no clear private key anywhere (data area, profile, temporary directory)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from esecure.errors import EsecureError
from esecure.launcher import enrol as est
from esecure.launcher import nss
from esecure_onkey.layout import nss_libraries
from tests.launcher import est_fixtures

customer = est_fixtures.customer
data_area = est_fixtures.data_area
est_server = est_fixtures.est_server
settings = est_fixtures.settings

FIREFOX = Path("/usr/lib/firefox-esr")
METHODS = ["ctypes", "tools"]


def _listing(profile: Path) -> str:
    env = {**os.environ, "LD_LIBRARY_PATH": str(FIREFOX)}
    out = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{profile}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    ).stdout
    keys = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{profile}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    ).stdout
    return out + keys


def _ca(settings) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(settings.ca_file).read_bytes())


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_delivery_and_redelivery_after_renewal(method, data_area, customer, settings):
    """The CA is trusted (C,,), the key's certificate imported; renewal replaces it."""
    profile = data_area / "profile"
    first = est.enrol(data_area, customer.identifier, customer.code, settings)
    assert (
        nss.deliver(profile, first, _ca(settings), firefox_dir=FIREFOX, method=method).method
        == method
    )
    listing = _listing(profile)
    assert "e-secure KEY-0001" in listing
    assert listing.count("e-secure KEY-0001") == 2  # the certificate and its key
    second = est.renew(data_area, settings)
    nss.deliver(profile, second, _ca(settings), firefox_dir=FIREFOX, method=method)
    listing = _listing(profile)
    assert listing.count("e-secure KEY-0001") == 2
    env = {**os.environ, "LD_LIBRARY_PATH": str(FIREFOX)}
    pem = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{profile}", "-n", "e-secure KEY-0001", "-a"],
        capture_output=True,
        env=env,
        timeout=30,
        check=True,
    ).stdout
    assert x509.load_pem_x509_certificate(pem) == second.certificate


def test_profile_in_use_is_refused(tmp_path, data_area, customer, settings):
    """A profile locked by a live Firefox is not touched (ES401)."""
    credential = est.enrol(data_area, customer.identifier, customer.code, settings)
    profile = tmp_path / "profile"
    profile.mkdir()
    (profile / "lock").symlink_to(f"127.0.0.1:+{os.getpid()}")
    with pytest.raises(EsecureError) as info:
        nss.deliver(profile, credential, _ca(settings), firefox_dir=FIREFOX)
    assert info.value.code == "ES401"
    assert sorted(p.name for p in profile.iterdir()) == ["lock"]


def test_stale_lock_of_a_dead_firefox_is_ignored(tmp_path):
    """A lock left by a crashed Firefox (dead pid) does not block delivery."""
    (tmp_path / "lock").symlink_to("127.0.0.1:+999999999")
    assert not nss.profile_in_use(tmp_path)


def test_missing_firefox_nss_is_es211(tmp_path, data_area, customer, settings):
    """ctypes without Firefox's libraries: ES211 naming the missing file."""
    credential = est.enrol(data_area, customer.identifier, customer.code, settings)
    with pytest.raises(EsecureError) as info:
        nss.deliver(
            tmp_path / "p", credential, _ca(settings), firefox_dir=tmp_path, method="ctypes"
        )
    assert info.value.code == "ES211"
    assert "libnssutil3.so" in info.value.detail


@pytest.mark.parametrize("platform", ["linux", "windows", "macos"])
def test_library_order_per_platform(platform):
    """Firefox's own NSS: nssutil/mozglue first, softoken before use (FINDINGS)."""
    preload, api = nss_libraries(platform)
    assert api in preload
    if platform == "windows":
        assert preload[0] == "mozglue.dll"
        assert preload.index("nss3.dll") < preload.index("softokn3.dll")
    if platform == "linux":
        assert preload[:2] == ("libnssutil3.so", "libnss3.so")
        assert preload.index("libfreeblpriv3.so") < preload.index("libsoftokn3.so")


def _secrets_of(key) -> list[bytes]:
    clear_pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    return [raw, clear_pkcs8]


def _scan(roots: list[Path], needles: list[bytes]) -> list[str]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if not path.is_file() or path.is_symlink():
                continue
            data = path.read_bytes()
            found += [f"{path}: raw key bytes" for needle in needles if needle in data]
            markers = (b"BEGIN PRIVATE KEY", b"BEGIN EC PRIVATE KEY", b"BEGIN RSA PRIVATE")
            found += [f"{path}: clear PEM key" for marker in markers if marker in data]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_attack_scan_finds_no_clear_private_key(method, tmp_path, data_area, customer, settings):
    """After enrolment, renewal and delivery: no raw key bytes nor clear key in the data
    area, the profile or the host's temporary directory."""
    host_tmp = tmp_path / "host-tmp"
    host_tmp.mkdir()
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", str(host_tmp))
    patch.setattr(tempfile, "tempdir", None)
    try:
        _enrol_renew_deliver(method, data_area, customer, settings, host_tmp)
    finally:
        patch.undo()


def _enrol_renew_deliver(method, data_area, customer, settings, host_tmp):
    profile = data_area / "profile"
    keys = []
    credential = est.enrol(data_area, customer.identifier, customer.code, settings)
    keys.append(credential.key)
    nss.deliver(profile, credential, _ca(settings), firefox_dir=FIREFOX, method=method)
    credential = est.renew(data_area, settings)
    keys.append(credential.key)
    nss.deliver(profile, credential, _ca(settings), firefox_dir=FIREFOX, method=method)
    needles = [n for key in keys for n in _secrets_of(key)]
    assert (profile / "key4.db").exists()
    assert _scan([data_area, host_tmp], needles) == []


@pytest.mark.slow
def test_auto_falls_back_to_the_tools(tmp_path, data_area, customer, settings):
    """auto: without Firefox's NSS in firefox_dir, certutil/pk12util deliver."""
    credential = est.enrol(data_area, customer.identifier, customer.code, settings)
    delivery = nss.deliver(tmp_path / "p", credential, _ca(settings), firefox_dir=tmp_path)
    assert delivery.method == "tools"
    assert "e-secure KEY-0001" in _listing(tmp_path / "p")


@pytest.mark.parametrize("method", METHODS)
def test_unusable_profile_is_es211(method, tmp_path, data_area, customer, settings):
    """A profile path that is a file: ES211 on both paths, the file left as it was."""
    credential = est.enrol(data_area, customer.identifier, customer.code, settings)
    blocker = tmp_path / "profile"
    blocker.write_bytes(b"not a directory")
    with pytest.raises(EsecureError) as info:
        nss.deliver(blocker, credential, _ca(settings), firefox_dir=FIREFOX, method=method)
    assert info.value.code == "ES211"
    assert blocker.read_bytes() == b"not a directory"
