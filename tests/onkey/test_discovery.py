"""The bootstrap finds the data area: ESECURE_DATA_DIR, the key's partition, a per-user dir.

`mount -o loop` of a FAT image is refused in this sandbox (no vfat in its kernel), so the
Linux adapter is tested over a directory layout shaped like /sys, /run/udev and
mountinfo of a real USB key (a CD-ROM LUN sr0 and a disk LUN sdb on one SCSI host).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from esecure.launcher import app
from esecure_onkey.boot import start_choice
from esecure_onkey.discovery import (
    Volume,
    decode_storage_descriptor,
    find_data_area,
    linux_cd_device,
    linux_volumes,
    mount_of,
    parse_mountinfo,
    pick_data_volume,
    udev_label,
    usb_device_of,
    user_data_dir,
)
from esecure_onkey.layout import CD_PRODUCT
from esecure_onkey.product import decode_product
from tests.onkey.fixtures import app_files, default_components, make_cd
from tests.onkey_child import bootstrap_command, bootstrap_env

LABEL = "ESECUREDATA"
KEY = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/host6"
OTHER = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/host7"


def _cd(tmp_path: Path, product_id: str = "demo-bank", label: str = LABEL) -> Path:
    cd = tmp_path / "cd"
    (cd / "app").mkdir(parents=True, exist_ok=True)
    doc = {"format": 1, "id": product_id, "data": {"label": label}}
    (cd / CD_PRODUCT).write_text(json.dumps(doc))
    return cd


def _vol(root: str, device: str | None, *, label: str = LABEL, fs: str = "vfat") -> Volume:
    return Volume(Path(root), label, fs, device)


# --- pure decisions ------------------------------------------------------------------------


MOUNTINFO = (
    "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
    "40 22 11:0 / /media/ann/BANK\\040KEY ro,nosuid shared:9 - iso9660 /dev/sr0 ro\n"
    "41 22 8:17 / /media/ann/ESECUREDATA rw,nosuid shared:10 - vfat /dev/sdb1 rw,showexec\n"
    "42 22 8:33 / /media/ann/ESECUREDATA1 rw,nosuid shared:11 - vfat /dev/sdc1 rw\n"
    "garbage line\n"
)


def test_mountinfo_is_parsed_with_escapes():
    """mountinfo lines give device number, mount point (\\040 is a space), type, options."""
    mounts = parse_mountinfo(MOUNTINFO)
    assert len(mounts) == 4
    assert mounts[1].mount_point == "/media/ann/BANK KEY"
    assert (mounts[1].devno, mounts[1].fs, mounts[1].options[0]) == ("11:0", "iso9660", "ro")


def test_the_mount_of_a_path_is_the_longest_containing_mount_point():
    """The CD-ROM's executable lies on the CD's mount, not on the root file system."""
    m = mount_of("/media/ann/BANK KEY/e-secure", parse_mountinfo(MOUNTINFO))
    assert m is not None
    assert m.source == "/dev/sr0"
    m = mount_of("/media/ann/BANK KEYS/x", parse_mountinfo(MOUNTINFO))
    assert m is not None
    assert m.mount_point == "/"


def test_both_luns_of_one_key_have_the_same_physical_device():
    """sr0 (LUN 0) and sdb1 (LUN 1) of one USB key share the SCSI host in /sys."""
    sr0 = f"{KEY}/target6:0:0/6:0:0:0/block/sr0"
    sdb1 = f"{KEY}/target6:0:0/6:0:0:1/block/sdb/sdb1"
    assert usb_device_of(sr0) == usb_device_of(sdb1) == KEY
    assert usb_device_of("/sys/devices/virtual/block/loop0") == "/sys/devices/virtual/block/loop0"


def test_udev_label_decodes_the_encoded_label():
    """ID_FS_LABEL_ENC (\\xNN escapes) wins over the sanitised ID_FS_LABEL."""
    assert udev_label("E:ID_FS_LABEL=MY_KEY\nE:ID_FS_LABEL_ENC=MY\\x20KEY\n") == "MY KEY"
    assert udev_label("E:ID_FS_LABEL=ESECUREDATA\n") == "ESECUREDATA"
    assert udev_label("S:disk/by-id/x\n") is None


def test_the_partition_on_the_cd_roms_device_wins():
    """Another key's partition with the same label is not taken when ours is there."""
    vols = [_vol("/media/ann/ESECUREDATA", OTHER), _vol("/media/ann/ESECUREDATA1", KEY)]
    volume, why = pick_data_volume(vols, LABEL, KEY)
    assert volume is not None
    assert volume.root == Path("/media/ann/ESECUREDATA1")
    assert "on the CD-ROM's device" in why


