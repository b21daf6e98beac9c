"""Finding the data area: pure decisions over text and records, one small probe per OS.

:func:`find_data_area` answers, first that applies:

1. ``ESECURE_DATA_DIR`` (tests, operators) names it;
2. the key's own writable data partition: the FAT volume labelled as the CD-ROM's
   ``product.json`` ``data.label`` says, on the same physical device as the CD-ROM; two
   equally good candidates are a tie and none is taken (another key's data area, with its
   serial and certificate, would be worse than none);
3. a per-user directory on the host (``%LOCALAPPDATA%\\e-secure\\<id>``,
   ``$XDG_DATA_HOME/e-secure/<id>``, ``~/Library/Application Support/e-secure/<id>``).

It never raises and never creates anything. The OS adapters (:data:`PROBES`) only list
volumes; :func:`pick_data_volume` decides.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from esecure_onkey.layout import CD_PRODUCT, DATA_DIR_ENV, platform_name
from esecure_onkey.product import read_product

__all__ = [
    "DATA_VENDOR_DIR",
    "FAT_TYPES",
    "PROBES",
    "DataArea",
    "MountEntry",
    "Probe",
    "Volume",
    "decode_storage_descriptor",
    "find_data_area",
    "linux_cd_device",
    "linux_volumes",
    "macos_volumes",
    "mount_of",
    "parse_mountinfo",
    "pick_data_volume",
    "same_label",
    "udev_label",
    "usb_device_of",
    "user_data_dir",
]

DATA_VENDOR_DIR = "e-secure"
FAT_TYPES = ("vfat", "msdos", "fat", "fat12", "fat16", "fat32", "exfat")


@dataclass(frozen=True)
class DataArea:
    """Where the data area is, and why (the kind: "env", "partition", "user" or "none")."""

    path: Path | None
    kind: str
    reason: str


@dataclass(frozen=True)
class Volume:
    """A mounted volume as the OS reports it; ``device`` names its physical device (the USB
    device both LUNs of a key share), or is None when it cannot be told."""

    root: Path
    label: str
    fs: str
    device: str | None
    writable: bool = True


@dataclass(frozen=True)
class MountEntry:
    """One line of /proc/self/mountinfo."""

    devno: str  # major:minor
    mount_point: str
    fs: str
    source: str
    options: tuple[str, ...]


def _unescape_mount(text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo (octal)."""
    out, i = [], 0
    while i < len(text):
        chunk = text[i + 1 : i + 4]
        if text[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """The mounts of /proc/self/mountinfo (malformed lines are skipped)."""
    entries: list[MountEntry] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        entries.append(
            MountEntry(
                devno=fields[2],
                mount_point=_unescape_mount(fields[4]),
                fs=tail[0],
                source=_unescape_mount(tail[1]),
                options=tuple(fields[5].split(",")),
            )
        )
    return entries


def mount_of(path: str, mounts: Iterable[MountEntry]) -> MountEntry | None:
    """The mount that holds ``path`` (the longest mount point that contains it; last wins)."""
    best: MountEntry | None = None
    for m in mounts:
        point = m.mount_point.rstrip("/") or "/"
        inside = point in ("/", path) or path.startswith(point + "/")
        if inside and (best is None or len(point) >= len(best.mount_point.rstrip("/") or "/")):
            best = m
    return best


def usb_device_of(sys_path: str) -> str:
    """The physical device of a block device, from its resolved /sys path: the part up to
    the SCSI host (``.../usb1/1-2/1-2:1.0/host6``), which the CD-ROM LUN (sr0) and the disk
    LUN (sdb) of one key share; else the whole path (a loop device, an NVMe disk...)."""
    parts = sys_path.split("/")
    for i, part in enumerate(parts):
        if part.startswith("host") and part[4:].isdigit():
            return "/".join(parts[: i + 1])
    return sys_path


def same_label(a: str, b: str) -> bool:
    """FAT labels compare without case and trailing blanks (FAT stores them upper-case)."""
    return a.strip().upper() == b.strip().upper()


def pick_data_volume(
    volumes: Iterable[Volume], label: str, cd_device: str | None
) -> tuple[Volume | None, str]:
    """The key's data partition among ``volumes``, or (None, why). Pure.

    Only writable FAT volumes labelled ``label`` count. With the CD-ROM's device known, a
    candidate on that device wins and one known to be on another device never counts (it
    is another key's, with its serial and certificate). Two equally good candidates are a
    tie: none is taken, rather than the wrong key's.
    """
    found = [
        v
        for v in volumes
        if same_label(v.label, label) and v.fs.lower() in FAT_TYPES and v.writable
    ]
    if not found:
        return None, f"no writable FAT volume labelled {label}"
    if cd_device is not None:
        same = [v for v in found if v.device == cd_device]
        if len(same) == 1:
            return same[0], f"partition {label} at {same[0].root}, on the CD-ROM's device"
        if len(same) > 1:
            roots = ", ".join(str(v.root) for v in same)
            return None, f"{len(same)} volumes labelled {label} on the CD-ROM's device ({roots})"
        unknown = [v for v in found if v.device is None]
        if not unknown:
            roots = ", ".join(str(v.root) for v in found)
            return None, f"volume(s) labelled {label} ({roots}) belong to another device"
        found = unknown
    if len(found) == 1:
        return found[0], f"partition {label} at {found[0].root}"
    roots = ", ".join(str(v.root) for v in found)
    return None, (
        f"{len(found)} volumes labelled {label} ({roots}) and none known to be on the "
        "CD-ROM's device: not guessing which key is this one"
    )


def user_data_dir(product_id: str, platform: str, environ: Mapping[str, str], home: Path) -> Path:
    """The per-user data directory on the host. Pure."""
    if platform == "windows":
        base = environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / DATA_VENDOR_DIR / product_id
    if platform == "macos":
        return home / "Library" / "Application Support" / DATA_VENDOR_DIR / product_id
    xdg = environ.get("XDG_DATA_HOME", "")
    base_dir = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base_dir / DATA_VENDOR_DIR / product_id


# Linux: /proc/self/mountinfo, the udev database (/run/udev/data), /sys/dev/block.


def udev_label(text: str) -> str | None:
    """The file-system label in a udev database record (``E:ID_FS_LABEL_ENC=`` escapes
    as \\xNN, ``E:ID_FS_LABEL=`` replaces unsafe characters). Pure."""
    values = dict(
        line[2:].split("=", 1)
        for line in text.splitlines()
        if line.startswith("E:") and "=" in line
    )
    encoded = values.get("ID_FS_LABEL_ENC")
    if encoded:
        return re.sub(r"\\x([0-9a-fA-F]{2})", lambda h: chr(int(h.group(1), 16)), encoded)
    return values.get("ID_FS_LABEL") or None


def _sys_device(devno: str, sys_root: Path) -> str | None:
    node = sys_root / "dev" / "block" / devno
    if not devno or not node.exists():
        return None
    return usb_device_of(os.path.realpath(node))


def linux_volumes(
    mountinfo: str, *, run_root: Path = Path("/run"), sys_root: Path = Path("/sys")
) -> list[Volume]:
    """Mounted FAT volumes with their labels (udev database, else the mount point's name,
    as udisks names it) and physical devices (the resolved /sys/dev/block/<major:minor>)."""
    volumes = []
    for m in parse_mountinfo(mountinfo):
        if m.fs.lower() not in FAT_TYPES:
            continue
        label = None
        with contextlib.suppress(OSError):
            label = udev_label(
                (run_root / "udev" / "data" / f"b{m.devno}").read_text(errors="replace")
            )
        volumes.append(
            Volume(
                Path(m.mount_point),
                label or Path(m.mount_point).name,
                m.fs,
                _sys_device(m.devno, sys_root),
                "rw" in m.options,
            )
        )
    return volumes


def linux_cd_device(cd: Path, mountinfo: str, *, sys_root: Path = Path("/sys")) -> str | None:
    """The physical device of the volume the CD-ROM root is on."""
    m = mount_of(os.path.realpath(cd), parse_mountinfo(mountinfo))
    return _sys_device(m.devno, sys_root) if m is not None else None


# macOS: /Volumes/<label>; a second volume with the same label is mounted as "<label> 1".


def macos_volumes(label: str, volumes_root: Path = Path("/Volumes")) -> list[Volume]:
    """The volumes named ``label`` or ``label N`` (FAT assumed; the device is not told)."""
    found = []
    with contextlib.suppress(OSError):
        for entry in volumes_root.iterdir():
            base, _, suffix = entry.name.rpartition(" ")
            named = same_label(entry.name, label) or (same_label(base, label) and suffix.isdigit())
            if named and entry.is_dir():
                found.append(Volume(entry, label, "fat", None, os.access(entry, os.W_OK)))
    return found


# Windows: drive letters (kernel32), and the USB identity of each drive's device.

STORAGE_DEVICE_DESCRIPTOR_MIN = 36


def decode_storage_descriptor(data: bytes) -> str | None:
    """The device identity (bus, vendor, product, serial) of a STORAGE_DEVICE_DESCRIPTOR
    returned by IOCTL_STORAGE_QUERY_PROPERTY; None without a serial number. Pure."""
    if len(data) < STORAGE_DEVICE_DESCRIPTOR_MIN:
        return None

    def dword(at: int) -> int:
        return int.from_bytes(data[at : at + 4], "little")

    def text(at: int) -> str:
        offset = dword(at)
        if offset == 0 or offset >= len(data):
            return ""
        return data[offset:].split(b"\0", 1)[0].decode("ascii", "replace").strip()

    serial = text(24)
    if not serial:
        return None
    return f"bus{dword(28)}|{text(12)}|{text(16)}|{serial}"


def _windows_device(letter: str) -> str | None:  # pragma: no cover - runs on Windows only
    import ctypes  # noqa: PLC0415
    from ctypes import wintypes  # noqa: PLC0415

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    k32.CreateFileW.restype = wintypes.HANDLE
    k32.CreateFileW.argtypes = [
        wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID,
        wintypes.DWORD, wintypes.DWORD, wintypes.HANDLE,
    ]  # fmt: skip
    handle = k32.CreateFileW(f"\\\\.\\{letter}:", 0, 3, None, 3, 0, None)  # no access, share rw
    if handle in (None, wintypes.HANDLE(-1).value):
        return None
    try:
        query = (ctypes.c_uint32 * 3)(0, 0, 0)  # StorageDeviceProperty, PropertyStandardQuery
        out = ctypes.create_string_buffer(1024)
        got = wintypes.DWORD(0)
        ok = k32.DeviceIoControl(
            wintypes.HANDLE(handle), 0x002D1400, query, 12, out, 1024, ctypes.byref(got), None
        )  # IOCTL_STORAGE_QUERY_PROPERTY
        return decode_storage_descriptor(out.raw[: got.value]) if ok else None
    finally:
        k32.CloseHandle(wintypes.HANDLE(handle))


def windows_volumes() -> list[Volume]:  # pragma: no cover - runs on Windows only
    """Every drive letter with its label, file system and device identity."""
    import ctypes  # noqa: PLC0415

    k32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    buf = ctypes.create_unicode_buffer(1024)
    size = k32.GetLogicalDriveStringsW(1023, buf)
    volumes = []
    for root in ctypes.wstring_at(ctypes.addressof(buf), size).split("\0"):
        if not root or k32.GetDriveTypeW(root) not in (2, 3):  # DRIVE_REMOVABLE, DRIVE_FIXED
            continue
        name, fs = ctypes.create_unicode_buffer(261), ctypes.create_unicode_buffer(261)
        flags = ctypes.c_uint32(0)
        if not k32.GetVolumeInformationW(root, name, 261, None, None, ctypes.byref(flags), fs, 261):
            continue
        read_only = bool(flags.value & 0x00080000)  # FILE_READ_ONLY_VOLUME
        device = None
        with contextlib.suppress(Exception):
            device = _windows_device(root[0])
        volumes.append(Volume(Path(root), name.value, fs.value, device, not read_only))
    return volumes


def linux_probe(cd: Path, label: str) -> tuple[list[Volume], str | None]:  # pragma: no cover
    """Linux: the mounts, labels and devices, and the CD-ROM's device."""
    del label  # every FAT mount is listed; the pure rule picks by label
    text = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
    return linux_volumes(text), linux_cd_device(cd, text)


def macos_probe(cd: Path, label: str) -> tuple[list[Volume], str | None]:  # pragma: no cover
    """macOS: /Volumes; the device is not told."""
    del cd
    return macos_volumes(label), None


def windows_probe(cd: Path, label: str) -> tuple[list[Volume], str | None]:  # pragma: no cover
    """Windows: every drive letter, and the device of the CD-ROM's drive."""
    del label
    drive = os.path.splitdrive(os.path.realpath(cd))[0][:1]
    return windows_volumes(), (_windows_device(drive) if drive else None)


#: One probe per OS behind one interface: (CD-ROM root, data label) -> (volumes, CD device).
Probe = Callable[[Path, str], tuple[list[Volume], str | None]]
PROBES: dict[str, Probe] = {"linux": linux_probe, "macos": macos_probe, "windows": windows_probe}


def find_data_area(
    cd: Path,
    *,
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
    probe: Probe | None = None,
) -> DataArea:
    """The data area: ESECURE_DATA_DIR, else the key's data partition, else a per-user
    directory on the host (which the reason says). Never raises: the key must start."""
    env = os.environ if environ is None else environ
    plat = platform or platform_name()
    value = env.get(DATA_DIR_ENV)
    if value:
        return DataArea(Path(value), "env", f"data area {value} (from {DATA_DIR_ENV})")
    product = read_product(cd / "app")
    if product is None:
        return DataArea(None, "none", f"no data area: {cd / CD_PRODUCT} is unreadable")
    product_id, label = product.id, product.data_label
    try:
        volumes, cd_device = (probe or PROBES[plat])(cd, label)
        volume, why = pick_data_volume(volumes, label, cd_device)
    except Exception as exc:  # noqa: BLE001 - an OS oddity must not stop the key from starting
        volume, why = None, f"looking for partition {label} failed ({type(exc).__name__})"
    if volume is not None:
        return DataArea(volume.root, "partition", f"data area: {why}")
    try:
        where = user_data_dir(product_id, plat, env, home or Path.home())
    except (RuntimeError, KeyError):  # no home directory
        return DataArea(None, "none", f"no data area: {why}, and no home directory")
    return DataArea(
        where, "user", f"data area: per-user directory {where} on this computer ({why})"
    )
