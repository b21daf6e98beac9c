"""The bootstrap's choice of release: records, the store, falling back, rolling back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from esecure_onkey import layout
from esecure_onkey.boot import choose, read_pointer
from esecure_onkey.records import (
    Pointer,
    decode_component_completion,
    decode_pointer,
    encode_component_completion,
    encode_pointer,
)
from esecure_onkey.store import resolve
from tests.onkey.fixtures import (
    PLATFORM,
    app_files,
    default_components,
    make_cd,
    make_release,
    point,
)
from tests.onkey_child import bootstrap_command, bootstrap_env, runtime_dir

RID = "a" * 64
OTHER = "b" * 64


def _key(tmp_path: Path, version: str = "1.0") -> tuple[Path, Path, dict[str, str]]:
    cd, data = tmp_path / "cd", tmp_path / "data"
    ids = make_cd(cd, version)
    return cd, data, ids


def _app(version: str) -> dict[str, dict[str, bytes]]:
    return {"app": default_components(version)["app"]}


# --- records ---------------------------------------------------------------------------------


def test_pointer_record_round_trips():
    """A pointer record decodes to what was encoded."""
    p = Pointer(seq=5, release=RID, previous="cd", version="1.2.0", good=False)
    assert decode_pointer(encode_pointer(p)) == p


def test_torn_or_altered_pointer_record_is_invalid():
    """A truncated record, or one whose body was edited, decodes as None."""
    data = encode_pointer(Pointer(1, RID, "cd", "1.0", good=True))
    assert decode_pointer(data[: len(data) // 2]) is None
    assert decode_pointer(data.replace(b"1.0", b"9.0")) is None


def test_pointer_naming_no_release_or_itself_is_invalid():
    """Release and previous are ids or "cd", and differ; the version is of the grammar."""
    assert decode_pointer(encode_pointer(Pointer(1, "A", "cd", "1.0", good=True))) is None
    assert decode_pointer(encode_pointer(Pointer(1, RID, RID, "1.0", good=True))) is None
    assert decode_pointer(encode_pointer(Pointer(1, RID, OTHER, "1.0.post1", good=True))) is None


def test_component_completion_round_trips():
    """A completion record vouches for one id; a torn one for none."""
    data = encode_component_completion(RID)
    assert decode_component_completion(data) == RID
    assert decode_component_completion(data[:-5]) is None


def test_newest_valid_pointer_wins_over_a_torn_one(tmp_path):
    """The record with the higher sequence number wins unless it is torn."""
    point(tmp_path, 1, RID, "cd", "1.0", good=True)
    point(tmp_path, 2, OTHER, RID, "2.0", good=False)
    assert read_pointer(tmp_path).seq == 2
    path = layout.pointer_path(tmp_path, 2)
    path.write_bytes(path.read_bytes()[:20])
    assert read_pointer(tmp_path).seq == 1


# --- the choice ----------------------------------------------------------------------------------


def test_no_data_area_runs_the_cd(tmp_path):
    """Without a data area the CD-ROM's release runs, from its own directories."""
    cd, _data, _ids = _key(tmp_path)
    choice = choose(cd, None)
    assert (choice.release, choice.version) == ("cd", "1.0")
    assert choice.component("app") == cd / "app"
    assert choice.component("deps") == cd / "lib" / PLATFORM
    assert not choice.from_store


def test_an_app_only_release_runs_the_new_app_and_the_cds_other_components(tmp_path):
    """Only `app` is in the store; every other component is the CD-ROM's, by reference."""
    cd, data, ids = _key(tmp_path)
    rid = make_release(data, ids, "2.0", _app("2.0"))
    point(data, 1, rid, "cd", "2.0", good=True)
    choice = choose(cd, data)
    assert (choice.release, choice.version) == (rid, "2.0")
    assert choice.component("app") == layout.component_dir(data, choice.dirs["app"].name)
    assert choice.component("firefox") == cd / "firefox" / PLATFORM
    assert choice.from_store
    assert sorted(p.name for p in layout.store_dir(data).iterdir() if p.is_dir()) == [
        choice.dirs["app"].name
    ]


def test_a_truncated_file_falls_back_to_the_previous_release(tmp_path):
    """The release in force is damaged: the previous one runs, reported as degraded."""
    cd, data, ids = _key(tmp_path)
    old = make_release(data, ids, "2.0", _app("2.0"))
    new = make_release(data, ids, "3.0", _app("3.0"))
    point(data, 2, new, old, "3.0", good=True)
    app = resolve(data, new, cd, PLATFORM).dirs["app"]
    (app / "product.json").write_bytes(b"{}")
    choice = choose(cd, data)
    assert (choice.version, choice.degraded) == ("2.0", True)
    assert "product.json has 2 bytes" in choice.reason


def test_nothing_usable_falls_back_to_the_cd(tmp_path):
    """The release in force is incomplete and its previous is the CD: the CD runs."""
    cd, data, ids = _key(tmp_path)
    rid = make_release(data, ids, "2.0", _app("2.0"))
    point(data, 1, rid, "cd", "2.0", good=True)
    app = resolve(data, rid, cd, PLATFORM).dirs["app"]
    layout.component_file(data, app.name, ".complete").unlink()
    choice = choose(cd, data)
    assert (choice.release, choice.degraded) == ("cd", True)
    assert "not completely installed" in choice.reason


