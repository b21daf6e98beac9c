"""The client keeps each metadata file as soon as it is verified (TUF client workflow 5.3.8
root, 5.4.5 timestamp, 5.5.7 snapshot, 5.6.6 targets), also when a later step fails.

One test per case of the upstream conformance suite that an all-or-nothing client fails
(tuf-conformance v2.4.0, named in each docstring), against a real repository served over
HTTP on 127.0.0.1. Each asserts the code, that the files verified before the failure are
kept as the exact bytes served, and that the rest of the trusted metadata is unchanged
(nothing of the refused step is kept). The repository does not use consistent snapshots:
"the version a URL names" is the version the timestamp or snapshot names.

Then: names that cannot be file names (ES511), when each file is written (before the next
request, durably) and when last-check.json is.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import DelegatedRole, Delegations, Metadata, MetaFile, Targets
from tuf.api.serialization.json import JSONSerializer

from esecure.errors import UpdateError, UpdateSecurityError
from esecure.updater import _fetch
from esecure.updater._disk import Disk
from esecure.updater.client import Offer, UpdateClient

from . import conftest
from .conftest import APP, resign, serve_new_root, snapshot_tree, tuf_signer
from .powercut import TEARS, PowerCut, PowerCutDisk

ZEROS = "0" * 64
UNSAFE_ROLE_NAMES = ["?", "/delegatedrole", "../delegatedrole", ".."]


def _client(repo, data: Path, **kw) -> UpdateClient:
    return repo.client(data, **kw)


def _metadata(data: Path) -> dict[str, bytes]:
    """Every file of the trusted metadata directory, by name."""
    return {p.name: p.read_bytes() for p in sorted((data / "updates" / "metadata").iterdir())}


def _version(data: Path, name: str) -> int:
    return json.loads(_metadata(data)[name])["signed"]["version"]


def _served(repo, name: str) -> bytes:
    return (repo.served / "metadata" / name).read_bytes()


@dataclass(frozen=True)
class Checked:
    """A data area that checked once (root v1, the 1.0.0 metadata) and what it trusts."""

    data: Path
    metadata: dict[str, bytes]


@pytest.fixture
def checked(repo, tmp_path) -> Checked:
    """Checked against 1.0.0; then 1.1.0 is published: newer timestamp, snapshot, targets."""
    data = tmp_path / "data"
    assert _client(repo, data).check("0.9.0") is not None
    trusted = _metadata(data)
    repo.publish("1.1.0", tmp_path)
    return Checked(data, trusted)


def _refused(repo, checked: Checked, code: str) -> UpdateError:
    with pytest.raises(UpdateError) as err:
        _client(repo, checked.data).check("1.0.0")
    assert err.value.code == code, err.value.detail
    return err.value


def _assert_kept(repo, checked: Checked, *kept: str) -> None:
    """The trusted metadata is what the key had, except ``kept``: each is the (new) bytes
    the server served; no other file appeared."""
    expected = dict(checked.metadata)
    for name in kept:
        assert _served(repo, name) != checked.metadata[name], f"{name}: nothing new served"
        expected[name] = _served(repo, name)
    assert _metadata(checked.data) == expected


def _unchanged(_signed) -> None:
    return None


def _expired(signed) -> None:
    signed.expires = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=5)


def _name_snapshot(repo):
    """A timestamp mutation naming the snapshot now served."""
    version = Metadata.from_bytes(_served(repo, "snapshot.json")).signed.version

    def name(timestamp) -> None:
        timestamp.snapshot_meta.version = version

    return name


def _name_targets(repo):
    """A snapshot mutation naming the targets now served."""
    version = Metadata.from_bytes(_served(repo, "targets.json")).signed.version

    def name(snapshot) -> None:
        snapshot.meta["targets.json"].version = version

    return name


def _sign(repo, role: str) -> list:
    return [tuf_signer(repo, f"{role}-1")]


def _serve_targets(repo, mutate) -> None:
    """Serve a new targets version changed by ``mutate``, and a snapshot and a timestamp
    that name it, each signed by its role's key."""
    resign(repo, "targets.json", mutate, _sign(repo, "targets"))
    resign(repo, "snapshot.json", _name_targets(repo), _sign(repo, "snapshot"))
    resign(repo, "timestamp.json", _name_snapshot(repo), _sign(repo, "timestamp"))