def test_another_keys_partition_alone_is_not_taken():
    """The only labelled partition is on another device: none rather than the wrong key."""
    volume, why = pick_data_volume([_vol("/media/ann/ESECUREDATA", OTHER)], LABEL, KEY)
    assert volume is None
    assert "another device" in why


def test_two_partitions_on_the_cd_roms_device_are_a_tie():
    """Two equally good candidates: none is chosen."""
    vols = [_vol("/a", KEY), _vol("/b", KEY)]
    assert pick_data_volume(vols, LABEL, KEY)[0] is None


def test_two_candidates_of_unknown_device_are_a_tie():
    """Without device information, two labelled partitions: refuse to guess."""
    vols = [_vol("E:\\", None), _vol("F:\\", None)]
    volume, why = pick_data_volume(vols, LABEL, None)
    assert volume is None
    assert "not guessing" in why


def test_a_single_candidate_of_unknown_device_is_taken():
    """One labelled partition and no device information (macOS): it is the key's."""
    volume, _ = pick_data_volume([_vol("/Volumes/ESECUREDATA", None)], LABEL, KEY)
    assert volume is not None


@pytest.mark.parametrize(
    "volume",
    [
        Volume(Path("/x"), LABEL, "ext4", KEY),
        Volume(Path("/x"), LABEL, "vfat", KEY, writable=False),
        Volume(Path("/x"), "OTHERLABEL", "vfat", KEY),
    ],
    ids=["not-fat", "read-only", "other-label"],
)
def test_volumes_that_cannot_be_the_data_partition_are_ignored(volume):
    """Only a writable FAT volume with the project's label counts."""
    assert pick_data_volume([volume], LABEL, KEY)[0] is None


def test_labels_compare_without_case():
    """FAT labels are upper-case on disk; Windows may report them otherwise."""
    assert pick_data_volume([_vol("E:\\", None, label="esecuredata", fs="FAT32")], LABEL, None)[0]


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("windows", {"LOCALAPPDATA": "C:/Users/ann/AppData/Local"},
         "C:/Users/ann/AppData/Local/e-secure/demo-bank"),
        ("windows", {}, "/home/ann/AppData/Local/e-secure/demo-bank"),
        ("linux", {"XDG_DATA_HOME": "/xdg"}, "/xdg/e-secure/demo-bank"),
        ("linux", {"XDG_DATA_HOME": "relative"}, "/home/ann/.local/share/e-secure/demo-bank"),
        ("linux", {}, "/home/ann/.local/share/e-secure/demo-bank"),
        ("macos", {}, "/home/ann/Library/Application Support/e-secure/demo-bank"),
    ],
)  # fmt: skip
def test_per_user_data_directory_per_platform(platform, environ, expected):
    """Windows %LOCALAPPDATA%, Linux XDG (absolute only), macOS Application Support."""
    assert user_data_dir("demo-bank", platform, environ, Path("/home/ann")) == Path(expected)


def _descriptor(vendor: bytes, product: bytes, serial: bytes, bus: int = 7) -> bytes:
    head = bytearray(40)
    strings = bytearray()
    offsets = []
    for text in (vendor, product, serial):
        offsets.append(len(head) + len(strings) if text else 0)
        strings += text + b"\0"
    for at, value in zip((12, 16, 24), offsets, strict=True):
        head[at : at + 4] = value.to_bytes(4, "little")
    head[28:32] = bus.to_bytes(4, "little")
    return bytes(head + strings)


def test_windows_storage_descriptor_gives_the_usb_identity():
    """Vendor, product and serial of IOCTL_STORAGE_QUERY_PROPERTY's answer name the key."""
    ident = decode_storage_descriptor(_descriptor(b"Bank    ", b"Key", b"0123ABC"))
    assert ident == "bus7|Bank|Key|0123ABC"


