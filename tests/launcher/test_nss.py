"""NSS delivery: both paths write the CA and the key's certificate, replace on renewal, and
leave no clear private key anywhere (data area, profile, temporary directory)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from esecure._tools import Result
from esecure.errors import EsecureError, ToolError
from esecure.launcher import enrol as est
from esecure.launcher import nss
from esecure.launcher.keystore import Credential
from esecure_onkey.layout import BUNDLED_LIBS_DIR, nss_libraries
from tests.fake_runner import FakeRunner
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


# --- the tools path through the runner (a fake plays certutil / pk12util) --------------------


def _made_credential() -> tuple[Credential, x509.Certificate]:
    """A CA and a key certificate for serial KEY-FAKE, made here (no EST server)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake CA")])
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "customer"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "KEY-FAKE"),
        ]
    )

    def cert(subject: x509.Name, public: ec.EllipticCurvePublicKey) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(ca_key, hashes.SHA256())
        )

    ca = cert(ca_name, ca_key.public_key())
    return Credential(key, (cert(name, key.public_key()), ca)), ca


def test_missing_certutil_is_es211_naming_the_package(tmp_path):
    """No certutil: ES211 (the user's delivery failed) naming libnss3-tools; nothing ran."""
    credential, ca = _made_credential()
    runner = FakeRunner(absent=frozenset({"certutil"}))
    with pytest.raises(ToolError) as info:
        nss.deliver(tmp_path / "p", credential, ca, firefox_dir=None, method="tools", runner=runner)
    assert info.value.code == "ES211"
    assert info.value.detail == (
        "neither Firefox's NSS nor certutil/pk12util are available: certutil is not "
        "installed, and delivering the certificate without Firefox's NSS needs it: install "
        "it with `sudo apt-get install libnss3-tools`"
    )
    assert runner.calls == []


def test_tools_path_trusts_the_ca_then_imports_the_pkcs12(tmp_path):
    """certutil makes the database, trusts the CA (C,,), clears the nickname; pk12util imports."""
    credential, ca = _made_credential()

    def answer(tool: str, args: tuple[str, ...]) -> Result:
        return Result(1 if tool == "certutil" and args[0] in ("-F", "-D") else 0)

    runner = FakeRunner(answer=answer)
    delivery = nss.deliver(
        tmp_path / "p", credential, ca, firefox_dir=None, method="tools", runner=runner
    )
    assert delivery == nss.Delivery("tools", "e-secure KEY-FAKE")
    assert [(c.tool, c.args[0]) for c in runner.calls] == [
        ("certutil", "-N"),
        ("certutil", "-A"),
        ("certutil", "-F"),
        ("certutil", "-D"),
        ("pk12util", "-i"),
    ]
    assert runner.calls[1].args[-4:-2] == ("-t", "C,,")
    assert {(c.code, c.timeout, c.check) for c in runner.calls} == {("ES211", 30, False)}


def test_failing_pk12util_is_es211_with_its_message(tmp_path):
    """pk12util refusing the import: ES211 quoting what it said."""
    credential, ca = _made_credential()

    def answer(tool: str, args: tuple[str, ...]) -> Result:
        if tool == "pk12util":
            return Result(255, "", "pk12util: PKCS12 decode failed\n")
        return Result(1 if args[0] in ("-F", "-D") else 0)

    with pytest.raises(EsecureError) as info:
        nss.deliver(
            tmp_path / "p",
            credential,
            ca,
            firefox_dir=None,
            method="tools",
            runner=FakeRunner(answer=answer),
        )
    assert (info.value.code, info.value.detail) == (
        "ES211",
        "pk12util: pk12util: PKCS12 decode failed",
    )


LOAD_AND_SHOW_MAPS = (
    "import sys; from pathlib import Path; from esecure.launcher import nss; "
    "nss._load_nss(Path(sys.argv[1])); "
    "print('\\n'.join(sorted({l.split()[-1] for l in open('/proc/self/maps') "
    "if 'libnspr4' in l or 'libplc4' in l or 'libplds4' in l})))"
)


def _nspr_mapped(firefox: Path) -> list[str]:
    """The NSPR files a fresh launcher process maps after loading ``firefox``'s NSS."""
    out = subprocess.run(
        [sys.executable, "-c", LOAD_AND_SHOW_MAPS, str(firefox)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"},
    )
    return out.stdout.split()


@pytest.mark.skipif(not FIREFOX.is_dir(), reason="firefox-esr is not installed")
def test_the_launcher_loads_the_bundled_nspr_not_the_hosts(tmp_path):
    """With bundled-libs/ beside Firefox, the launcher's process maps NSPR from there (by
    absolute path, before NSS) and never the host's; without it (control), the host's."""
    firefox = tmp_path / "firefox"
    firefox.mkdir()
    preload, _api = nss_libraries("linux")
    for name in preload:
        shutil.copyfile(FIREFOX / name, firefox / name)
    assert all(p.startswith("/usr/lib/") for p in _nspr_mapped(firefox))
    bundled = firefox / BUNDLED_LIBS_DIR
    bundled.mkdir()
    for name in ("libnspr4.so", "libplc4.so", "libplds4.so"):
        shutil.copyfile(Path("/usr/lib/x86_64-linux-gnu") / name, bundled / name)
    assert _nspr_mapped(firefox) == sorted(str(p) for p in bundled.iterdir())
