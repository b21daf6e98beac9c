"""The launcher's certificate step: enrol + deliver, then nothing, then renew + re-deliver."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from esecure.launcher.certificate import prepare_profile
from tests.launcher import est_fixtures

customer = est_fixtures.customer
data_area = est_fixtures.data_area
est_server = est_fixtures.est_server
settings = est_fixtures.settings

FIREFOX = Path("/usr/lib/firefox-esr")


@pytest.mark.slow
def test_first_start_then_same_then_renewal(data_area, customer, settings):
    """First start enrols and delivers; the next start asks nothing and writes nothing;
    inside the renewal window it renews and re-delivers, asking nothing."""
    asked = []

    def ask():
        asked.append(1)
        return customer.identifier, customer.code

    first = prepare_profile(data_area, settings, ask, firefox_dir=FIREFOX)
    assert (first.outcome.action, first.delivered.method) == ("enrolled", "ctypes")
    key4 = (data_area / "profile" / "key4.db").stat().st_mtime_ns

    again = prepare_profile(data_area, settings, ask, firefox_dir=FIREFOX)
    assert (again.outcome.action, again.delivered) == ("kept", None)
    assert (data_area / "profile" / "key4.db").stat().st_mtime_ns == key4

    late = first.outcome.credential.certificate.not_valid_after_utc - dt.timedelta(days=5)
    renewed = prepare_profile(data_area, settings, ask, firefox_dir=FIREFOX, now=late)
    assert renewed.outcome.action == "renewed"
    assert renewed.delivered is not None
    assert asked == [1]
