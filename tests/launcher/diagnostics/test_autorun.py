"""The autorun policy (E10) read through a fake registry: what Windows would decide."""

from __future__ import annotations

import pytest

from esecure.launcher.diagnostics import MapRegistry
from esecure.launcher.diagnostics.autorun import (
    AUTOPLAY_HANDLERS,
    EXPLORER_POLICIES,
    autorun_row,
)


def _reg(**values: object) -> MapRegistry:
    out = {}
    for key, data in values.items():
        hive, name = key.split("_", 1)
        path = AUTOPLAY_HANDLERS if name == "DisableAutoplay" else EXPLORER_POLICIES
        out[(hive, path, name)] = data
    return MapRegistry(out)


@pytest.mark.parametrize(
    ("values", "status", "why"),
    [
        ({}, "ok", "CD-ROM drives allowed (NoDriveTypeAutoRun=0x91, Windows' default)"),
        ({"HKLM_NoDriveTypeAutoRun": 0xFF}, "warn", "NoDriveTypeAutoRun=0xFF (HKLM)"),
        ({"HKCU_NoDriveTypeAutoRun": 0xB5}, "warn", "NoDriveTypeAutoRun=0xB5 (HKCU)"),
        ({"HKCU_NoDriveTypeAutoRun": 0x95}, "ok", "NoDriveTypeAutoRun=0x95, HKCU"),
        (
            {"HKCU_NoDriveTypeAutoRun": 0xFF, "HKLM_NoDriveTypeAutoRun": 0x91},
            "ok",
            "NoDriveTypeAutoRun=0x91, HKLM",
        ),
        ({"HKLM_NoAutorun": 1}, "warn", "NoAutorun=1 (HKLM)"),
        ({"HKCU_NoAutorun": 1}, "warn", "NoAutorun=1 (HKCU)"),
        ({"HKCU_DisableAutoplay": 1}, "warn", "AutoPlay is turned off"),
    ],
)
def test_autorun_policy(values, status, why):
    """Each policy value, and the machine's winning over the user's."""
    row = autorun_row(_reg(**values), "windows")
    assert row.status == status
    assert why in row.detail
    if status == "warn":
        assert row.code == "ES104"
        assert "e-secure.exe" in row.advice.en
        assert "responsable de la sécurité" in row.advice.fr


def test_autorun_is_skipped_off_windows():
    """Linux and macOS have no autorun policy to read: skipped, whatever a registry says."""
    assert autorun_row(_reg(HKLM_NoAutorun=1), "linux").status == "skip"
    assert autorun_row(None, "windows").status == "skip"
