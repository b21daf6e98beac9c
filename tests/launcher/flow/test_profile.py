"""The live profile: made from a real template on first use, template changes merged."""

from __future__ import annotations

import json

import pytest

from esecure.bundle.firefox import BrowserSettings, user_js
from esecure.errors import StorageError
from esecure.launcher.flow.profile import (
    PREFS_FILE,
    STAMP_NAME,
    Stamp,
    decode_stamp,
    drop_prefs,
    encode_stamp,
    plan_merge,
    pref_names,
    prepare_live_profile,
)

SITE = "https://portal.example.test/"


@pytest.fixture
def template(tmp_path):
    """The profile template as `esecure build` writes it (its real user.js)."""
    directory = tmp_path / "release" / "profile"
    directory.mkdir(parents=True)
    (directory / "user.js").write_bytes(user_js(BrowserSettings(SITE)))
    return directory


def snapshot(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_pref_names_and_drop():
    """Preference names are read from user_pref lines; dropping keeps every other line."""
    text = '// comment\nuser_pref("a.b", true);\n  user_pref( "c\\"d" , "x");\nuser_pref("e", 1);\n'
    assert pref_names(text) == ("a.b", 'c\\"d', "e")
    assert drop_prefs(text, frozenset({"a.b", "e"})) == '// comment\n  user_pref( "c\\"d" , "x");\n'


def test_plan_merge_is_pure_and_minimal():
    """Only differing files are written; files and prefs only the old template had go."""
    old = Stamp({"user.js": "1", "chrome/old.css": "2"}, ("keep", "gone"))
    new = Stamp({"user.js": "3", "extra.txt": "4"}, ("keep",))
    plan = plan_merge(old, new, {"user.js": "1", "extra.txt": "4"})
    assert plan.write == ("user.js",)
    assert plan.remove == ("chrome/old.css",)
    assert plan.drop == frozenset({"gone"})
    assert plan_merge(new, new, {"user.js": "3", "extra.txt": "4"}).empty


def test_first_use_makes_the_profile_from_the_template(template, tmp_path):
    """First use: the live profile holds the template's user.js and the stamp."""
    live = tmp_path / "data" / "profile"
    result = prepare_live_profile(template, live)
    assert result.created
    assert (live / "user.js").read_bytes() == (template / "user.js").read_bytes()
    stamp = decode_stamp((live / STAMP_NAME).read_bytes())
    assert "security.default_personal_cert" in stamp.prefs
    assert SITE in (live / "user.js").read_text()


def test_an_unchanged_template_writes_nothing(template, tmp_path):
    """A later start with the same template and an intact profile changes no byte."""
    live = tmp_path / "profile"
    prepare_live_profile(template, live)
    (live / "places.sqlite").write_bytes(b"history")
    before = {p: (live / p).stat().st_mtime_ns for p in snapshot(live)}
    result = prepare_live_profile(template, live)
    assert not result.created and result.plan.empty
    assert {p: (live / p).stat().st_mtime_ns for p in snapshot(live)} == before


def test_template_changes_win_and_user_data_is_kept(template, tmp_path):
    """A new template: its user.js replaces the old one (also one the user edited), a pref
    only the old one set leaves prefs.js, the user's own prefs and data stay."""
    live = tmp_path / "profile"
    (template / "user.js").write_text(
        (template / "user.js").read_text() + 'user_pref("esecure.old.pref", 1);\n'
    )
    prepare_live_profile(template, live)
    (live / PREFS_FILE).write_text(
        'user_pref("esecure.old.pref", 1);\nuser_pref("browser.zoom.siteSpecific", false);\n'
    )
    (live / "cert9.db").write_bytes(b"nss: the certificate")
    (live / "user.js").write_text('user_pref("user.tampered", true);\n')
    new_user_js = user_js(BrowserSettings("https://new.example.test/"))
    (template / "user.js").write_bytes(new_user_js)
    (template / "chrome").mkdir()
    (template / "chrome" / "userContent.css").write_text("body {}\n")

    result = prepare_live_profile(template, live)

    assert result.plan.write == ("chrome/userContent.css", "user.js")
    assert result.plan.drop == frozenset({"esecure.old.pref"})
    assert (live / "user.js").read_bytes() == new_user_js
    assert (live / "chrome" / "userContent.css").read_text() == "body {}\n"
    assert (live / PREFS_FILE).read_text() == 'user_pref("browser.zoom.siteSpecific", false);\n'
    assert (live / "cert9.db").read_bytes() == b"nss: the certificate"


def test_a_file_the_new_template_dropped_is_removed(template, tmp_path):
    """A file only the previous template shipped leaves the live profile."""
    live = tmp_path / "profile"
    (template / "old.txt").write_text("old")
    prepare_live_profile(template, live)
    (template / "old.txt").unlink()
    prepare_live_profile(template, live)
    assert not (live / "old.txt").exists()


def test_attack_a_stamp_naming_files_outside_the_profile_removes_nothing(template, tmp_path):
    """A stamp planted in the data area naming ../pki/credential.pem (or an absolute path)
    as an old template file: nothing outside the profile is removed."""
    data = tmp_path / "data"
    live = data / "profile"
    prepare_live_profile(template, live)
    secret = data / "pki" / "credential.pem"
    secret.parent.mkdir()
    secret.write_bytes(b"the key")
    planted = {"format": 1, "prefs": [], "files": {"../pki/credential.pem": "0", str(secret): "0"}}
    (live / STAMP_NAME).write_text(json.dumps(planted))
    prepare_live_profile(template, live)
    assert secret.read_bytes() == b"the key"


def test_a_damaged_stamp_reinstalls_the_template(template, tmp_path):
    """A torn stamp is no stamp: the template is written again, then stamped."""
    live = tmp_path / "profile"
    prepare_live_profile(template, live)
    (live / STAMP_NAME).write_bytes(b"{torn")
    result = prepare_live_profile(template, live)
    assert decode_stamp((live / STAMP_NAME).read_bytes()) is not None
    assert not result.created


def test_a_template_without_user_js_is_es404(tmp_path):
    """No user.js in the template: ES404 naming the template."""
    (tmp_path / "t").mkdir()
    with pytest.raises(StorageError, match=r"has no user\.js") as info:
        prepare_live_profile(tmp_path / "t", tmp_path / "live")
    assert info.value.code == "ES404"


def test_an_unwritable_profile_is_es404(template, tmp_path):
    """A profile that cannot be written (a file where the directory should be): ES404."""
    (tmp_path / "live").write_text("not a directory")
    with pytest.raises(StorageError) as info:
        prepare_live_profile(template, tmp_path / "live")
    assert info.value.code == "ES404" and "live" in info.value.detail


def test_stamp_round_trip():
    """The stamp encodes and decodes to itself."""
    stamp = Stamp({"user.js": "ab"}, ("x",))
    assert decode_stamp(encode_stamp(stamp)) == stamp
