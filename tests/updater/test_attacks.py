"""Attacks on the update channel, one named test each, against a repository the test controls.

Each rejected case asserts the catalogue code AND that nothing the attack served was kept:
the slots and the pointer records are byte-for-byte unchanged, and so is the trusted
metadata, except the files verified before the attacked step failed (the TUF workflow
keeps each file once verified: 5.3.8, 5.4.5, 5.5.7): those, named in the test's docstring
and its ``kept``, are exactly the bytes the server served.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pytest
from securesystemslib.interface import (
    generate_and_write_unencrypted_ed25519_keypair,
    import_ed25519_privatekey_from_file,
    import_ed25519_publickey_from_file,
)
from securesystemslib.signer import SSlibKey, SSlibSigner
from tuf.api import exceptions
from tuf.api.metadata import Metadata
from tuf.api.serialization.json import JSONSerializer

from esecure.errors import UpdateError, UpdateSecurityError
from esecure.updater._security import classify
from esecure.updater.client import UpdateClient, mark_good
from esecure.updater.publish import rotate_key
from esecure_onkey import boot

from . import conftest
from .conftest import resign, snapshot_tree, tuf_signer

APP = "demo-bank"


def _client(repo, data):
    return UpdateClient(
        data, repo.url, APP, initial_root=repo.initial_root, image_key=repo.image_key, timeout=5
    )


@pytest.fixture
def installed(repo, tmp_path):
    """A data area running 1.0.0 from slot A (marked good), with 1.1.0 then published."""
    data = tmp_path / "data"
    c = _client(repo, data)
    offer = c.check("0.9.0")
    c.install(offer, c.download(offer), running_slot=None)
    mark_good(data)
    repo.publish("1.1.0", tmp_path)
    return data


def _state(data: Path) -> dict[str, bytes]:
    return snapshot_tree(data)


_key = tuf_signer
_resign = resign


def _rejected(
    repo,
    data,
    code: str,
    *,
    current: str = "1.0.0",
    phase: str = "check",
    kept: tuple[str, ...] = (),
) -> UpdateError:
    """Run a check (and a download), expect ``code``; on the key only the trusted metadata
    files in ``kept`` changed, each to the bytes served (verified before the failure)."""
    c = _client(repo, data)
    if phase == "check":
        before = _state(data)
        with pytest.raises(UpdateSecurityError) as err:
            c.check(current)
    else:
        offer = c.check(current)
        before = _state(data)
        with pytest.raises(UpdateSecurityError) as err:
            c.install(offer, c.download(offer), running_slot="A")
    assert err.value.code == code, err.value.detail
    expected = dict(before)
    for name in kept:
        expected[f"updates/metadata/{name}"] = (repo.served / "metadata" / name).read_bytes()
    assert _state(data) == expected
    return err.value


def _unchanged(_signed) -> None:
    return None


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_tampered_archive_is_es506(repo, installed):
    """A full archive altered on the server (same length) is refused by TUF's hash check."""
    (installed / "updates" / "cache" / f"{APP}-1.0.0.tar").unlink()  # force the full archive
    _tamper(repo.served / "targets" / f"{APP}-1.1.0.tar.gz")
    err = _rejected(repo, installed, "ES506", phase="download")
    assert isinstance(err.__cause__, exceptions.LengthOrHashMismatchError)
    assert "Observed hash" in err.detail


def test_tampered_patch_is_es506(repo, installed):
    """A patch altered on the server fails TUF's hash check: refused, nothing installed."""
    _tamper(repo.served / "targets" / f"{APP}-1.1.0.patch")
    _rejected(repo, installed, "ES506", phase="download")


def test_wrong_length_archive_is_es506(repo, installed):
    """A truncated archive (shorter than signed) is refused by TUF's length check."""
    (installed / "updates" / "cache" / f"{APP}-1.0.0.tar").unlink()
    path = repo.served / "targets" / f"{APP}-1.1.0.tar.gz"
    signed = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-100])
    err = _rejected(repo, installed, "ES506", phase="download")
    assert isinstance(err.__cause__, exceptions.LengthOrHashMismatchError)
    assert f"Observed length {signed - 100} does not match expected length {signed}" in err.detail