def test_full_check_detects_altered_firefox_content(tmp_path):
    """A same-size edit of Firefox's own files passes the start check, not the full one."""
    cd, data, ids = _key(tmp_path)
    files = dict(default_components("2.0")[f"firefox-{PLATFORM}"])
    files["browser/features/new.xpi"] = b"a new Firefox file"  # not the CD's Firefox
    rid = make_release(data, ids, "2.0", {f"firefox-{PLATFORM}": files})
    firefox = resolve(data, rid, cd, PLATFORM).dirs[f"firefox-{PLATFORM}"]
    (firefox / "omni.ja").write_bytes(b"x" * len(files["omni.ja"]))
    assert not isinstance(resolve(data, rid, cd, PLATFORM), str)
    assert "omni.ja differs" in str(resolve(data, rid, cd, PLATFORM, full=True))


def test_two_failed_starts_roll_back_to_the_previous_release(tmp_path):
    """A release on trial that never marks itself good is abandoned after two starts."""
    cd, data, ids = _key(tmp_path)
    old = make_release(data, ids, "2.0", _app("2.0"))
    new = make_release(data, ids, "3.0", _app("3.0"))
    point(data, 2, new, old, "3.0", good=False)
    assert choose(cd, data).version == "3.0"
    assert choose(cd, data).version == "3.0"
    third = choose(cd, data)
    assert (third.version, third.rolled_back) == ("2.0", True)
    pointer = read_pointer(data)
    assert (pointer.seq, pointer.release, pointer.previous, pointer.good) == (3, old, new, True)
    report = json.loads(layout.rollback_path(data).read_text())
    assert (report["from_release"], report["from_version"]) == (new, "3.0")
    assert choose(cd, data).version == "2.0"


def test_two_failed_starts_without_a_previous_release_go_back_to_the_cd(tmp_path):
    """With the CD as previous, the switch back records a pointer to the CD."""
    cd, data, ids = _key(tmp_path)
    rid = make_release(data, ids, "2.0", _app("2.0"))
    point(data, 1, rid, "cd", "2.0", good=False)
    choose(cd, data)
    choose(cd, data)
    third = choose(cd, data)
    assert (third.release, third.rolled_back) == ("cd", True)
    assert read_pointer(data).release == "cd"
    assert choose(cd, data).release == "cd"


def test_a_good_release_is_not_counted(tmp_path):
    """Marked good: no start counter grows."""
    cd, data, ids = _key(tmp_path)
    rid = make_release(data, ids, "2.0", _app("2.0"))
    point(data, 1, rid, "cd", "2.0", good=True)
    for _ in range(3):
        assert choose(cd, data).version == "2.0"
    assert not (data / "boot").exists()


# --- the real bootstrap, as a process ---------------------------------------------------------


def _start(cd: Path, data: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"ESECURE_CD_ROOT": str(cd)}
    if data is not None:
        env["ESECURE_DATA_DIR"] = str(data)
    return subprocess.run(
        bootstrap_command(*args),
        capture_output=True,
        text=True,
        env=bootstrap_env(**env),
        check=False,
        timeout=30,
    )


def test_the_bootstrap_runs_the_cds_application(tmp_path):
    """Run as a process without a data area, it imports esecure.launcher.app from app/."""
    cd = tmp_path / "cd"
    components = default_components("1.0")
    components["app"] = app_files("1.0", "'cd-app', boot.release, boot.version, argv")
    make_cd(cd, "1.0", components)
    proc = _start(cd, None, "--x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("cd-app cd 1.0 ['--x']")


def test_the_bootstrap_runs_the_release_in_force_from_the_store(tmp_path):
    """With a pointer to a genuine release, the store's app runs (not the CD's)."""
    cd, data = tmp_path / "cd", tmp_path / "data"
    components = default_components("1.0")
    components["app"] = app_files("1.0", "'cd-app'")
    ids = make_cd(cd, "1.0", components)
    rid = make_release(data, ids, "2.0", {"app": app_files("2.0", "'store-app', boot.version")})
    point(data, 1, rid, "cd", "2.0", good=True)
    proc = _start(cd, data)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "store-app 2.0\n"
    assert not list(layout.store_dir(data).rglob("__pycache__"))  # Python wrote nothing there


def test_an_application_from_the_store_uses_the_bootstraps_own_onkey_package(tmp_path):
    """A release whose app carries its own (signed) esecure_onkey still runs with the
    copy frozen in the bootstrap: the reader of the key's files is the one on the CD-ROM."""
    cd, data = tmp_path / "cd", tmp_path / "data"
    ids = make_cd(cd, "1.0")
    app = app_files("2.0", "esecure_onkey.__file__, esecure_onkey.layout.__file__")
    app["esecure/launcher/app.py"] = (
        b"import esecure_onkey, esecure_onkey.layout\n" + app["esecure/launcher/app.py"]
    )
    app["esecure_onkey/__init__.py"] = b"raise SystemExit('the store copy ran')\n"
    app["esecure_onkey/layout.py"] = b"raise SystemExit('the store copy ran')\n"
    rid = make_release(data, ids, "2.0", {"app": app})
    point(data, 1, rid, "cd", "2.0", good=True)
    proc = _start(cd, data)
    assert proc.returncode == 0, proc.stderr
    package, layout_module = proc.stdout.split()
    assert Path(package).parent == Path(runtime_dir()) / "esecure_onkey"
    assert Path(layout_module).parent == Path(runtime_dir()) / "esecure_onkey"
