"""The launcher's update step: check (bounded), offer, download, verify, write the components
the key lacks into the store, switch, restart.

Decisions are pure functions (:func:`offline_verdict`, :func:`estimate`); the I/O is the
:class:`esecure.updater.client.UpdateClient` and a UI the launcher passes in. A security
failure never stops the key: the verified current version goes on, the alert is shown
with its code and recorded for diagnostics.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from esecure.errors import EsecureError, StorageError, UpdateError, UpdateSecurityError
from esecure_onkey.boot import Choice

if TYPE_CHECKING:
    from esecure.updater.client import Offer, UpdateClient

__all__ = [
    "Checked",
    "Policy",
    "UpdateUI",
    "apply_update",
    "check_updates",
    "confirm_started",
    "estimate",
    "offline_verdict",
    "restart_argv",
    "run_update_step",
]

log = logging.getLogger(__name__)
Outcome = Literal["up-to-date", "offline", "security-alert", "deferred", "restarting", "failed"]

# Conservative rates for the estimate shown before the download (measured apply speed is
# far higher: see docs/performance.md "Updates"); the estimate is a range, never a promise.
SLOW_LINK = 1_000_000 / 8  # 1 Mbit/s
FAST_LINK = 20_000_000 / 8  # 20 Mbit/s
APPLY_RATE = 10_000_000  # bytes written per second on a USB 2 key, pessimistic


@dataclass(frozen=True)
class Policy:
    """Limits from the key project's [updates] section."""

    check_timeout_seconds: float = 10
    max_offline_days: int = 30


class UpdateUI(Protocol):
    """What the step needs from the launcher's window (or the headless console)."""

    def notice(self, error: EsecureError) -> None:
        """Say something that does not stop the key (offline, rolled back, damaged release)."""

    def security_alert(self, error: UpdateSecurityError) -> None:
        """Show a security alert with its code; the key goes on with its verified version."""

    def offer(self, version: str, size: int, seconds: tuple[float, float], *, later: bool) -> bool:
        """Ask "update now / later"; True for now. ``later`` False: a required release."""

    def progress(self, phase: str, done: int, total: int) -> None:
        """Download and install progress."""


def estimate(size: int, install_size: int) -> tuple[float, float]:
    """(fastest, slowest) seconds: download at 20 and 1 Mbit/s, plus writing
    ``install_size`` bytes on the key."""
    apply = install_size / APPLY_RATE
    return size / FAST_LINK + apply, size / SLOW_LINK + apply


def offline_verdict(
    last_success: dt.datetime | None, offline_since: dt.datetime | None, now: dt.datetime, days: int
) -> bool:
    """True when the key may go on without a successful check (a freeze must not last)."""
    start = last_success or offline_since or now
    return now - start <= dt.timedelta(days=days)


def restart_argv() -> list[str]:
    """How to start the key again in this session: the bootstrap with the same arguments."""
    return (
        [sys.executable, *sys.argv[1:]]
        if getattr(sys, "frozen", False)
        else [
            sys.executable,
            *sys.argv,
        ]
    )


def _record(data_dir: Path, error: EsecureError, now: dt.datetime) -> None:
    """Keep the alert for diagnostics (reports/), never secrets: code and detail only."""
    reports = data_dir / "reports"
    try:
        reports.mkdir(parents=True, exist_ok=True)
        name = f"update-{now:%Y%m%dT%H%M%S}-{error.code}.json"
        body = {"code": error.code, "detail": error.detail, "at": now.isoformat()}
        (reports / name).write_text(json.dumps(body, indent=2))
    except OSError:
        log.warning("could not record update alert %s", error.code)


def _offline_since(data_dir: Path, now: dt.datetime) -> dt.datetime:
    path = data_dir / "updates" / "offline-since.json"
    try:
        return dt.datetime.fromisoformat(json.loads(path.read_text())["at"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"at": now.isoformat()}))
        except OSError:
            log.warning("could not record when the key went offline")
        return now


def _check_age(data_dir: Path, policy: Policy, now: dt.datetime) -> None:
    from esecure.updater.client import last_check  # noqa: PLC0415

    last = last_check(data_dir)
    if not offline_verdict(last, _offline_since(data_dir, now), now, policy.max_offline_days):
        raise UpdateError(
            f"no successful update check since "
            f"{(last or _offline_since(data_dir, now)):%Y-%m-%d}; the limit is "
            f"{policy.max_offline_days} days",
            code="ES521",
        )


@dataclass(frozen=True)
class Checked:
    """What :func:`check_updates` found: an ``offer`` to take (with the ``client`` that
    applies it), or an ``outcome`` without one and the ``error`` that says why."""

    outcome: Outcome | None
    offer: Offer | None = None
    client: UpdateClient | None = None
    error: EsecureError | None = None


