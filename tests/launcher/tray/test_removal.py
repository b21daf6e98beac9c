"""Removing the key: the wipe (real files), the order, what is said (fakes for the eject)."""

from __future__ import annotations

import json
import logging

import pytest

from esecure.launcher.flow.profile import STAMP_NAME
from esecure.launcher.flow.session import Session
from esecure.launcher.host.eject import EjectResult
from esecure.launcher.tray.removal import (
    KEPT,
    TRACES,
    Removal,
    release_logs,
    removal_for,
    removal_text,
    template_files,
    trace_names,
    wipe_session_traces,
)


def _profile(tmp_path):
    profile = tmp_path / "profile"
    for name in (*KEPT, "cookies.sqlite", "cookies.sqlite-wal", "formhistory.sqlite"):
        (profile / name).parent.mkdir(parents=True, exist_ok=True)
        (profile / name).write_text(name)
    for folder in ("cache2/entries", "sessionstore-backups", "storage/default/site"):
        (profile / folder).mkdir(parents=True)
        (profile / folder / "f").write_text("trace")
    return profile


def test_the_trace_list_never_names_what_the_key_needs():
    """cert9.db, key4.db, pkcs11.txt and the prefs are never traces; the kinds the issue
    names (cache, cookies, session store, form history) are."""
    names = trace_names()
    assert not set(KEPT) & set(names)
    assert {"cache2", "cookies.sqlite", "sessionstore-backups", "formhistory.sqlite"} <= set(names)
    assert {"cache", "cookies", "session store", "form history"} <= set(TRACES)


def test_the_wipe_deletes_traces_and_keeps_the_certificate(tmp_path):
    """Files and folders of the session go; the NSS databases and prefs stay."""
    profile = _profile(tmp_path)
    result = wipe_session_traces(profile)
    assert set(result.removed) == {
        "cookies.sqlite",
        "cookies.sqlite-wal",
        "formhistory.sqlite",
        "cache2",
        "sessionstore-backups",
        "storage",
    }
    assert result.failed == ()
    assert sorted(p.name for p in profile.iterdir()) == sorted(KEPT)


def test_the_template_s_own_files_are_kept(tmp_path):
    """A name the template installed (its stamp) is never wiped, even if a trace name."""
    profile = _profile(tmp_path)
    (profile / "permissions.sqlite").write_text("shipped")
    stamp = {"format": 1, "files": {"permissions.sqlite": "00", "user.js": "11"}, "prefs": []}
    (profile / STAMP_NAME).write_text(json.dumps(stamp))
    assert template_files(profile) == {"permissions.sqlite", "user.js"}
    wipe_session_traces(profile)
    assert (profile / "permissions.sqlite").read_text() == "shipped"
    (profile / STAMP_NAME).write_text("{damaged")
    assert template_files(profile) == frozenset()


def test_attack_links_in_the_profile_are_removed_not_followed(tmp_path):
    """cookies.sqlite and cache2 planted as links to files outside the profile: the links
    go, what they point at is untouched."""
    profile = _profile(tmp_path)
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "dir" / "precious").write_text("keep")
    (outside / "file").write_text("keep")
    (profile / "cookies.sqlite").unlink()
    (profile / "cookies.sqlite").symlink_to(outside / "file")
    for child in (profile / "cache2").rglob("*"):
        if child.is_file():
            child.unlink()
    (profile / "cache2" / "entries").rmdir()
    (profile / "cache2").rmdir()
    (profile / "cache2").symlink_to(outside / "dir")
    wipe_session_traces(profile)
    assert not (profile / "cookies.sqlite").exists() and not (profile / "cache2").is_symlink()
    assert (outside / "file").read_text() == "keep"
    assert (outside / "dir" / "precious").read_text() == "keep"


class Ejector:
    def __init__(self, result):
        self.result = result
        self.calls = []

    def eject(self, paths):
        self.calls.append(list(paths))
        return self.result


def test_the_eject_runs_only_when_the_key_was_removed(tmp_path):
    """The session ended otherwise (no wipe ran): nothing ejected, nothing said."""
    said = []
    ejector = Ejector(EjectResult("ejected"))
    removal = Removal(_profile(tmp_path), [tmp_path / "cd", tmp_path / "data"], ejector)
    assert removal.eject(said.append, "en") is None
    assert ejector.calls == [] and said == []
    removal.wipe()
    assert removal.eject(said.append, "en").safe
    assert ejector.calls == [[tmp_path / "cd", tmp_path / "data"]]
    assert said == ["You can now unplug the key safely. Keep it in a safe place."]


@pytest.mark.parametrize(
    ("result", "said"),
    [
        (EjectResult("ejected", "/dev/sdb1"), "You can now unplug the key safely."),
        (EjectResult("busy", "target is busy"), "The key could not be ejected (target is busy)"),
        (EjectResult("failed", "no udisksctl"), "The key could not be ejected (no udisksctl)"),
        (EjectResult("not-removable"), "The session has ended; the key's files are not on"),
    ],
)
def test_what_the_user_is_told(result, said):
    """Safe, not safe with the reason and what to do, or nothing to eject."""
    assert removal_text(result, "en").startswith(said)
    assert removal_text(result, "fr") != removal_text(result, "en")


def test_log_files_on_the_key_are_closed_before_the_eject(tmp_path):
    """A FileHandler writing into the data area is closed and removed; others stay."""
    key, host = tmp_path / "data", tmp_path / "host"
    (key / "logs").mkdir(parents=True)
    host.mkdir()
    on_key = logging.FileHandler(key / "logs" / "launcher.log")
    elsewhere = logging.FileHandler(host / "other.log")
    logger = logging.getLogger("esecure.test-removal")
    logger.addHandler(on_key)
    logger.addHandler(elsewhere)
    try:
        closed = release_logs([tmp_path / "cd", key])
        assert closed == [str((key / "logs" / "launcher.log").resolve())]
        assert logger.handlers == [elsewhere]
        assert on_key.stream is None
    finally:
        logger.removeHandler(elsewhere)
        elsewhere.close()


def test_the_flows_session_gets_the_wipe_as_its_end_hook(tmp_path):
    """A session with a profile: the wipe joins its end hooks; the eject names the CD-ROM
    and the data area. Without a profile (a test's session): no removal."""

    class Firefox:
        pid = 1

        def poll(self):
            return 0

    session = Session(Firefox, Firefox(), profile=tmp_path / "p", data_dir=tmp_path / "d")
    removal = removal_for(session, Ejector(EjectResult("ejected")), tmp_path / "cd")
    assert removal is not None
    assert session.end_hooks == [removal.wipe]
    assert removal.key_paths == (tmp_path / "cd", tmp_path / "d")
    assert removal_for(Session(Firefox, Firefox()), Ejector(None), None) is None
    assert removal_for(object(), Ejector(None), None) is None