# --- root (5.3.8) --------------------------------------------------------------------------


def _rotate_timestamp_key(new_key):
    def rotate(root) -> None:
        for keyid in list(root.roles["timestamp"].keyids):
            root.revoke_key(keyid, "timestamp")
        root.add_key(new_key, "timestamp")

    return rotate


def test_verified_root_v2_stays_trusted_when_the_following_timestamp_is_badly_signed(repo, checked):
    """unsigned_metadata[timestamp]: root v2 (new timestamp key) is kept, the timestamp
    still signed by the revoked key is not."""
    serve_new_root(
        repo, _rotate_timestamp_key(CryptoSigner.generate_ed25519().public_key), _sign(repo, "root")
    )
    _refused(repo, checked, "ES501")
    _assert_kept(repo, checked, "root.json")
    assert _version(checked.data, "root.json") == 2


def test_revoked_timestamp_key_stays_revoked_when_a_mirror_then_withholds_the_new_root(
    repo, checked
):
    """After root v2 revoked the timestamp key, a mirror serving root v1 only (no
    2.root.json) cannot make the revoked key's timestamp trusted again."""
    root_v1 = _served(repo, "root.json")
    serve_new_root(
        repo, _rotate_timestamp_key(CryptoSigner.generate_ed25519().public_key), _sign(repo, "root")
    )
    _refused(repo, checked, "ES501")
    (repo.served / "metadata" / "2.root.json").unlink()
    (repo.served / "metadata" / "root.json").write_bytes(root_v1)
    _refused(repo, checked, "ES501")
    assert _version(checked.data, "root.json") == 2
    assert _metadata(checked.data)["timestamp.json"] == checked.metadata["timestamp.json"]


def test_expired_root_v2_is_kept_once_verified_but_nothing_after_it(repo, checked):
    """root_expired: root v2 is kept when verified (5.3.8) before the freeze check on the
    final root (5.3.10) refuses the update: ES504, timestamp and the rest unchanged."""
    serve_new_root(repo, _expired, _sign(repo, "root"))
    err = _refused(repo, checked, "ES504")
    assert "root.json is expired" in err.detail
    _assert_kept(repo, checked, "root.json")


def test_verified_root_v2_stays_trusted_when_a_snapshot_is_served_as_the_timestamp(repo, checked):
    """incorrect_metadata_type: a snapshot signed by the timestamp key (root v2 lets that
    key sign snapshots), served as timestamp.json, is refused (ES510); root v2 is kept."""

    def timestamp_key_signs_snapshots(root) -> None:
        keyid = root.roles["timestamp"].keyids[0]
        root.add_key(root.keys[keyid], "snapshot")

    serve_new_root(repo, timestamp_key_signs_snapshots, _sign(repo, "root"))
    fake = Metadata.from_bytes(_served(repo, "snapshot.json"))
    fake.signed.version = Metadata.from_bytes(_served(repo, "timestamp.json")).signed.version + 1
    fake.signatures.clear()
    fake.sign(tuf_signer(repo, "timestamp-1"))
    fake.to_file(str(repo.served / "metadata" / "timestamp.json"), JSONSerializer(compact=False))
    err = _refused(repo, checked, "ES510")
    assert "Expected 'timestamp', got 'snapshot'" in err.detail
    _assert_kept(repo, checked, "root.json")


def test_verified_root_v2_stays_trusted_when_the_snapshot_cannot_reach_its_threshold(repo, checked):
    """snapshot_has_too_few_keys: root v2 asks 6 snapshot signatures of 5 keys; root v2
    and the timestamp are kept, the snapshot (1/6) is not (ES502)."""

    def impossible_threshold(root) -> None:
        for _ in range(4):
            root.add_key(CryptoSigner.generate_ed25519().public_key, "snapshot")
        root.roles["snapshot"].threshold = 6

    serve_new_root(repo, impossible_threshold, _sign(repo, "root"))
    _refused(repo, checked, "ES502")
    _assert_kept(repo, checked, "root.json", "timestamp.json")