def check_updates(
    *,
    data_dir: Path,
    repository_url: str,
    app: str,
    current_version: str,
    boot: Choice | None,
    initial_root: Path,
    image_key: Path,
    ui: UpdateUI,
    cd: Path | None = None,
    policy: Policy,
    clock: Callable[[], dt.datetime] | None = None,
    ca_file: Path | None = None,
    proxy: str = "system",
) -> Checked:
    """The check half of the step: ``outcome`` "up-to-date", "offline", "security-alert"
    or "failed" (its ``error`` not yet shown), or an offer. Shows only what the bootstrap
    did at this start (rolled back, refused a release). Raises only ES521 (offline too
    long: the key stops).

    The release that runs (``boot.release``: the CD-ROM's or one in the data area) is the
    base of the patches; ``cd`` is the CD-ROM root (default: the boot choice's, else the
    one holding ``image_key``). ``ca_file``: the running release's CA, trusted for TLS
    beside the system's store (default: the CD-ROM's trust/ca.pem). ``proxy``: the key's
    ``[network] proxy`` as the launcher follows it ("none", ``http://host:port`` or
    "system").
    """
    from esecure.updater.client import UpdateClient  # noqa: PLC0415 - tuf is slow to import
    from esecure_onkey.layout import CD  # noqa: PLC0415

    now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
    if boot is not None and boot.rolled_back:
        ui.notice(UpdateError(boot.reason, code="ES523"))
    elif boot is not None and boot.degraded:
        # a release refused at start may be tampered with: keep why for diagnostics too
        refused = UpdateError(boot.reason, code="ES522")
        _record(data_dir, refused, now)
        ui.notice(refused)
    cd_root = cd or (boot.cd if boot is not None else image_key.parent.parent)
    client = UpdateClient(
        data_dir,
        repository_url,
        app,
        cd=cd_root,
        platform=boot.platform if boot is not None else None,
        initial_root=initial_root,
        image_key=image_key,
        timeout=policy.check_timeout_seconds,
        clock=clock,
        ca_file=ca_file,
        proxy=proxy,
    )
    try:
        offer = client.check(current_version, running=boot.release if boot else CD)
    except UpdateSecurityError as exc:
        _record(data_dir, exc, now)
        _check_age(data_dir, policy, now)
        return Checked("security-alert", error=exc)
    except UpdateError as exc:
        _check_age(data_dir, policy, now)
        return Checked("offline", error=exc)
    except StorageError as exc:  # ES524: the data area is full or read-only: go on
        return Checked("failed", error=exc)
    (data_dir / "updates" / "offline-since.json").unlink(missing_ok=True)
    if offer is None:
        return Checked("up-to-date")
    return Checked(None, offer, client)


def apply_update(
    checked: Checked, ui: UpdateUI, *, data_dir: Path, clock: Callable[[], dt.datetime] | None
) -> tuple[Outcome, EsecureError | None]:
    """The apply half: download, verify, write into the store, switch. ("restarting",
    None) when the new release is in force (the caller restarts), else the outcome and
    its error, not yet shown."""
    assert checked.offer is not None and checked.client is not None  # noqa: S101
    try:
        downloaded = checked.client.download(checked.offer, ui.progress)
        checked.client.install(checked.offer, downloaded, progress=ui.progress)
    except UpdateSecurityError as exc:
        _record(data_dir, exc, (clock or (lambda: dt.datetime.now(dt.UTC)))())
        return "security-alert", exc
    except EsecureError as exc:  # offline mid-way, or the data area refused the write
        return "failed", exc
    return "restarting", None


def run_update_step(
    *,
    data_dir: Path,
    repository_url: str,
    app: str,
    current_version: str,
    boot: Choice | None,
    initial_root: Path,
    image_key: Path,
    ui: UpdateUI,
    cd: Path | None = None,
    policy: Policy,
    restart: Callable[[], None],
    clock: Callable[[], dt.datetime] | None = None,
    deferred: bool = False,
) -> Outcome:
    """One pass of the update step (check, offer, apply, restart). Raises only ES521
    (offline too long: the key stops)."""
    checked = check_updates(
        data_dir=data_dir,
        repository_url=repository_url,
        app=app,
        current_version=current_version,
        boot=boot,
        initial_root=initial_root,
        image_key=image_key,
        ui=ui,
        cd=cd,
        policy=policy,
        clock=clock,
    )
    offer = checked.offer
    if offer is None:
        _show(ui, checked.error)
        return checked.outcome or "up-to-date"
    if deferred and not offer.required:
        return "deferred"
    seconds = estimate(offer.download_size, offer.install_size)
    accepted = ui.offer(offer.version, offer.download_size, seconds, later=not offer.required)
    if not accepted and not offer.required:
        return "deferred"
    outcome, error = apply_update(checked, ui, data_dir=data_dir, clock=clock)
    if error is not None:
        _show(ui, error)
        return outcome
    restart()
    return "restarting"


def _show(ui: UpdateUI, error: EsecureError | None) -> None:
    if isinstance(error, UpdateSecurityError):
        ui.security_alert(error)
    elif error is not None:
        ui.notice(error)


def confirm_started(data_dir: Path, boot: Choice | None = None) -> bool:
    """The launcher reached its UI: the running release is good (stops the rollback count;
    what it does not reference is then removed). A degraded start (``boot`` runs another
    release than the pointer's) marks nothing."""
    from esecure.updater.client import confirm_started as confirm  # noqa: PLC0415

    return confirm(data_dir, running=boot.release if boot is not None else None)


def exec_restart() -> None:  # pragma: no cover - replaces the process
    """Start the key again in this session (no re-insert): the bootstrap picks the new release."""
    argv = restart_argv()
    os.execv(argv[0], argv)  # noqa: S606 - our own interpreter with our own arguments
