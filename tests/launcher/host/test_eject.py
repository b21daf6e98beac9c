"""Ejecting the key: the decisions per OS, and each ejector over a recording runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from esecure._tools import Result
from esecure.launcher.host.eject import (
    LinuxEjector,
    MacEjector,
    Mount,
    WindowsEjector,
    ejector_for,
    linux_plan,
    macos_plan,
    mount_of,
    parse_mountinfo,
    windows_script,
)
from tests.fake_runner import FakeRunner

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /tmp rw,nosuid shared:20 - tmpfs tmpfs rw
61 22 11:0 / /media/u/ESECURE ro,nosuid,nodev shared:30 - iso9660 /dev/sr0 ro
62 22 8:17 / /media/u/ESEC\\040DATA rw,nosuid,nodev shared:31 - vfat /dev/sdb1 rw,uid=1000
63 62 0:50 / /media/u/ESEC\\040DATA/inner rw - tmpfs tmpfs rw
broken line
"""
CD, DATA = Path("/media/u/ESECURE"), Path("/media/u/ESEC DATA")


def test_mountinfo_is_parsed_with_its_escapes():
    """Mount point (\\040 is a space), source, type, read-only; bad lines skipped."""
    mounts = parse_mountinfo(MOUNTINFO)
    assert len(mounts) == 5
    assert mounts[2] == Mount("/media/u/ESECURE", "/dev/sr0", "iso9660", read_only=True)
    assert mounts[3] == Mount("/media/u/ESEC DATA", "/dev/sdb1", "vfat", read_only=False)


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("/media/u/ESECURE/app/product.json", "/dev/sr0"),
        ("/media/u/ESEC DATA/profile", "/dev/sdb1"),
        ("/media/u/ESEC DATA/inner/x", "tmpfs"),
        ("/media/u/ESECURE2/x", "/dev/sda1"),
        ("/home/u", "/dev/sda1"),
    ],
)
def test_the_mount_of_a_path_is_its_longest_prefix(path, source):
    """By path components (ESECURE2 is not under ESECURE), the innermost mount wins."""
    assert mount_of(path, parse_mountinfo(MOUNTINFO)).source == source


def test_the_linux_plan_unmounts_writable_first_then_powers_off():
    """udisksctl: unmount the data area, then the CD-ROM, then power the drive off; else
    eject each; no tool: no plan."""
    volumes = [
        Mount(str(CD), "/dev/sr0", "iso9660", read_only=True),
        Mount(str(DATA), "/dev/sdb1", "vfat", read_only=False),
    ]
    plan = linux_plan(volumes, frozenset({"udisksctl", "eject"}))
    assert [(t.name, a[:3]) for t, a in plan] == [
        ("udisksctl", ["unmount", "--block-device", "/dev/sdb1"]),
        ("udisksctl", ["unmount", "--block-device", "/dev/sr0"]),
        ("udisksctl", ["power-off", "--block-device", "/dev/sdb1"]),
    ]
    assert all("--no-user-interaction" in a for _, a in plan)
    assert [(t.name, a) for t, a in linux_plan(volumes, frozenset({"eject"}))] == [
        ("eject", ["/dev/sdb1"]),
        ("eject", ["/dev/sr0"]),
    ]
    assert linux_plan(volumes, frozenset()) == []


def _linux(answer=lambda _tool, _args: Result(0), absent=(), removable=lambda _d: True):
    runner = FakeRunner(absent=frozenset(absent), answer=answer)
    synced = []
    ejector = LinuxEjector(
        runner, mountinfo=lambda: MOUNTINFO, removable=removable, sync=lambda: synced.append(1)
    )
    return ejector, runner, synced


def test_linux_ejects_the_key_and_says_it_is_safe():
    """Synced, both volumes unmounted, the drive powered off: ejected."""
    ejector, runner, synced = _linux()
    result = ejector.eject([CD, DATA / "profile"])
    assert result.safe and result.status == "ejected"
    assert synced == [1]
    assert [c.args[0] for c in runner.calls] == ["unmount", "unmount", "power-off"]
    assert all(not c.check and c.timeout > 0 for c in runner.calls)


def test_a_busy_data_area_is_not_safe():
    """The writable volume stays mounted (a program uses it): busy, the reason given."""

    def answer(_tool, args):
        busy = args[0] == "unmount" and args[2] == "/dev/sdb1"
        return Result(1, stderr="Error unmounting /dev/sdb1: target is busy") if busy else Result(0)

    result = _linux(answer)[0].eject([CD, DATA])
    assert result.status == "busy" and not result.safe
    assert "target is busy" in result.detail


