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
from esecure.updater.client import mark_good
from esecure.updater.publish import rotate_key
from esecure_onkey import boot, store
from esecure_onkey.components import encode_release, mount
from esecure_onkey.layout import component_dir, component_file

from . import conftest
from .conftest import (
    APP,
    PLATFORM,
    component_ids,
    resign,
    serve_target,
    snapshot_tree,
    tuf_signer,
    update,
)


@pytest.fixture
def installed(repo, tmp_path):
    """A data area running 1.0.0 (its app in the store, marked good), with 1.1.0 then
    published (app changed: a patch from 1.0.0's app)."""
    data = tmp_path / "data"
    rid = update(repo, data, "0.9.0")
    mark_good(data, running=rid)
    repo.publish("1.1.0", tmp_path)
    installed.rid = rid  # type: ignore[attr-defined]
    return data


def _running(data: Path) -> str:
    pointer = boot.read_pointer(data)
    return pointer.release if pointer is not None else "cd"


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
    metadata_may_change: bool = False,
) -> UpdateError:
    """Run a check (and a download and install), expect ``code``; on the key only the
    trusted metadata files in ``kept`` changed, each to the bytes served (verified before
    the failure). With ``metadata_may_change`` (the channel verified, the image key
    refused what it carried), the verified metadata and the check's time may change,
    nothing else: the store, the release records and the pointers stay byte-identical."""
    c = repo.client(data, timeout=5)
    running = _running(data)
    if phase == "check":
        before = _state(data)
        with pytest.raises(UpdateSecurityError) as err:
            c.check(current, running=running)
    else:
        offer = c.check(current, running=running)
        before = _state(data)
        with pytest.raises(UpdateSecurityError) as err:
            c.install(offer, c.download(offer))
    assert err.value.code == code, err.value.detail
    after = _state(data)
    if metadata_may_change:
        for state in (before, after):
            for name in [n for n in state if n.startswith("updates/")]:
                del state[name]
        assert after == before
        return err.value
    expected = dict(before)
    for name in kept:
        expected[f"updates/metadata/{name}"] = (repo.served / "metadata" / name).read_bytes()
    assert after == expected
    return err.value


def _app_id(repo, version: str) -> str:
    return component_ids(repo.bundles[version])["app"]


def _fresh(tmp_path: Path) -> Path:
    """A data area of a key on its CD-ROM release: 1.1.0's app comes as a full archive."""
    return tmp_path / "fresh"


def _unchanged(_signed) -> None:
    return None


def _tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_tampered_archive_is_es506(repo, installed, tmp_path):
    """A full archive altered on the server (same length) is refused by TUF's hash check."""
    _tamper(repo.served / "targets" / f"{APP}-c-{_app_id(repo, '1.1.0')}.tar.gz")
    err = _rejected(repo, _fresh(tmp_path), "ES506", current="0.9.0", phase="download")
    assert isinstance(err.__cause__, exceptions.LengthOrHashMismatchError)
    assert "Observed hash" in err.detail


def test_tampered_patch_is_es506(repo, installed):
    """A patch altered on the server fails TUF's hash check: refused, nothing installed."""
    new, old = _app_id(repo, "1.1.0"), _app_id(repo, "1.0.0")
    _tamper(repo.served / "targets" / f"{APP}-c-{new}.from-{old}.patch")
    err = _rejected(repo, installed, "ES506", phase="download")
    assert isinstance(err.__cause__, exceptions.LengthOrHashMismatchError)


def test_wrong_length_archive_is_es506(repo, installed, tmp_path):
    """A truncated archive (shorter than signed) is refused by TUF's length check."""
    path = repo.served / "targets" / f"{APP}-c-{_app_id(repo, '1.1.0')}.tar.gz"
    signed = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-100])
    err = _rejected(repo, _fresh(tmp_path), "ES506", current="0.9.0", phase="download")
    assert isinstance(err.__cause__, exceptions.LengthOrHashMismatchError)
    assert f"Observed length {signed - 100} does not match expected length {signed}" in err.detail