def test_archive_longer_than_signed_is_a_length_mismatch_es506(repo, installed):
    """An archive served whole with a Content-Length above its signed length: cut at the
    signed length by TUF and reported as a length mismatch, not as endless data."""
    (installed / "updates" / "cache" / f"{APP}-1.0.0.tar").unlink()
    path = repo.served / "targets" / f"{APP}-1.1.0.tar.gz"
    signed = path.stat().st_size
    with path.open("ab") as f:
        f.write(b"\0" * 20_000_000)
    err = _rejected(repo, installed, "ES506", phase="download")
    assert isinstance(err.__cause__, exceptions.DownloadLengthMismatchError)
    assert f"announced {signed + 20_000_000} bytes" in err.detail
    assert f"maximum allowed length of {signed}" in err.detail


ENDLESS_SECONDS = 30  # the endless server stops by itself after this: the test's bound


def test_endless_target_data_is_es507(repo, installed, monkeypatch):
    """An archive streamed without end (no Content-Length, the server writes until the
    client hangs up) is cut at its signed length: ES507, nothing kept."""
    (installed / "updates" / "cache" / f"{APP}-1.0.0.tar").unlink()
    target = f"/targets/{APP}-1.1.0.tar.gz"
    seen = {"sent": 0, "hung_up": False}
    serve_file = conftest._Handler.do_GET

    def endless(handler) -> None:
        if handler.path != target:
            serve_file(handler)
            return
        handler.send_response(200)
        handler.end_headers()  # HTTP/1.0, no Content-Length: the body ends when one side closes
        chunk, stop = b"\0" * 65536, time.monotonic() + ENDLESS_SECONDS
        try:
            for _ in range(1_000_000):  # bounded: 64 GB, or ENDLESS_SECONDS, whichever first
                if time.monotonic() > stop:
                    return
                handler.wfile.write(chunk)
                seen["sent"] += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            seen["hung_up"] = True

    monkeypatch.setattr(conftest._Handler, "do_GET", endless)
    signed = (repo.served / "targets" / f"{APP}-1.1.0.tar.gz").stat().st_size
    err = _rejected(repo, installed, "ES507", phase="download")
    assert isinstance(err.__cause__, exceptions.DownloadLengthMismatchError)
    assert f"maximum allowed length of {signed}" in err.detail
    deadline = time.monotonic() + 10
    while not seen["hung_up"] and time.monotonic() < deadline:  # the server sees the hang-up
        time.sleep(0.05)
    assert seen["hung_up"], "the client read on: the server stopped at its own time bound"
    assert seen["sent"] > signed


def test_endless_timestamp_is_es507(repo, installed):
    """A timestamp.json far larger than any real one is cut at the role's maximum."""
    path = repo.served / "metadata" / "timestamp.json"
    path.write_bytes(path.read_bytes() + b" " * 5_000_000)
    _rejected(repo, installed, "ES507")


def test_timestamp_rollback_is_es503(repo, installed, tmp_path):
    """After the client saw timestamp vN, replaying an older timestamp is refused."""
    old = tmp_path / "old-timestamp.json"
    shutil.copyfile(repo.served / "metadata" / "timestamp.json", old)
    repo.publish("1.2.0", tmp_path)
    _client(repo, installed).check("1.0.0")  # the client now trusts the newer metadata
    shutil.copyfile(old, repo.served / "metadata" / "timestamp.json")
    _rejected(repo, installed, "ES503")


def test_snapshot_rollback_is_es503(repo, installed, tmp_path):
    """A (compromised-key) timestamp pointing at an older snapshot is refused."""
    old = tmp_path / "old-snapshot.json"
    shutil.copyfile(repo.served / "metadata" / "snapshot.json", old)
    repo.publish("1.2.0", tmp_path)
    _client(repo, installed).check("1.0.0")  # the client now trusts the newer metadata
    old_version = Metadata.from_file(str(old)).signed.version
    shutil.copyfile(old, repo.served / "metadata" / "snapshot.json")

    def point_at_old(ts):
        ts.snapshot_meta.version = old_version

    _resign(repo, "timestamp.json", point_at_old, [_key(repo, "timestamp-1")])
    _rejected(repo, installed, "ES503")