def test_windows_storage_descriptor_without_serial_tells_nothing():
    """No serial number: two identical keys cannot be told apart, so no identity."""
    assert decode_storage_descriptor(_descriptor(b"Bank", b"Key", b"")) is None
    assert decode_storage_descriptor(b"\0" * 10) is None


# --- find_data_area, per platform (the OS probe replaced by what that OS would report) ------


WINDOWS_DRIVES = [
    Volume(Path("C:\\"), "OS", "NTFS", "bus11|Disk|SSD|S1"),
    Volume(Path("E:\\"), LABEL, "FAT32", "bus7|Bank|Key|0123"),
    Volume(Path("F:\\"), LABEL, "FAT32", "bus7|Bank|Key|0999"),
]


@pytest.mark.parametrize(
    ("platform", "volumes", "cd_device", "expected"),
    [
        ("windows", WINDOWS_DRIVES, "bus7|Bank|Key|0123", "E:\\"),
        ("linux", [_vol("/media/ann/ESECUREDATA", KEY)], KEY, "/media/ann/ESECUREDATA"),
        ("macos", [_vol("/Volumes/ESECUREDATA", None, fs="fat")], None, "/Volumes/ESECUREDATA"),
    ],
)
def test_the_keys_partition_is_the_data_area(tmp_path, platform, volumes, cd_device, expected):
    """Each platform's volume records lead to the key's own data partition."""
    area = find_data_area(
        _cd(tmp_path),
        environ={},
        platform=platform,
        home=tmp_path,
        probe=lambda _cd, _label: (volumes, cd_device),
    )
    assert (area.kind, str(area.path)) == ("partition", str(expected))


@pytest.mark.parametrize("platform", ["windows", "linux", "macos"])
def test_without_a_partition_the_per_user_directory_is_used_and_said(tmp_path, platform):
    """No data partition: the per-user directory, and the reason says so."""
    area = find_data_area(
        _cd(tmp_path),
        environ={"LOCALAPPDATA": str(tmp_path / "local")},
        platform=platform,
        home=tmp_path,
        probe=lambda _cd, _label: ([], None),
    )
    assert area.kind == "user"
    env = {"LOCALAPPDATA": str(tmp_path / "local")}
    assert area.path == user_data_dir("demo-bank", platform, env, tmp_path)
    assert "per-user directory" in area.reason
    assert f"no writable FAT volume labelled {LABEL}" in area.reason


def test_two_keys_without_device_information_fall_back_to_the_per_user_directory(tmp_path):
    """Equally good candidates: neither key's partition, the host's directory instead."""
    area = find_data_area(
        _cd(tmp_path),
        environ={},
        platform="macos",
        home=tmp_path,
        probe=lambda _cd, _label: (
            [_vol("/Volumes/A", None), _vol("/Volumes/B", None)],
            None,
        ),
    )
    assert area.kind == "user"
    assert "not guessing" in area.reason


def test_the_environment_variable_wins(tmp_path):
    """ESECURE_DATA_DIR (tests, operators) is used without looking at volumes."""

    def probe(*_args: object) -> tuple[list[Volume], None]:
        raise AssertionError("volumes were probed")

    area = find_data_area(
        _cd(tmp_path), environ={"ESECURE_DATA_DIR": "/srv/data"}, platform="linux", probe=probe
    )
    assert (area.kind, area.path) == ("env", Path("/srv/data"))


def test_a_failing_probe_does_not_stop_the_key(tmp_path):
    """An OS oddity while listing volumes: the per-user directory, with the failure named."""

    def probe(*_args: object) -> tuple[list[Volume], None]:
        raise OSError("no /proc")

    area = find_data_area(_cd(tmp_path), environ={}, platform="linux", home=tmp_path, probe=probe)
    assert area.kind == "user"
    assert "OSError" in area.reason


def test_unreadable_product_json_means_no_data_area(tmp_path):
    """Without the CD-ROM's product.json there is no label and no product id: none."""
    area = find_data_area(tmp_path, environ={}, platform="linux", home=tmp_path)
    assert (area.kind, area.path) == ("none", None)


# --- the Linux adapter over a directory layout --------------------------------------------------


