"""The bootstrap picks an application root and runs the application from its lib/."""

from __future__ import annotations

import subprocess
from pathlib import Path

from esecure_onkey import layout
from esecure_onkey.boot import check_slot, choose, read_pointer, write_pointer
from esecure_onkey.records import (
    Completion,
    Pointer,
    decode_completion,
    decode_pointer,
    encode_completion,
    encode_pointer,
)
from tests.onkey_child import bootstrap_command, bootstrap_env, runtime_dir

from .slots import make_cd, make_slot


def test_platform_names():
    """Windows, macOS and Linux map to their directory names."""
    assert layout.platform_name("win32") == "windows"
    assert layout.platform_name("darwin") == "macos"
    assert layout.platform_name("linux") == "linux"


def test_bootstrap_runs_the_application_from_the_cd_lib(tmp_path):
    """Run as a script, it imports esecure.launcher.app from <cd>/lib/<platform> first."""
    lib = tmp_path / "lib" / layout.platform_name() / "esecure" / "launcher"
    lib.mkdir(parents=True)
    (lib.parent / "__init__.py").write_text("")
    (lib / "__init__.py").write_text("")
    (lib / "app.py").write_text(
        "import os\n"
        "def main(argv, boot):\n"
        "    print('app from', os.environ['ESECURE_APP_ROOT'], boot.reason, argv)\n"
        "    return 7\n"
    )
    proc = subprocess.run(
        bootstrap_command("--x"),
        capture_output=True,
        text=True,
        env=bootstrap_env(ESECURE_CD_ROOT=str(tmp_path)),
        check=False,
        timeout=30,
    )
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == (
        f"app from {tmp_path} application shipped on the CD-ROM; no data area: "
        f"{tmp_path / 'product.json'} is unreadable ['--x']\n"
    )


# --- pointer records, completion records, slot choice ---------------------------------------


def _slot(data: Path, slot: str, version: str, files: dict[str, bytes]) -> None:
    """A signed slot; the CD-ROM beside ``data`` holds the key and version 1.0."""
    make_cd(data.parent)
    make_slot(data, slot, version, files)


def test_pointer_record_round_trips():
    """A pointer record decodes to what was encoded."""
    p = Pointer(seq=5, active="B", previous="A", version="1.2.0", good=False)
    assert decode_pointer(encode_pointer(p)) == p


def test_torn_pointer_record_is_invalid():
    """Any truncation or flipped byte makes the record invalid, never a different pointer."""
    data = encode_pointer(Pointer(3, "A", "cd", "1.0", good=True))
    for cut in range(len(data) - 1):
        assert decode_pointer(data[:cut]) is None
    flipped = data.replace(b'"A', b'"B', 1)
    assert decode_pointer(flipped) is None


def test_newest_valid_pointer_wins_over_a_torn_one(tmp_path):
    """When the newer record is torn, the older valid one stays in force."""
    write_pointer(tmp_path, Pointer(1, "A", "cd", "1.0", good=True))
    write_pointer(tmp_path, Pointer(2, "B", "A", "1.1", good=False))
    assert read_pointer(tmp_path).seq == 2
    newer = tmp_path / "pointer-0"
    newer.write_bytes(newer.read_bytes()[:20])
    assert read_pointer(tmp_path) == Pointer(1, "A", "cd", "1.0", good=True)


def test_completion_record_round_trips():
    """A completion record decodes to what was encoded."""
    c = Completion("2.0", {"lib/x.py": (3, "ab" * 32), "product.json": (2, "cd" * 32)})
    assert decode_completion(encode_completion(c)) == c


def test_no_data_area_runs_the_cd(tmp_path):
    """Without a data area the CD-ROM's application runs."""
    assert choose(tmp_path, None).slot is None


def test_complete_good_slot_is_chosen(tmp_path):
    """A marked-good, complete active slot is run."""
    data = tmp_path / "data"
    _slot(data, "A", "1.1", {"product.json": b"{}"})
    write_pointer(data, Pointer(1, "A", "cd", "1.1", good=True))
    choice = choose(tmp_path, data)
    assert (choice.slot, choice.root) == ("A", data / "slots" / "A")


def test_truncated_file_in_slot_falls_back_to_cd(tmp_path):
    """A file shorter than recorded makes the slot unusable: the CD-ROM's application runs."""
    data = tmp_path / "data"
    _slot(data, "A", "1.1", {"lib/linux/m.py": b"x = 1\n"})
    write_pointer(data, Pointer(1, "A", "cd", "1.1", good=True))
    (data / "slots" / "A" / "lib" / "linux" / "m.py").write_bytes(b"x")
    choice = choose(tmp_path, data)
    assert choice.slot is None
    assert "has 1 bytes, expected 6" in choice.reason


def test_missing_file_in_slot_falls_back_to_previous_slot(tmp_path):
    """A missing file in the active slot makes the complete previous slot run."""
    data = tmp_path / "data"
    _slot(data, "A", "1.1", {"a.txt": b"a"})
    _slot(data, "B", "1.2", {"b.txt": b"b"})
    write_pointer(data, Pointer(2, "B", "A", "1.2", good=True))
    (data / "slots" / "B" / "b.txt").unlink()
    assert choose(tmp_path, data).slot == "A"