def test_targets_rollback_is_es503(repo, installed, tmp_path):
    """A (compromised-key) snapshot listing an older targets version is refused; the
    timestamp naming it passed its checks (5.4) and is kept."""
    old = tmp_path / "old-targets.json"
    shutil.copyfile(repo.served / "metadata" / "targets.json", old)
    repo.publish("1.2.0", tmp_path)
    _client(repo, installed).check("1.0.0")  # the client now trusts the newer metadata
    old_version = Metadata.from_file(str(old)).signed.version
    shutil.copyfile(old, repo.served / "metadata" / "targets.json")

    def list_old(snap):
        snap.meta["targets.json"].version = old_version

    _resign(repo, "snapshot.json", list_old, [_key(repo, "snapshot-1")])
    new_snapshot = Metadata.from_file(str(repo.served / "metadata" / "snapshot.json"))

    def follow(ts):
        ts.snapshot_meta.version = new_snapshot.signed.version

    _resign(repo, "timestamp.json", follow, [_key(repo, "timestamp-1")])
    _rejected(repo, installed, "ES503", kept=("timestamp.json",))


def test_freeze_expired_timestamp_is_es504(repo, installed):
    """A timestamp past its expiry (the server is frozen) is refused; clock is plausible."""

    def expire(ts):
        ts.expires = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)

    _resign(repo, "timestamp.json", expire, [_key(repo, "timestamp-1")])
    _rejected(repo, installed, "ES504")


def test_expired_with_a_wrong_local_clock_says_check_the_clock():
    """Expired metadata while the PC's clock is far from the server's: ES505, not ES504."""
    now = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    server = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    err = classify(
        exceptions.ExpiredMetadataError("timestamp.json is expired"),
        phase="check",
        now=now,
        server_time=server,
    )
    assert err.code == "ES505"
    assert "2031-01-01" in err.detail


def test_missing_signature_is_es501(repo, installed):
    """A timestamp with its signature removed is refused (tufup would say 'no update')."""
    _resign(repo, "timestamp.json", _unchanged, [], bump=False)
    _rejected(repo, installed, "ES501")


def test_bad_signature_is_es501(repo, installed):
    """A targets file changed after signing (a release slipped in) is refused; the genuine
    timestamp and snapshot verified before it are kept."""
    path = repo.served / "metadata" / "targets.json"
    path.write_text(path.read_text().replace('"version": ', '"version":  ', 1))
    md = Metadata.from_file(str(path))
    md.signed.targets.clear()
    md.to_file(str(path), JSONSerializer(compact=False))  # keeps the old signature
    _rejected(repo, installed, "ES501", kept=("timestamp.json", "snapshot.json"))


def test_below_threshold_signatures_is_es502(repo, installed, tmp_path):
    """Root v2 requires 2 timestamp signatures; a timestamp signed by one key is refused;
    root v2, verified before it, is kept."""
    gen = generate_and_write_unencrypted_ed25519_keypair(filepath=str(tmp_path / "ts2"))
    second = SSlibKey.from_securesystemslib_key(import_ed25519_publickey_from_file(gen + ".pub"))
    root_path = repo.served / "metadata" / "root.json"

    def add_second_timestamp_key(root):
        root.add_key(second, "timestamp")
        root.roles["timestamp"].threshold = 2

    _resign(repo, "root.json", add_second_timestamp_key, [_key(repo, "root-1")])
    version = Metadata.from_file(str(root_path)).signed.version
    shutil.copyfile(root_path, repo.served / "metadata" / f"{version}.root.json")
    _resign(repo, "timestamp.json", _unchanged, [_key(repo, "timestamp-1")])
    _rejected(repo, installed, "ES502", kept=("root.json",))