def test_archive_longer_than_signed_is_a_length_mismatch_es506(repo, installed, tmp_path):
    """An archive served whole with a Content-Length above its signed length: cut at the
    signed length by TUF and reported as a length mismatch, not as endless data."""
    path = repo.served / "targets" / f"{APP}-c-{_app_id(repo, '1.1.0')}.tar.gz"
    signed = path.stat().st_size
    with path.open("ab") as f:
        f.write(b"\0" * 20_000_000)
    err = _rejected(repo, _fresh(tmp_path), "ES506", current="0.9.0", phase="download")
    assert isinstance(err.__cause__, exceptions.DownloadLengthMismatchError)
    assert f"announced {signed + 20_000_000} bytes" in err.detail
    assert f"maximum allowed length of {signed}" in err.detail


ENDLESS_SECONDS = 30  # the endless server stops by itself after this: the test's bound


def test_endless_target_data_is_es507(repo, installed, monkeypatch, tmp_path):
    """An archive streamed without end (no Content-Length, the server writes until the
    client hangs up) is cut at its signed length: ES507, nothing kept."""
    target = f"/targets/{APP}-c-{_app_id(repo, '1.1.0')}.tar.gz"
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
    signed = (repo.served / target.lstrip("/")).stat().st_size
    err = _rejected(repo, _fresh(tmp_path), "ES507", current="0.9.0", phase="download")
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
    repo.client(installed).check("1.0.0")  # the client now trusts the newer metadata
    shutil.copyfile(old, repo.served / "metadata" / "timestamp.json")
    _rejected(repo, installed, "ES503")


def test_snapshot_rollback_is_es503(repo, installed, tmp_path):
    """A (compromised-key) timestamp pointing at an older snapshot is refused."""
    old = tmp_path / "old-snapshot.json"
    shutil.copyfile(repo.served / "metadata" / "snapshot.json", old)
    repo.publish("1.2.0", tmp_path)
    repo.client(installed).check("1.0.0")  # the client now trusts the newer metadata
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
    repo.client(installed).check("1.0.0")  # the client now trusts the newer metadata
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
    before = boot.read_pointer(installed)
    offer = repo.client(installed).check("1.0.0", running=before.release)
    assert offer is not None
    assert offer.version == "1.2.0"
    trusted = Metadata.from_file(str(installed / "updates" / "metadata" / "root.json"))
    assert trusted.signed.version == 3
    assert boot.read_pointer(installed) == before


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


# --- what may run: the image-signing key over the release record and the lists -------------
#
# Each attack below passes TUF (the repository, or whoever holds its TUF keys, serves and
# signs it): the image-signing key of the CD-ROM is the defence left, as at every start.


def _other_key_signer():
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    from esecure.bundle.manifest import sign_manifest  # noqa: PLC0415

    other = ed25519.Ed25519PrivateKey.generate()
    return lambda data: sign_manifest(data, other)


def test_release_record_signed_with_another_image_key_is_es506(repo, installed, tmp_path):
    """A TUF-valid release whose record is signed by another image key: ES506 at the
    check, before any download; the store, records and pointers are unchanged."""
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
    err = _rejected(repo, installed, "ES506", metadata_may_change=True)
    assert "not signed by the image-signing key" in err.detail


def test_release_record_naming_another_releases_component_is_refused(repo, installed):
    """A record of "1.2.0" naming 1.0.0's genuine app (an older, maybe vulnerable one),
    re-signed by another key since the attacker lacks the image key: ES506."""
    ids = component_ids(repo.bundles["1.1.0"])
    ids["app"] = _app_id(repo, "1.0.0")
    record = encode_release(APP, "1.2.0", ids)
    serve_target(repo, f"{APP}-1.2.0.release", record)
    serve_target(repo, f"{APP}-1.2.0.release.sig", _other_key_signer()(record))
    err = _rejected(repo, installed, "ES506", metadata_may_change=True)
    assert "release 1.2.0 is not signed by the image-signing key" in err.detail


