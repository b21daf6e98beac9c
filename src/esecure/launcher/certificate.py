"""The launcher's certificate step: a usable credential in the data area (enrolled,
kept, or renewed without asking anything) and the same certificate in the live profile.

This is what the start-up flow calls between the update check and starting Firefox.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from esecure.launcher import nss
from esecure.launcher.enrol import EstSettings, Outcome, ensure_certificate

__all__ = ["Prepared", "prepare_profile"]


@dataclass(frozen=True)
class Prepared:
    """What the certificate step did."""

    outcome: Outcome
    delivered: nss.Delivery | None  # None: the profile already held this certificate


def prepare_profile(
    data_area: Path,
    settings: EstSettings,
    ask_credentials: Callable[[], tuple[str, str]],
    *,
    firefox_dir: Path | None,
    profile: Path | None = None,
    now: dt.datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Prepared:
    """Ensure the credential, then (re-)deliver it into ``profile`` (default
    ``<data area>/profile``) unless the profile already holds that very certificate."""
    profile = profile or Path(data_area) / "profile"
    outcome = ensure_certificate(data_area, settings, ask_credentials, now=now, sleep=sleep)
    certificate = outcome.credential.certificate
    if nss.delivered_serial(profile) == f"{certificate.serial_number:x}":
        return Prepared(outcome, None)
    ca = x509.load_pem_x509_certificate(Path(settings.ca_file).read_bytes())
    delivery = nss.deliver(profile, outcome.credential, ca, firefox_dir=firefox_dir)
    nss.mark_delivered(profile, delivery, certificate)
    return Prepared(outcome, delivery)
