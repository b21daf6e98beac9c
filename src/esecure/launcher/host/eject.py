"""Ejecting the key with the platform's own means, and whether it is then safe to unplug.

One ejector per OS behind :class:`Ejector`; the decisions are pure functions tested on
Linux for every platform (:func:`linux_plan`, :func:`windows_script`, :func:`macos_plan`);
the programs run through :class:`esecure._tools.Runner` (tests pass a recording fake).

* **Linux** (tested here): the key's volumes are found in ``/proc/self/mountinfo``; only
  removable devices (sysfs ``removable``, or on the USB bus) are touched, never ``/``.
  udisks2 (``udisksctl unmount``, then ``udisksctl power-off`` of the drive) as the user
  the desktop session allows it for; else ``eject``. Writable volumes are unmounted
  first. **Safe to unplug** means every writable volume of the key is unmounted (its
  writes are on the key): the read-only CD-ROM may stay mounted while the launcher still
  runs from it, and unplugging it then loses nothing.
* **Windows** (not run here): the shell's own "Eject" verb on the key's drive letters
  (``Shell.Application``, through PowerShell), then the drives must be gone.
* **macOS** (not run here): ``diskutil eject`` of each volume's mount point.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal, Protocol

from esecure._tools import SYSTEM, Runner, Tool
from esecure.errors import ToolError

__all__ = [
    "DISKUTIL",
    "EJECT",
    "POWERSHELL",
    "UDISKSCTL",
    "EjectResult",
    "EjectStatus",
    "Ejector",
    "LinuxEjector",
    "MacEjector",
    "Mount",
    "WindowsEjector",
    "ejector_for",
    "linux_plan",
    "macos_plan",
    "mount_of",
    "parse_mountinfo",
    "windows_script",
]

log = logging.getLogger(__name__)

UDISKSCTL = Tool("udisksctl", "sudo apt-get install udisks2")
EJECT = Tool("eject", "sudo apt-get install eject")
POWERSHELL = Tool("powershell", "it ships with Windows")
DISKUTIL = Tool("diskutil", "it ships with macOS")
_TIMEOUT = 30.0  # seconds one eject command may take
_CODE = "ES913"  # a runner failure here becomes an EjectResult, never an error shown
_NEEDED_BY = "removing the key"
_GONE_TRIES = 20
_GONE_WAIT = 0.5  # seconds between checks that a Windows drive is gone

EjectStatus = Literal["ejected", "busy", "failed", "not-removable"]


@dataclass(frozen=True)
class EjectResult:
    """The outcome: ``ejected`` (safe to unplug), ``busy`` (a program still uses the key),
    ``failed`` (why in ``detail``), ``not-removable`` (nothing of the key to eject)."""

    status: EjectStatus
    detail: str = ""

    @property
    def safe(self) -> bool:
        """Whether the user may unplug the key now."""
        return self.status == "ejected"


class Ejector(Protocol):
    """Ejects the volumes that hold some paths."""

    def eject(self, paths: Sequence[Path]) -> EjectResult:
        """Eject the key holding ``paths`` (the CD-ROM's root, the data area)."""


# --- Linux ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mount:
    """One line of ``/proc/self/mountinfo``."""

    point: str
    source: str
    fstype: str
    read_only: bool


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as ``\\ooo``."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[Mount]:
    """The mounts in a ``mountinfo`` text (pure; malformed lines are skipped)."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6 or len(tail) < 2:
            continue
        options = fields[5].split(",")
        mounts.append(Mount(_unescape(fields[4]), _unescape(tail[1]), tail[0], "ro" in options))
    return mounts


def mount_of(path: str, mounts: Sequence[Mount]) -> Mount | None:
    """The mount holding absolute ``path``: the last-mounted longest prefix (pure)."""
    target = PurePosixPath(path)
    best: Mount | None = None
    for mount in mounts:  # in mount order: a later mount on the same point hides earlier
        point = PurePosixPath(mount.point)
        if (target == point or point in target.parents) and (
            best is None or len(point.parts) >= len(PurePosixPath(best.point).parts)
        ):
            best = mount
    return best


def linux_plan(volumes: Sequence[Mount], tools: frozenset[str]) -> list[tuple[Tool, list[str]]]:
    """The commands that eject ``volumes`` (writable first) with the ``tools`` installed
    (pure): udisksctl unmount each, then power off the drive; else ``eject`` each."""
    ordered = sorted(volumes, key=lambda m: m.read_only)
    if "udisksctl" in tools:
        plan = [
            (UDISKSCTL, ["unmount", "--block-device", m.source, "--no-user-interaction"])
            for m in ordered
        ]
        if ordered:
            plan.append(
                (
                    UDISKSCTL,
                    ["power-off", "--block-device", ordered[0].source, "--no-user-interaction"],
                )
            )
        return plan
    if "eject" in tools:
        return [(EJECT, [m.source]) for m in ordered]
    return []


def _sysfs_removable(device: str) -> bool:
    """Whether block ``device`` is on a removable or USB drive (sysfs)."""
    name = Path(device).resolve().name
    node = Path("/sys/class/block") / name
    try:
        real = node.resolve(strict=True)
    except OSError:
        return False
    disk = real.parent if (real / "partition").exists() else real
    try:
        flag = (disk / "removable").read_text(encoding="ascii").strip()
    except OSError:
        flag = "0"
    return flag == "1" or "/usb" in str(real)


def _busy(text: str) -> bool:
    lowered = text.lower()
    return "busy" in lowered or "in use" in lowered


class LinuxEjector:
    """:class:`Ejector` on Linux (udisks2, else eject)."""

    def __init__(
        self,
        runner: Runner = SYSTEM,
        *,
        mountinfo: Callable[[], str] | None = None,
        removable: Callable[[str], bool] = _sysfs_removable,
        sync: Callable[[], None] = os.sync,
    ) -> None:
        self._runner = runner
        self._mountinfo = mountinfo or (
            lambda: Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
        )
        self._removable = removable
        self._sync = sync

    def _tools(self) -> frozenset[str]:
        found = set()
        for tool in (UDISKSCTL, EJECT):
            try:
                self._runner.find(tool, needed_by=_NEEDED_BY)
            except ToolError:
                continue
            found.add(tool.name)
        return frozenset(found)

    def volumes(self, paths: Sequence[Path]) -> list[Mount]:
        """The removable volumes holding ``paths`` (each once)."""
        mounts = parse_mountinfo(self._mountinfo())
        found: dict[str, Mount] = {}
        for path in paths:
            mount = mount_of(str(Path(path).resolve()), mounts)
            if (
                mount is not None
                and mount.point != "/"
                and mount.source.startswith("/dev/")
                and self._removable(mount.source)
            ):
                found.setdefault(mount.point, mount)
        return list(found.values())

    def eject(self, paths: Sequence[Path]) -> EjectResult:
        """Unmount the key's volumes and power its drive off."""
        volumes = self.volumes(paths)
        if not volumes:
            return EjectResult("not-removable", "no removable volume holds the key's files")
        self._sync()
        plan = linux_plan(volumes, self._tools())
        if not plan:
            return EjectResult("failed", "neither udisksctl (udisks2) nor eject is installed")
        writable = {m.source for m in volumes if not m.read_only}
        unmounted: set[str] = set()
        for tool, args in plan:
            power_off = args[0] == "power-off"
            if power_off and unmounted != {m.source for m in volumes}:
                break  # the CD-ROM we still run from stays mounted: no power-off
            device = args[2] if tool is UDISKSCTL else args[0]
            try:
                result = self._runner.run(
                    tool, args, needed_by=_NEEDED_BY, code=_CODE, timeout=_TIMEOUT, check=False
                )
            except ToolError as exc:
                said = exc.detail
            else:
                if result.returncode == 0:
                    unmounted.add(device)
                    continue
                said = result.tail()
            log.info("%s %s %s: %s", tool.name, args[0], device, said)
            if device in writable and not power_off:
                return EjectResult("busy" if _busy(said) else "failed", said or tool.name)
        return EjectResult("ejected", ", ".join(sorted(unmounted & writable) or unmounted))


# --- Windows --------------------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:$")


def windows_script(drives: Sequence[str]) -> str:
    """The PowerShell that asks the shell to eject ``drives`` (``E:``; pure). A drive not
    of that form is refused: nothing else may reach the script."""
    for drive in drives:
        if not _DRIVE.match(drive):
            raise ValueError(f"not a drive letter: {drive!r}")
    lines = ["$shell = New-Object -ComObject Shell.Application"]
    lines += [
        f"$d = $shell.Namespace(17).ParseName('{drive.upper()}'); "
        "if ($d) { $d.InvokeVerb('Eject') }"
        for drive in drives
    ]
    return "; ".join(lines)


class WindowsEjector:
    """:class:`Ejector` on Windows: the shell's Eject verb (not run here)."""

    def __init__(
        self,
        runner: Runner = SYSTEM,
        *,
        exists: Callable[[str], bool] | None = None,
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self._runner = runner
        self._exists = exists or (lambda drive: Path(drive + "\\").exists())
        self._wait = wait

    def eject(self, paths: Sequence[Path]) -> EjectResult:
        """Eject the drives holding ``paths``; ejected when they are gone."""
        drives = sorted({PureWindowsPath(str(p)).drive.upper() for p in paths} - {""})
        drives = [d for d in drives if _DRIVE.match(d) and d != "C:"]
        if not drives:
            return EjectResult("not-removable", "no drive letter of the key")
        script = windows_script(drives)
        try:
            result = self._runner.run(
                POWERSHELL,
                ["-NoProfile", "-NonInteractive", "-Command", script],
                needed_by=_NEEDED_BY,
                code=_CODE,
                timeout=_TIMEOUT,
                check=False,
            )
        except ToolError as exc:
            return EjectResult("failed", exc.detail)
        for _ in range(_GONE_TRIES):  # the verb returns before the drive goes
            left = [d for d in drives if self._exists(d)]
            if not left:
                return EjectResult("ejected", ", ".join(drives))
            self._wait(_GONE_WAIT)
        said = result.tail() or f"{', '.join(left)} still present"
        return EjectResult("busy" if _busy(said) else "failed", said)


# --- macOS ----------------------------------------------------------------------------------------
def macos_plan(points: Sequence[str]) -> list[tuple[Tool, list[str]]]:
    """``diskutil eject`` of each mount point under /Volumes (pure)."""
    return [(DISKUTIL, ["eject", p]) for p in dict.fromkeys(points) if p.startswith("/Volumes/")]


def _mount_point(path: Path) -> str:
    current = path.resolve()
    for _ in range(len(current.parts)):
        if current.is_mount():
            return str(current)
        current = current.parent
    return str(current)


class MacEjector:
    """:class:`Ejector` on macOS: diskutil (not run here)."""

    def __init__(
        self, runner: Runner = SYSTEM, *, mount_point: Callable[[Path], str] = _mount_point
    ) -> None:
        self._runner = runner
        self._mount_point = mount_point

    def eject(self, paths: Sequence[Path]) -> EjectResult:
        """diskutil eject each volume of the key."""
        plan = macos_plan([self._mount_point(p) for p in paths])
        if not plan:
            return EjectResult("not-removable", "no volume of the key under /Volumes")
        for tool, args in plan:
            try:
                result = self._runner.run(
                    tool, args, needed_by=_NEEDED_BY, code=_CODE, timeout=_TIMEOUT, check=False
                )
            except ToolError as exc:
                return EjectResult("failed", exc.detail)
            if result.returncode != 0:
                said = result.tail() or f"diskutil exit {result.returncode}"
                return EjectResult("busy" if _busy(said) else "failed", said)
        return EjectResult("ejected", ", ".join(args[1] for _, args in plan))


def ejector_for(platform: str, runner: Runner = SYSTEM) -> Ejector:
    """The ejector of ``platform`` ("linux", "windows" or "macos")."""
    if platform == "linux":
        return LinuxEjector(runner)
    if platform == "windows":
        return WindowsEjector(runner)
    if platform == "macos":
        return MacEjector(runner)
    raise ValueError(f"platform {platform!r}: expected linux, windows or macos")
