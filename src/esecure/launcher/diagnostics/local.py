"""Checks of this computer and of the key itself: the full image hash, free space in the
data area, and the facts a support report needs (versions, the key's identity).

The full hash is what the start check leaves out to start fast over USB 2 (Firefox's
large files and what other platforms run: see ``esecure_onkey.layout.hashed_at_start``):
here every file the signed manifest lists is hashed, and so is every file of a release
running from the data area (``check_running_release(full=True)``).
"""

from __future__ import annotations

import configparser
import platform as host_platform
import shutil
import sys
from pathlib import Path
from typing import Any

from esecure import __version__
from esecure.errors import IntegrityError, StorageError, Text
from esecure.launcher.diagnostics.model import Limits, Row, Status, Subject, advice_of
from esecure.launcher.selfcheck import check_running_release, self_check
from esecure_onkey.boot import read_pointer
from esecure_onkey.product import product_version, read_identity

__all__ = ["identity", "image_rows", "space_row", "versions"]

_IMAGE = Text(en="Key contents (full check)", fr="Contenu de la clé (contrôle complet)")
_RELEASE = Text(en="Update in use (full check)", fr="Mise à jour utilisée (contrôle complet)")
_SPACE = Text(en="Free space on the key", fr="Espace libre sur la clé")


def _failure(check: str, title: Text, exc: IntegrityError | StorageError) -> Row:
    return Row(check, title, "fail", exc.detail, advice_of(exc.code), exc.code)


def image_rows(subject: Subject) -> list[Row]:
    """Every file of the CD-ROM hashed against its signed manifest; and the release that
    runs from the data area, every file, when one does."""
    rows: list[Row] = []
    try:
        done = self_check(subject.cd, platform=subject.platform, depth="full")
    except (IntegrityError, StorageError) as exc:
        rows.append(_failure("image", _IMAGE, exc))
    else:
        rows.append(
            Row(
                "image",
                _IMAGE,
                "ok",
                f"{done.files} files match the signed manifest, {done.hashed} hashed in full "
                f"({done.seconds:.1f} s)",
            )
        )
    choice = subject.choice
    if choice is not None and choice.from_store:
        try:
            running = check_running_release(choice, full=True)
        except IntegrityError as exc:
            rows.append(_failure("image:release", _RELEASE, exc))
        else:
            rows.append(Row("image:release", _RELEASE, "ok", running.render()))
    return rows


def space_row(data_dir: Path | None, limits: Limits) -> Row:
    """Free space where the launcher writes (updates, profile, logs, reports)."""
    if data_dir is None:
        return Row(
            "space",
            _SPACE,
            "warn",
            "no data area: updates, the certificate and logs cannot be kept",
            Text(
                en="Unplug the key and plug it back in; if this stays, call support.",
                fr="Débranchez puis rebranchez la clé ; si cela persiste, appelez l'assistance.",
            ),
        )
    try:
        usage = shutil.disk_usage(data_dir)
    except OSError as exc:
        return Row(
            "space",
            _SPACE,
            "fail",
            f"{data_dir}: cannot be read ({exc.strerror or exc})",
            advice_of("ES102"),
            "ES102",
        )
    mib = 1024 * 1024
    detail = f"{usage.free / mib:.1f} MiB free of {usage.total / mib:.1f} MiB ({data_dir})"
    if usage.free >= limits.free_warn_bytes:
        return Row("space", _SPACE, "ok", detail)
    status: Status = "fail" if usage.free < limits.free_fail_bytes else "warn"
    advice = Text(
        en="The key's data area is almost full: call support (an update or the logs may "
        "have filled it).",
        fr="La zone de données de la clé est presque pleine : appelez l'assistance (une mise "
        "à jour ou les journaux peuvent l'avoir remplie).",
    )
    return Row("space", _SPACE, status, detail, advice)


def _firefox_version(firefox: Path | None) -> str:
    if firefox is None:
        return "absent"
    ini = configparser.ConfigParser(interpolation=None)
    try:
        ini.read_string((firefox / "application.ini").read_text("utf-8", "replace"))
        return ini.get("App", "Version", fallback="unknown")
    except (OSError, configparser.Error):
        return "unknown (no application.ini)"


def versions(subject: Subject) -> dict[str, str]:
    """Launcher, releases (running, CD-ROM, data area pointer), Firefox, OS, Python."""
    out = {
        "launcher": __version__,
        "cd_release": product_version(subject.cd / "app") or "unknown",
        "firefox": _firefox_version(subject.firefox),
        "os": host_platform.platform(),
        "python": sys.version.split()[0],
        "platform": subject.platform,
    }
    if subject.choice is not None:
        out["running"] = f"{subject.choice.version} ({subject.choice.release[:12]})"
    if subject.reason:
        out["why"] = subject.reason
    if subject.data_dir is not None:
        pointer = read_pointer(subject.data_dir)
        if pointer is not None:
            state = "marked good" if pointer.good else "on trial"
            out["pointer"] = (
                f"{pointer.version} ({pointer.release[:12]}), seq {pointer.seq}, {state}"
            )
    return out


_PRODUCT_KEYS = (
    "id",
    "name",
    "bank_name",
    "portal_name",
    "version",
    "support_phone",
    "languages",
    "urls",
)


def identity(subject: Subject) -> dict[str, Any]:
    """The product (from product.json: names, version, URLs, support phone) and the key's
    serial and batch — public facts support asks for; nothing else of the data area."""
    out: dict[str, Any] = {k: subject.product[k] for k in _PRODUCT_KEYS if k in subject.product}
    out["data_area"] = str(subject.data_dir) if subject.data_dir is not None else None
    if subject.data_dir is not None:
        try:
            found = read_identity(subject.data_dir)
        except OSError:
            found = None
        if found is not None:
            out["serial"], out["batch"] = found.serial, found.batch
    return out
