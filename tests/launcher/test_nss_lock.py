"""Is Firefox running on the profile? The locks Firefox really takes, per platform.

A real headless Firefox ESR holds the profile; its ``lock`` symlink is removed to stand
for FAT (the data partition has no symlinks), leaving only the fcntl lock on
``.parentlock``. Windows' ``parent.lock`` cannot be opened here: its decision is tested
with the Win32 errors it can give.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from esecure.errors import EsecureError
from esecure.launcher import nss
from esecure.launcher.keystore import Credential

FIREFOX = shutil.which("firefox-esr")
STARTUP_DEADLINE = 45.0
_HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
time.sleep(60)
"""


def _credential() -> tuple[Credential, x509.Certificate]:
    now = dt.datetime.now(dt.UTC)

    def cert(subject: x509.Name, key: ec.EllipticCurvePrivateKey, signer, ca: bool):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    ca_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lock test CA")])
    ca = cert(ca_name, ca_key, ca_key, ca=True)
    leaf_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "customer"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, "LOCKTEST1"),
        ]
    )
    return Credential(leaf_key, (cert(leaf_name, leaf_key, ca_key, ca=False), ca)), ca


def test_no_lock_files_means_free(tmp_path):
    """A profile no Firefox ever opened is not in use."""
    assert not nss.profile_in_use(tmp_path)


def test_stale_parentlock_is_free(tmp_path):
    """A ``.parentlock`` left by a Firefox that exited (no fcntl lock on it) is free."""
    (tmp_path / ".parentlock").write_bytes(b"")
    assert not nss.profile_in_use(tmp_path)


def test_fcntl_lock_of_another_process_is_in_use(tmp_path):
    """Another process holding the fcntl lock on ``.parentlock`` (as Firefox does on FAT)."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(tmp_path / ".parentlock")],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "locked"
            assert nss.profile_in_use(tmp_path, platform="linux")
            assert nss.profile_in_use(tmp_path, platform="macos")
        finally:
            holder.kill()
            holder.wait(timeout=30)
    assert not nss.profile_in_use(tmp_path)


@pytest.mark.parametrize(
    ("error", "in_use"),
    [(0, False), (2, False), (3, False), (32, True), (33, True), (5, True)],
    ids=["opened", "no-file", "no-path", "sharing-violation", "lock-violation", "denied"],
)
def test_windows_parent_lock_decision(error, in_use):
    """Win32 error of an unshared open of ``parent.lock`` → in use or not (pure)."""
    assert nss.windows_lock_held(error) is in_use


@pytest.mark.parametrize(("error", "in_use"), [(32, True), (0, False)])
def test_windows_reads_parent_lock_and_never_kills(tmp_path, monkeypatch, error, in_use):
    """On Windows ``parent.lock`` decides; ``os.kill`` (TerminateProcess there) is never called."""
    (tmp_path / "lock").symlink_to(f"127.0.0.1:+{os.getpid()}")
    opened: list[Path] = []

    def unshared(path: Path) -> int:
        opened.append(path)
        return error

    def no_kill(*_args: object) -> None:
        raise AssertionError("os.kill called on Windows")

    monkeypatch.setattr(nss, "_open_unshared_windows", unshared)
    monkeypatch.setattr(os, "kill", no_kill)
    assert nss.profile_in_use(tmp_path, platform="windows") is in_use
    assert opened == [tmp_path / "parent.lock"]


def _firefox_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "MOZ_HEADLESS": "1",
        "MOZ_CRASHREPORTER_DISABLE": "1",
        "TMPDIR": str(home),
    }


def _wait_for_locks(profile: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_DEADLINE
    while time.monotonic() < deadline and proc.poll() is None:
        names = {".parentlock", "lock", "cert9.db", "key4.db", "compatibility.ini"}
        if names <= {p.name for p in profile.iterdir()}:
            return
        time.sleep(0.2)
    pytest.fail(f"Firefox did not lock {profile} and open its NSS database in time")


def _databases(profile: Path) -> dict[str, tuple[int, bytes]]:
    """Modification time and bytes of the profile's NSS databases."""
    return {
        name: ((profile / name).stat().st_mtime_ns, (profile / name).read_bytes())
        for name in ("cert9.db", "key4.db")
    }


@pytest.mark.slow
@pytest.mark.skipif(FIREFOX is None, reason="firefox-esr is installed by install-system-deps")
def test_attack_delivery_under_a_running_firefox_on_fat(tmp_path):
    """Live Firefox, no ``lock`` symlink (FAT): in use, ES401, nothing written; free after."""
    profile, home = tmp_path / "profile", tmp_path / "home"
    profile.mkdir()
    home.mkdir()
    (profile / "user.js").write_text('user_pref("browser.shell.checkDefaultBrowser", false);\n')
    credential, ca = _credential()
    command = [str(FIREFOX), "--headless", "--no-remote", "--profile", str(profile), "about:blank"]
    with subprocess.Popen(
        command,
        env=_firefox_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as proc:
        try:
            _wait_for_locks(profile, proc)
            (profile / "lock").unlink()  # as on FAT: only the fcntl lock remains
            time.sleep(1.0)  # let Firefox finish its start-up writes to the databases
            assert nss.profile_in_use(profile)
            before = _databases(profile)
            with pytest.raises(EsecureError) as info:
                nss.deliver(profile, credential, ca, firefox_dir=None, method="tools")
            assert info.value.code == "ES401"
            assert _databases(profile) == before
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert not nss.profile_in_use(profile)
    assert nss.delivered_serial(profile) is None