# --- badly signed (5.4.5, 5.5.7 before the failing step) -------------------------------------


def test_verified_root_v2_and_timestamp_stay_trusted_when_the_snapshot_is_badly_signed(
    repo, checked
):
    """unsigned_metadata[snapshot]: root v2 and the timestamp are kept; the snapshot
    without its signature is not (ES501)."""
    serve_new_root(repo, _unchanged, _sign(repo, "root"))
    resign(repo, "snapshot.json", _unchanged, [], bump=False)
    _refused(repo, checked, "ES501")
    _assert_kept(repo, checked, "root.json", "timestamp.json")


def test_verified_root_v2_timestamp_and_snapshot_stay_trusted_when_targets_is_badly_signed(
    repo, checked
):
    """unsigned_metadata[targets]: root v2, the timestamp and the snapshot are kept; the
    targets without its signature is not (ES501)."""
    serve_new_root(repo, _unchanged, _sign(repo, "root"))
    resign(repo, "targets.json", _unchanged, [], bump=False)
    _refused(repo, checked, "ES501")
    _assert_kept(repo, checked, "root.json", "timestamp.json", "snapshot.json")


# --- versions and hashes named by the previous role ------------------------------------------


def test_newer_timestamp_is_kept_when_the_snapshot_is_not_the_version_it_names(repo, checked):
    """url_and_metadata_version_mismatch[snapshot]: a snapshot one version above what the
    timestamp names is refused (ES508); the timestamp is kept."""
    resign(repo, "snapshot.json", _unchanged, _sign(repo, "snapshot"))
    _refused(repo, checked, "ES508")
    _assert_kept(repo, checked, "timestamp.json")


def test_newer_timestamp_and_snapshot_are_kept_when_targets_is_not_the_version_named(repo, checked):
    """url_and_metadata_version_mismatch[targets]: a targets one version above what the
    snapshot names is refused (ES508); the timestamp and the snapshot are kept."""
    resign(repo, "targets.json", _unchanged, _sign(repo, "targets"))
    _refused(repo, checked, "ES508")
    _assert_kept(repo, checked, "timestamp.json", "snapshot.json")


def test_newer_timestamp_is_kept_when_the_snapshot_does_not_match_the_hash_it_names(repo, checked):
    """snapshot_hash_mismatch: a timestamp naming a wrong snapshot hash is kept (it is
    valid); the snapshot is refused (ES508)."""

    def wrong_hash(timestamp) -> None:
        timestamp.snapshot_meta.hashes = {"sha256": ZEROS}

    resign(repo, "timestamp.json", wrong_hash, _sign(repo, "timestamp"))
    _refused(repo, checked, "ES508")
    _assert_kept(repo, checked, "timestamp.json")


def test_newer_snapshot_is_kept_when_targets_does_not_match_the_hash_it_names(repo, checked):
    """targets_hash_mismatch: a snapshot naming a wrong targets hash is kept (it is
    valid) with its timestamp; the targets is refused (ES508)."""

    def wrong_hash(snapshot) -> None:
        snapshot.meta["targets.json"].hashes = {"sha256": ZEROS}

    resign(repo, "snapshot.json", wrong_hash, _sign(repo, "snapshot"))
    resign(repo, "timestamp.json", _name_snapshot(repo), _sign(repo, "timestamp"))
    _refused(repo, checked, "ES508")
    _assert_kept(repo, checked, "timestamp.json", "snapshot.json")


# --- missing files (404) -----------------------------------------------------------------


def test_newer_timestamp_version_is_kept_when_snapshot_is_missing(repo, checked):
    """snapshot_404: the snapshot the timestamp names is not there (ES520); the newer
    timestamp is kept: an older one can no longer be replayed."""
    (repo.served / "metadata" / "snapshot.json").unlink()
    _refused(repo, checked, "ES520")
    _assert_kept(repo, checked, "timestamp.json")


def test_newer_timestamp_and_snapshot_are_kept_when_targets_is_missing(repo, checked):
    """targets_404: the targets the snapshot names is not there (ES520); the timestamp and
    the snapshot are kept."""
    (repo.served / "metadata" / "targets.json").unlink()
    _refused(repo, checked, "ES520")
    _assert_kept(repo, checked, "timestamp.json", "snapshot.json")