def test_full_check_detects_altered_content(tmp_path):
    """Diagnostics' full check sees a same-size change the start check does not hash."""
    data = tmp_path / "data"
    _slot(data, "A", "1.1", {"a.txt": b"abc"})
    (data / "slots" / "A" / "a.txt").write_bytes(b"xyz")
    assert check_slot(data, "A")[0] is not None
    assert "SHA-256" in check_slot(data, "A", full=True)[1]


def test_two_failed_starts_roll_back_to_previous_slot(tmp_path):
    """A version on trial that failed to start twice is replaced by the previous slot."""
    data = tmp_path / "data"
    _slot(data, "A", "1.1", {"a.txt": b"a"})
    _slot(data, "B", "1.2", {"b.txt": b"b"})
    write_pointer(data, Pointer(4, "B", "A", "1.2", good=False))
    assert choose(tmp_path, data).slot == "B"
    assert choose(tmp_path, data).slot == "B"
    third = choose(tmp_path, data)
    assert (third.slot, third.rolled_back) == ("A", True)
    assert read_pointer(data) == Pointer(5, "A", "cd", "1.1", good=True)
    assert (data / "boot" / "rollback.json").is_file()
    assert choose(tmp_path, data).slot == "A"


def test_two_failed_starts_without_previous_slot_roll_back_to_cd(tmp_path):
    """The first update on trial falls back to the CD-ROM's application after two failures."""
    data = tmp_path / "data"
    _slot(data, "A", "1.1", {"a.txt": b"a"})
    write_pointer(data, Pointer(1, "A", "cd", "1.1", good=False))
    choose(tmp_path, data)
    choose(tmp_path, data)
    choice = choose(tmp_path, data)
    assert (choice.slot, choice.rolled_back) == (None, True)


def test_marked_good_slot_is_not_counted(tmp_path):
    """Starts of a version marked good are not counted (no write at each start)."""
    data = tmp_path / "data"
    _slot(data, "A", "1.1", {"a.txt": b"a"})
    write_pointer(data, Pointer(1, "A", "cd", "1.1", good=True))
    for _ in range(3):
        assert choose(tmp_path, data).slot == "A"
    assert not (data / "boot").exists()


def _fake_app(root: Path, label: str) -> None:
    lib = root / "lib" / layout.platform_name() / "esecure" / "launcher"
    lib.mkdir(parents=True)
    (lib.parent / "__init__.py").write_text("")
    (lib / "__init__.py").write_text("")
    (lib / "app.py").write_text(
        f"def main(argv, boot):\n    print({label!r}, boot.slot, boot.reason)\n    return 0\n"
    )


def test_frozen_style_run_starts_the_application_of_the_active_slot(tmp_path):
    """Run as a process with ESECURE_DATA_DIR, the bootstrap imports the slot's own code."""
    cd, data = tmp_path / "cd", tmp_path / "data"
    _fake_app(cd, "cd-app")
    make_cd(cd)
    _fake_app(data / "slots" / "B", "slot-app")
    make_slot(data, "B", "2.0", {})
    write_pointer(data, Pointer(1, "B", "cd", "2.0", good=True))
    proc = subprocess.run(
        bootstrap_command(),
        capture_output=True,
        text=True,
        env=bootstrap_env(ESECURE_CD_ROOT=str(cd), ESECURE_DATA_DIR=str(data)),
        check=False,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "slot-app B version 2.0 from slot B\n"


def test_an_application_from_a_slot_uses_the_bootstraps_own_onkey_package(tmp_path):
    """A slot whose lib/ carries its own (signed) esecure_onkey still runs with the copy
    frozen in the bootstrap: the reader of the key's files is the one on the CD-ROM."""
    cd, data = tmp_path / "cd", tmp_path / "data"
    make_cd(cd)
    slot = data / "slots" / "B"
    lib = slot / "lib" / layout.platform_name()
    (lib / "esecure" / "launcher").mkdir(parents=True)
    (lib / "esecure" / "__init__.py").write_text("")
    (lib / "esecure" / "launcher" / "__init__.py").write_text("")
    (lib / "esecure" / "launcher" / "app.py").write_text(
        "import esecure_onkey, esecure_onkey.layout\n"
        "def main(argv, boot):\n"
        "    print(esecure_onkey.__file__, esecure_onkey.layout.__file__)\n"
        "    return 0\n"
    )
    (lib / "esecure_onkey").mkdir()
    (lib / "esecure_onkey" / "__init__.py").write_text("raise SystemExit('slot copy ran')\n")
    (lib / "esecure_onkey" / "layout.py").write_text("raise SystemExit('slot copy ran')\n")
    make_slot(data, "B", "2.0", {})
    write_pointer(data, Pointer(1, "B", "cd", "2.0", good=True))
    proc = subprocess.run(
        bootstrap_command(),
        capture_output=True,
        text=True,
        env=bootstrap_env(ESECURE_CD_ROOT=str(cd), ESECURE_DATA_DIR=str(data)),
        check=False,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    package, layout_module = proc.stdout.split()
    assert Path(package).parent == Path(runtime_dir()) / "esecure_onkey"
    assert Path(layout_module).parent == Path(runtime_dir()) / "esecure_onkey"