def test_the_cd_rom_we_run_from_may_stay_mounted():
    """The read-only CD-ROM is busy (the launcher runs from it): the data area is
    unmounted, so unplugging loses nothing: safe, and no power-off is tried."""

    def answer(_tool, args):
        return Result(1, stderr="target is busy") if args[2] == "/dev/sr0" else Result(0)

    ejector, runner, _ = _linux(answer)
    result = ejector.eject([CD, DATA])
    assert result.safe
    assert [c.args[0] for c in runner.calls] == ["unmount", "unmount"]


def test_without_udisks_eject_is_used_and_without_both_it_says_so():
    """eject(1) as the fallback; neither tool: failed, naming both."""
    ejector, runner, _ = _linux(absent={"udisksctl"})
    assert ejector.eject([CD, DATA]).safe
    assert {c.tool for c in runner.calls} == {"eject"}
    result = _linux(absent={"udisksctl", "eject"})[0].eject([CD, DATA])
    assert result.status == "failed" and "udisksctl" in result.detail


def test_attack_never_the_system_disk():
    """Paths on / (a checkout, a key copied to the disk) or on a non-removable device:
    nothing is run, nothing to eject."""
    ejector, runner, synced = _linux()
    result = ejector.eject([Path("/home/u/key/cd"), Path("/var/lib/data")])
    assert result.status == "not-removable"
    assert runner.calls == [] and synced == []
    fixed, runner, _ = _linux(removable=lambda _device: False)
    assert fixed.eject([CD, DATA]).status == "not-removable"
    assert runner.calls == []


def test_windows_asks_the_shell_to_eject_and_waits_for_the_drives_to_go():
    """The shell's Eject verb on each drive letter; ejected once the drives are gone."""
    present = {"E:": 2, "F:": 0}

    def exists(drive):
        present[drive] = max(present[drive] - 1, 0)
        return present[drive] > 0

    runner = FakeRunner()
    ejector = WindowsEjector(runner, exists=exists, wait=lambda _s: None)
    result = ejector.eject([Path("E:/"), Path("F:/data"), Path("C:/Users/u")])
    assert result.safe and result.detail == "E:, F:"
    [call] = runner.calls
    assert call.tool == "powershell" and call.args[:2] == ("-NoProfile", "-NonInteractive")
    assert "ParseName('E:')" in call.args[-1] and "ParseName('F:')" in call.args[-1]
    assert "C:" not in call.args[-1]


def test_windows_drives_that_stay_are_not_safe():
    """A drive still there after the wait: not safe."""
    ejector = WindowsEjector(FakeRunner(), exists=lambda _d: True, wait=lambda _s: None)
    result = ejector.eject([Path("E:/")])
    assert not result.safe and "E:" in result.detail


@pytest.mark.parametrize("drive", ["E:'); Remove-Item C:\\ -Recurse; ('", "EE:", "", "1:"])
def test_attack_nothing_but_a_drive_letter_reaches_powershell(drive):
    """A crafted "drive" is refused before any script is made."""
    with pytest.raises(ValueError, match="not a drive letter"):
        windows_script([drive])


def test_macos_ejects_each_volume_with_diskutil():
    """diskutil eject per mount point under /Volumes (each once); elsewhere: nothing."""
    assert [a for _, a in macos_plan(["/Volumes/ESECURE", "/Volumes/ESECURE", "/"])] == [
        ["eject", "/Volumes/ESECURE"]
    ]
    runner = FakeRunner()
    ejector = MacEjector(runner, mount_point=lambda p: "/Volumes/" + p.parts[2])
    assert ejector.eject([Path("/Volumes/ESECURE/app"), Path("/Volumes/DATA")]).safe
    assert [c.args for c in runner.calls] == [
        ("eject", "/Volumes/ESECURE"),
        ("eject", "/Volumes/DATA"),
    ]
    refused = FakeRunner(answer=lambda _t, _a: Result(1, stderr="Volume in use"))
    result = MacEjector(refused, mount_point=lambda _p: "/Volumes/K").eject([Path("/Volumes/K")])
    assert result.status == "busy"


def test_one_ejector_per_platform():
    """linux, windows, macos; anything else is refused."""
    assert isinstance(ejector_for("linux"), LinuxEjector)
    assert isinstance(ejector_for("windows"), WindowsEjector)
    assert isinstance(ejector_for("macos"), MacEjector)
    with pytest.raises(ValueError, match="expected linux"):
        ejector_for("amiga")