# --- expired (5.5.6, 5.6.5) ----------------------------------------------------------------


def test_newer_timestamp_is_kept_when_the_snapshot_has_expired(repo, checked):
    """snapshot_expired: an expired snapshot is refused (ES504); the timestamp naming it
    is kept."""
    resign(repo, "snapshot.json", _expired, _sign(repo, "snapshot"))
    resign(repo, "timestamp.json", _name_snapshot(repo), _sign(repo, "timestamp"))
    _refused(repo, checked, "ES504")
    _assert_kept(repo, checked, "timestamp.json")


def test_newer_timestamp_and_snapshot_are_kept_when_targets_has_expired(repo, checked):
    """targets_expired: an expired targets is refused (ES504); the timestamp and the
    snapshot naming it are kept."""
    _serve_targets(repo, _expired)
    _refused(repo, checked, "ES504")
    _assert_kept(repo, checked, "timestamp.json", "snapshot.json")


# --- names that cannot be file names (ES511) ---------------------------------------------------


def _delegate_to(name: str):
    def delegate(targets: Targets) -> None:
        role = DelegatedRole(name, [], 1, terminating=False, paths=["*"])
        targets.delegations = Delegations(keys={}, roles={name: role})

    return delegate


def _serve_delegation(repo, name: str) -> None:
    """Targets delegating to role ``name``, and a snapshot that lists ``name``.json."""
    resign(repo, "targets.json", _delegate_to(name), _sign(repo, "targets"))
    version = Metadata.from_bytes(_served(repo, "targets.json")).signed.version

    def list_role(snapshot) -> None:
        snapshot.meta["targets.json"].version = version
        snapshot.meta[f"{name}.json"] = MetaFile(1)

    resign(repo, "snapshot.json", list_role, _sign(repo, "snapshot"))
    resign(repo, "timestamp.json", _name_snapshot(repo), _sign(repo, "timestamp"))


@pytest.mark.parametrize("name", UNSAFE_ROLE_NAMES)
def test_unsafe_role_name_is_es511_and_the_metadata_naming_it_stays_trusted(repo, checked, name):
    """unusual_role_name: a delegated role whose name cannot be a file name is refused
    (ES511) after the workflow verified, and kept, the metadata naming it; no file is
    named after the role."""
    files_before = set(snapshot_tree(checked.data))
    _serve_delegation(repo, name)
    _refused(repo, checked, "ES511")
    _assert_kept(repo, checked, "timestamp.json", "snapshot.json", "targets.json")
    assert set(snapshot_tree(checked.data)) == files_before


def test_role_name_a_key_can_hold_is_accepted_and_never_becomes_a_file(repo, checked):
    """unusual_role_name[#]: '#' is a valid file name: the check passes, every verified
    file is kept, and the role (never fetched: the product uses no delegations) has no file."""
    _serve_delegation(repo, "#")
    offer = _client(repo, checked.data).check("1.0.0")
    assert offer is not None
    assert offer.version == "1.1.0"
    _assert_kept(repo, checked, "timestamp.json", "snapshot.json", "targets.json")


def test_release_with_an_unsafe_name_is_es511_and_the_targets_naming_it_stays_trusted(
    repo, checked
):
    """A release whose version carries a tab (a valid version to `packaging`) is refused
    (ES511); the verified timestamp, snapshot and targets naming it are kept."""
    name = f"{APP}-\t1.5.0.release"

    def add_release(targets: Targets) -> None:
        release = copy.deepcopy(targets.targets[f"{APP}-1.1.0.release"])
        release.path = name
        targets.targets[name] = release

    _serve_targets(repo, add_release)
    err = _refused(repo, checked, "ES511")
    assert "control character" in err.detail
    _assert_kept(repo, checked, "timestamp.json", "snapshot.json", "targets.json")


def _offer_of_a_target_named_dotdot(repo, client) -> Offer:
    """The offer for 1.1.0 whose app archive is signed-looking metadata named '..'."""
    offer = client.check("0.9.0")
    plan = offer.components[0]
    archive = copy.deepcopy(plan.archive)
    archive.path = ".."
    return dataclasses.replace(offer, components=(dataclasses.replace(plan, archive=archive),))