def test_genuine_record_of_another_version_is_refused(repo, installed):
    """1.1.0's genuine record and signature served as 1.2.0: ES506 (the record names the
    version it is)."""
    targets = repo.served / "targets"
    serve_target(repo, f"{APP}-1.2.0.release", (targets / f"{APP}-1.1.0.release").read_bytes())
    sig = (targets / f"{APP}-1.1.0.release.sig").read_bytes()
    serve_target(repo, f"{APP}-1.2.0.release.sig", sig)
    err = _rejected(repo, installed, "ES506", metadata_may_change=True)
    assert "names version 1.1.0" in err.detail


def test_component_swapped_for_another_genuine_one_is_es506(repo, installed, tmp_path):
    """1.1.0's app archive replaced by 1.0.0's genuine app archive (TUF re-signed): its
    files are not the ones 1.1.0's list names: ES506, nothing of it reaches the store."""
    targets = repo.served / "targets"
    old = (targets / f"{APP}-c-{_app_id(repo, '1.0.0')}.tar.gz").read_bytes()
    serve_target(repo, f"{APP}-c-{_app_id(repo, '1.1.0')}.tar.gz", old)
    err = _rejected(repo, _fresh(tmp_path), "ES506", current="0.9.0", phase="install")
    assert "app" in err.detail
    assert not (_fresh(tmp_path) / "store" / _app_id(repo, "1.1.0")).exists()


def test_component_list_swapped_for_another_genuine_one_is_es506(repo, installed):
    """1.0.0's genuine app list and signature served as 1.1.0's: it does not hash to the
    id the release names: ES506 at the download, nothing written."""
    targets = repo.served / "targets"
    old, new = _app_id(repo, "1.0.0"), _app_id(repo, "1.1.0")
    serve_target(repo, f"{APP}-c-{new}.list", (targets / f"{APP}-c-{old}.list").read_bytes())
    serve_target(
        repo, f"{APP}-c-{new}.list.sig", (targets / f"{APP}-c-{old}.list.sig").read_bytes()
    )
    err = _rejected(repo, installed, "ES506", phase="install")
    assert "does not hash to the id its release names" in err.detail


def test_component_list_signed_by_another_key_is_es506(repo, installed):
    """The app's list with a signature by another key (TUF re-signed): ES506, nothing
    written."""
    new = _app_id(repo, "1.1.0")
    listed = (repo.served / "targets" / f"{APP}-c-{new}.list").read_bytes()
    serve_target(repo, f"{APP}-c-{new}.list.sig", _other_key_signer()(listed))
    err = _rejected(repo, installed, "ES506", phase="install")
    assert "not signed by the image-signing key" in err.detail


def test_unreferenced_component_planted_in_the_store_never_runs_and_is_collected(
    repo, installed, tmp_path
):
    """A genuine, complete component (1.1.0's app, installed elsewhere) copied into the
    store: no release in force names it, so no start runs it; garbage collection after
    mark good removes it, and nothing else."""
    elsewhere = tmp_path / "elsewhere"
    update(repo, elsewhere, "0.9.0")
    planted = _app_id(repo, "1.1.0")
    for suffix in ("", ".list", ".sig", ".complete"):
        source = component_file(elsewhere, planted, suffix)
        target = component_file(installed, planted, suffix)
        if suffix:
            shutil.copyfile(source, target)
        else:
            shutil.copytree(source, target)
    assert not isinstance(store.check_component(installed, "app", planted, PLATFORM), str)
    choice = boot.choose(repo.cd, installed, platform=PLATFORM)
    assert choice.dirs["app"] == component_dir(installed, _app_id(repo, "1.0.0"))
    assert component_dir(installed, planted) not in choice.dirs.values()
    before = {k: v for k, v in _state(installed).items() if planted not in k}
    assert mark_good(installed, running=choice.release) is False  # already good
    assert not list((installed / "store").glob(f"{planted}*"))
    assert _state(installed) == before


def test_the_cd_roms_components_are_used_in_place(repo, installed):
    """What the CD-ROM carries is never copied: the running release's other components
    are the CD-ROM's directories."""
    choice = boot.choose(repo.cd, installed, platform=PLATFORM)
    assert choice.dirs[f"firefox-{PLATFORM}"] == repo.cd / mount(f"firefox-{PLATFORM}")
    assert len([p for p in (installed / "store").iterdir() if p.is_dir()]) == 1