def _linux_layout(root: Path) -> tuple[Path, Path]:
    """/sys/dev/block links and /run/udev records of a key (sr0 + sdb1) and another (sdc1)."""
    sys_root, run_root = root / "sys", root / "run"
    for devno, target in (
        ("11:0", f"{KEY}/target6:0:0/6:0:0:0/block/sr0"),
        ("8:17", f"{KEY}/target6:0:0/6:0:0:1/block/sdb/sdb1"),
        ("8:33", f"{OTHER}/target7:0:0/7:0:0:1/block/sdc/sdc1"),
    ):
        real = root / target.lstrip("/")
        real.mkdir(parents=True)
        link = sys_root / "dev" / "block" / devno
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real)
    udev = run_root / "udev" / "data"
    udev.mkdir(parents=True)
    (udev / "b8:17").write_text(f"E:ID_FS_TYPE=vfat\nE:ID_FS_LABEL={LABEL}\n")
    (udev / "b8:33").write_text(f"E:ID_FS_LABEL_ENC={LABEL}\n")
    return sys_root, run_root


def test_linux_adapter_finds_the_keys_partition_beside_another_key(tmp_path):
    """Two keys plugged in, both labelled: the partition on our CD-ROM's USB device wins."""
    sys_root, run_root = _linux_layout(tmp_path)
    volumes = linux_volumes(MOUNTINFO, run_root=run_root, sys_root=sys_root)
    assert [(str(v.root), v.label) for v in volumes] == [
        ("/media/ann/ESECUREDATA", LABEL),
        ("/media/ann/ESECUREDATA1", LABEL),  # label from udev, not from the mount point
    ]
    cd_device = linux_cd_device(Path("/media/ann/BANK KEY"), MOUNTINFO, sys_root=sys_root)
    assert cd_device == str(tmp_path / KEY.lstrip("/"))
    volume, _ = pick_data_volume(volumes, LABEL, cd_device)
    assert volume is not None
    assert volume.root == Path("/media/ann/ESECUREDATA")


def test_linux_adapter_without_udev_takes_the_label_from_the_mount_point(tmp_path):
    """No udev record: udisks names the mount point after the label."""
    volumes = linux_volumes(MOUNTINFO, run_root=tmp_path / "none", sys_root=tmp_path / "none")
    assert [v.label for v in volumes] == [LABEL, "ESECUREDATA1"]
    assert all(v.device is None for v in volumes)


# --- the Choice carries the data area to the launcher ------------------------------------------


def test_the_choice_carries_the_per_user_data_area_and_says_so(tmp_path):
    """start_choice: the application root, plus the data area the launcher then uses."""
    area = find_data_area(
        _cd(tmp_path), environ={}, platform="linux", home=tmp_path, probe=lambda *_a: ([], None)
    )
    choice = start_choice(_cd(tmp_path), area)
    assert choice.data_dir == area.path
    assert choice.data_kind == "user"
    assert choice.reason.startswith("application shipped on the CD-ROM")
    assert "per-user directory" in choice.reason
    assert app.data_area(choice) == area


def test_the_bootstrap_process_hands_the_data_area_to_the_application(tmp_path):
    """Run as a script without ESECURE_DATA_DIR: the app receives the per-user data area."""
    cd = tmp_path / "cd"
    components = default_components("1.0")
    components["app"] = {
        **app_files("1.0", "boot.data_kind, boot.data_dir"),
        "product.json": components["app"]["product.json"],
    }
    make_cd(cd, "1.0", components)
    proc = subprocess.run(
        bootstrap_command(),
        capture_output=True,
        text=True,
        env=bootstrap_env(
            ESECURE_CD_ROOT=str(cd), HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "xdg")
        ),
        check=False,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"user {tmp_path / 'xdg' / 'e-secure' / 'demo-bank'}\n"


def test_the_builds_product_json_carries_what_the_bootstrap_reads(tmp_path):
    """product.json (bundle.build) has the product id and [image] data_label, read back."""
    from esecure.bundle.build import product_json  # noqa: PLC0415
    from esecure.config import load_project  # noqa: PLC0415
    from esecure.scaffold import InitOptions, init_project  # noqa: PLC0415

    init_project(tmp_path / "p", InitOptions(demo=True), passphrase=None)
    project = load_project(tmp_path / "p")
    got = decode_product(product_json(project))
    assert got is not None
    assert (got.id, got.data_label) == (project.product.id, project.image.data_label)