def test_target_named_dotdot_is_es511_before_any_download(repo, checked, tmp_path):
    """A target named '..' never becomes a URL or a path: ES511 before any request."""
    client = _client(repo, checked.data, download_dir=tmp_path / "downloads")
    with pytest.raises(UpdateSecurityError) as err:
        client.download(_offer_of_a_target_named_dotdot(repo, client))
    assert err.value.code == "ES511"
    assert list((tmp_path / "downloads").iterdir()) == []


def test_failed_download_of_a_target_named_dotdot_removes_only_its_own_file(
    repo, checked, monkeypatch, tmp_path
):
    """With the name check switched off, a target named '..' still downloads to a name of
    ours in the download directory: its failure's clean-up leaves the trusted metadata
    whole, and the download directory empty."""
    client = _client(repo, checked.data, download_dir=tmp_path / "downloads")
    offer = _offer_of_a_target_named_dotdot(repo, client)
    trusted = _metadata(checked.data)
    monkeypatch.setattr("esecure.updater.client.safe_name", lambda name, _what: name)
    with pytest.raises(UpdateSecurityError) as err:
        client.download(offer)
    assert err.value.code == "ES506"
    assert _metadata(checked.data) == trusted
    assert list((tmp_path / "downloads").iterdir()) == []


# --- when and how files are kept -------------------------------------------------------------


class _Recording(Disk):
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def write_atomic(self, path: Path, data: bytes) -> None:
        self.events.append(f"keep {path.name}")
        super().write_atomic(path, data)


def test_each_verified_file_is_kept_before_the_next_request(repo, checked, monkeypatch):
    """Root v2, timestamp, snapshot, targets: each is written (atomically, durably) before
    the client asks for the next file, in the workflow's order; last-check.json once the
    refresh passed, before the release record is fetched."""
    events: list[str] = []
    serve_get = conftest._Handler.do_GET

    def recorded(handler) -> None:
        events.append(f"GET {handler.path.rsplit('/', 1)[-1]}")
        serve_get(handler)

    monkeypatch.setattr(conftest._Handler, "do_GET", recorded)
    serve_new_root(repo, _unchanged, _sign(repo, "root"))
    _client(repo, checked.data, disk=_Recording(events)).check("1.0.0")
    assert events == [
        "GET 2.root.json",
        "keep root.json",  # 5.3.8
        "GET 3.root.json",
        "GET timestamp.json",
        "keep timestamp.json",  # 5.4.5
        "GET snapshot.json",
        "keep snapshot.json",  # 5.5.7
        "GET targets.json",
        "keep targets.json",  # 5.6.6
        "keep last-check.json",
        f"GET {APP}-1.1.0.release",  # the plan: the release record, then its signature
        f"GET {APP}-1.1.0.release.sig",
    ]


def test_kept_timestamp_survives_a_power_cut_during_the_snapshot_download(
    repo, checked, monkeypatch
):
    """The power goes while the snapshot downloads: the timestamp verified before it was
    already written and synced, and stays trusted, whole."""
    disk = PowerCutDisk(checked.data)
    fetch = _fetch.Fetcher._fetch

    def cut_at_snapshot(self, url: str):
        if url.endswith("/snapshot.json"):
            disk.power_off()
            raise PowerCut(url)
        return fetch(self, url)

    monkeypatch.setattr(_fetch.Fetcher, "_fetch", cut_at_snapshot)
    with pytest.raises(PowerCut):
        _client(repo, checked.data, disk=disk).check("1.0.0")
    for tear in TEARS:
        disk.restore(tear)
        _assert_kept(repo, checked, "timestamp.json")


def test_last_check_is_not_written_when_the_refresh_fails_part_way(repo, checked):
    """A refresh that kept a newer timestamp but failed after it is no successful check:
    last-check.json (the offline clock) is unchanged."""
    stamp = checked.data / "updates" / "last-check.json"
    before = stamp.read_bytes()
    (repo.served / "metadata" / "snapshot.json").unlink()
    _refused(repo, checked, "ES520")
    assert stamp.read_bytes() == before