def test_mix_and_match_is_es508(repo, installed, tmp_path):
    """The newest timestamp and snapshot with an older targets file: the targets is refused;
    the timestamp and snapshot, genuine and verified before it, are kept."""
    old_targets = tmp_path / "targets-1.0.json"
    shutil.copyfile(repo.project.root / "repository" / "metadata" / "targets.json", old_targets)
    repo.publish("1.2.0", tmp_path)
    shutil.copyfile(old_targets, repo.served / "metadata" / "targets.json")
    _rejected(repo, installed, "ES508", kept=("timestamp.json", "snapshot.json"))


def test_forged_root_is_es509(repo, installed, tmp_path):
    """A root v2 signed only by an attacker's key is refused; the trusted root stays v1."""
    gen = generate_and_write_unencrypted_ed25519_keypair(filepath=str(tmp_path / "evil"))
    evil_pub = SSlibKey.from_securesystemslib_key(import_ed25519_publickey_from_file(gen + ".pub"))
    evil = SSlibSigner(import_ed25519_privatekey_from_file(gen))
    root_path = repo.served / "metadata" / "root.json"

    def take_over(root):
        for keyid in list(root.roles["root"].keyids):
            root.revoke_key(keyid, "root")
        root.add_key(evil_pub, "root")

    _resign(repo, "root.json", take_over, [evil])
    version = Metadata.from_file(str(root_path)).signed.version
    shutil.copyfile(root_path, repo.served / "metadata" / f"{version}.root.json")
    _rejected(repo, installed, "ES509")


def test_key_rotated_root_chain_is_accepted(repo, installed, tmp_path):
    """After `esecure keys rotate` of root and timestamp, the client follows to the new root."""
    rotate_key(repo.project, "timestamp", say=lambda _m: None)
    rotate_key(repo.project, "root", say=lambda _m: None)
    repo.publish("1.2.0", tmp_path)
    offer = _client(repo, installed).check("1.0.0")
    assert offer is not None
    assert offer.version == "1.2.0"
    trusted = Metadata.from_file(str(installed / "updates" / "metadata" / "root.json"))
    assert trusted.signed.version == 3
    assert boot.read_pointer(installed).active == "A"


def test_expired_metadata_with_the_pc_clock_far_from_the_servers_is_es505(
    repo, installed, monkeypatch
):
    """Served over HTTP with a server Date years apart from the PC's clock: 'check the clock'."""

    def expire(ts):
        ts.expires = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)

    _resign(repo, "timestamp.json", expire, [_key(repo, "timestamp-1")])
    monkeypatch.setattr(
        conftest._Handler,
        "date_time_string",
        lambda _self, _timestamp=None: "Mon, 01 Jan 2024 00:00:00 GMT",
    )
    _rejected(repo, installed, "ES505")


# --- the release's signed file list (image-signing key) ------------------------------------


def test_release_signed_with_another_image_key_is_refused(repo, installed, tmp_path):
    """A TUF-valid release whose file list is signed by another image key: ES506, no write."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    other = ed25519.Ed25519PrivateKey.generate()
    repo.project.trust.image_signing_key.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    repo.publish("1.2.0", tmp_path)
    _rejected(repo, installed, "ES506", phase="install")
    assert boot.read_pointer(installed).version == "1.0.0"


def test_release_without_a_signed_file_list_is_refused(repo, installed, tmp_path, monkeypatch):
    """A TUF-valid release that carries no MANIFEST.json: ES506, nothing written."""
    monkeypatch.setattr("esecure.updater.publish.signed_manifest", lambda *_a: {})
    repo.publish("1.2.0", tmp_path)
    _rejected(repo, installed, "ES506", phase="install")


def test_release_whose_signed_list_names_another_version_is_refused(
    repo, installed, tmp_path, monkeypatch
):
    """A genuine file list of 1.1.0 inside a release published as 1.2.0: ES506."""
    from esecure.updater import publish as publish_module  # noqa: PLC0415

    genuine = publish_module.signed_manifest
    monkeypatch.setattr(
        "esecure.updater.publish.signed_manifest",
        lambda project, _version, bundle, ask: genuine(project, "1.1.0", bundle, ask),
    )
    repo.publish("1.2.0", tmp_path)
    _rejected(repo, installed, "ES506", phase="install")
