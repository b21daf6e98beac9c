"""Seed row E10 ("the key does not start by itself"): the host's autorun policy, read from
the registry and decided here (pure over a :class:`Registry`).

Windows runs a CD-ROM's ``autorun.inf`` (through AutoPlay) unless:

* ``NoAutorun`` = 1 (Explorer policies, HKLM or HKCU): no autorun.inf is processed;
* ``NoDriveTypeAutoRun`` has bit ``1 << DRIVE_CDROM`` (0x20) set — the machine's (HKLM)
  value wins over the user's (HKCU); unset, Windows' default 0x91 leaves CD-ROMs on;
* the user turned AutoPlay off (``AutoplayHandlers\\DisableAutoplay`` = 1).

None of these stops the key: it starts by hand from its drive (the catalogue's ES104
says how), so a disabled autorun is a warning.
"""

from __future__ import annotations

from esecure.errors import Text
from esecure.launcher.diagnostics._registry import Registry
from esecure.launcher.diagnostics.model import Row, advice_of

__all__ = ["EXPLORER_POLICIES", "autorun_row", "autorun_verdict"]

EXPLORER_POLICIES = r"Software\Microsoft\Windows\CurrentVersion\Policies\Explorer"
AUTOPLAY_HANDLERS = r"Software\Microsoft\Windows\CurrentVersion\Explorer\AutoplayHandlers"
DRIVE_CDROM = 5
DEFAULT_NO_DRIVE_TYPE = 0x91  # Windows' default: unknown, network and reserved types off

_TITLE = Text(en="Automatic start (autorun)", fr="Démarrage automatique (autorun)")


def _dword(value: object) -> int | None:
    return value if isinstance(value, int) else None


def autorun_verdict(registry: Registry) -> tuple[bool, str]:
    """(whether the CD-ROM's autorun runs, the values that decided it)."""
    for hive in ("HKLM", "HKCU"):
        if _dword(registry.value(hive, EXPLORER_POLICIES, "NoAutorun")) == 1:
            return False, f"NoAutorun=1 ({hive}): no autorun.inf is processed"
    mask, where = DEFAULT_NO_DRIVE_TYPE, "Windows' default"
    for hive in ("HKCU", "HKLM"):  # the machine's value, when set, wins
        value = _dword(registry.value(hive, EXPLORER_POLICIES, "NoDriveTypeAutoRun"))
        if value is not None:
            mask, where = value, hive
    if mask & (1 << DRIVE_CDROM):
        return False, f"NoDriveTypeAutoRun=0x{mask:02X} ({where}) turns CD-ROM drives off"
    if _dword(registry.value("HKCU", AUTOPLAY_HANDLERS, "DisableAutoplay")) == 1:
        return False, "AutoPlay is turned off for this user (DisableAutoplay=1)"
    return True, f"CD-ROM drives allowed (NoDriveTypeAutoRun=0x{mask:02X}, {where})"


def autorun_row(registry: Registry | None, platform: str) -> Row:
    """The autorun row: skipped off Windows, a warning with ES104's action when off."""
    if platform != "windows" or registry is None:
        return Row(
            "autorun",
            _TITLE,
            "skip",
            "not Windows: the key starts from the desktop's prompt or the file manager",
        )
    runs, why = autorun_verdict(registry)
    if runs:
        return Row("autorun", _TITLE, "ok", why)
    extra = Text(
        en="Your IT security officer disabled automatic start; only they can change it.",
        fr="Le responsable de la sécurité informatique a désactivé le démarrage automatique ; "
        "lui seul peut le modifier.",
    )
    return Row("autorun", _TITLE, "warn", why, advice_of("ES104", extra), "ES104")
