"""The launcher's update step against a real repository over real HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from esecure.errors import UpdateError
from esecure.launcher.update_step import (
    Policy,
    confirm_started,
    estimate,
    offline_verdict,
    run_update_step,
)
from esecure_onkey.boot import Choice, cd_choice, choose
from esecure_onkey.layout import CD
from tests.updater import conftest as updater_fixtures

# the real repository over real HTTP, shared with the updater's tests
http_dir = updater_fixtures.http_dir
repo = updater_fixtures.repo

APP = "demo-bank"
NOW = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)


class FakeUI:
    """Records what the step showed; answers the offer with ``answer``."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.notices: list[str] = []
        self.alerts: list[str] = []
        self.offers: list[tuple[str, int, bool]] = []
        self.phases: set[str] = set()

    def notice(self, error):
        self.notices.append(error.code)

    def security_alert(self, error):
        self.alerts.append(error.code)

    def offer(self, version, size, seconds, *, later):
        assert seconds[0] <= seconds[1]
        self.offers.append((version, size, later))
        return self.answer

    def progress(self, phase, done, total):
        assert 0 <= done <= max(total, done)
        self.phases.add(phase)


def _run(repo, data, ui, *, current="0.9.0", boot=None, url=None, restarts=None, **kw):
    boot = boot or _cd_boot(repo)
    return run_update_step(
        data_dir=data,
        repository_url=url or repo.url,
        app=APP,
        current_version=current,
        boot=boot,
        initial_root=repo.initial_root,
        image_key=repo.image_key,
        cd=repo.cd,
        ui=ui,
        policy=Policy(check_timeout_seconds=3, max_offline_days=30),
        restart=lambda: (restarts if restarts is not None else []).append(1),
        **kw,
    )


def _cd_boot(repo) -> Choice:
    """The bootstrap's choice of a key running its CD-ROM's release."""
    choice = cd_choice(repo.cd)
    assert choice.release == CD
    return choice


def test_accepted_update_installs_and_restarts(repo, tmp_path):
    """'Update now': download with progress, write the components the key lacks into the
    store, switch, restart in the session; the new release then marks itself good."""
    data, ui, restarts = tmp_path / "data", FakeUI(), []
    assert _run(repo, data, ui, restarts=restarts) == "restarting"
    assert ui.offers[0][0] == "1.0.0"
    assert ui.offers[0][2] is True
    assert {"download", "install"} <= ui.phases
    assert restarts == [1]
    choice = choose(repo.cd, data, platform=updater_fixtures.PLATFORM)
    assert (choice.version, choice.degraded) == ("1.0.0", False)
    assert choice.release != CD
    assert confirm_started(data, choice) is True


def test_the_patch_base_is_the_release_the_boot_choice_runs(repo, tmp_path):
    """Running 1.0.0 from the data area, 1.1.0 comes as a patch of 1.0.0's app."""
    data = tmp_path / "data"
    assert _run(repo, data, FakeUI()) == "restarting"
    running = choose(repo.cd, data, platform=updater_fixtures.PLATFORM)
    confirm_started(data, running)
    repo.publish("1.1.0", tmp_path)
    ui = FakeUI()
    assert _run(repo, data, ui, current="1.0.0", boot=running) == "restarting"
    app = updater_fixtures.component_ids(repo.bundles["1.1.0"])["app"]
    archive = repo.served / "targets" / f"demo-bank-c-{app}.tar.gz"
    assert ui.offers[0][1] < archive.stat().st_size  # list, signature and a small patch
    assert choose(repo.cd, data, platform=updater_fixtures.PLATFORM).version == "1.1.0"


def test_confirm_started_from_a_degraded_start_marks_nothing(repo, tmp_path):
    """The pointer's release could not run (another one runs): nothing is marked good."""
    data = tmp_path / "data"
    assert _run(repo, data, FakeUI()) == "restarting"
    assert confirm_started(data, _cd_boot(repo)) is False


def test_later_defers_without_writing_to_the_store(repo, tmp_path):
    """'Later' installs nothing; the same session is not asked again."""
    data, ui = tmp_path / "data", FakeUI(answer=False)
    assert _run(repo, data, ui) == "deferred"
    assert not (data / "store").exists()
    assert _run(repo, data, ui, deferred=True) == "deferred"
    assert len(ui.offers) == 1


def test_required_release_cannot_be_postponed(repo, tmp_path):
    """A release published as required is offered without 'later' and applied."""
    repo.publish("1.1.0", tmp_path, required=True)
    data, ui = tmp_path / "data", FakeUI(answer=False)
    assert _run(repo, data, ui, current="1.0.0") == "restarting"
    assert ui.offers == [("1.1.0", ui.offers[0][1], False)]


def test_offline_goes_on_and_says_so(repo, tmp_path):
    """Unreachable repository: ES520 notice, the current version goes on."""
    data, ui = tmp_path / "data", FakeUI()
    assert _run(repo, data, ui, url="http://127.0.0.1:9/") == "offline"
    assert ui.notices == ["ES520"]


def test_offline_too_long_is_es521(repo, tmp_path):
    """Past max_offline_days since the last successful check, the key refuses to go on."""
    data, ui = tmp_path / "data", FakeUI()
    assert _run(repo, data, ui, current="1.0.0") == "up-to-date"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    with pytest.raises(UpdateError) as err:
        _run(repo, data, ui, url="http://127.0.0.1:9/", clock=lambda: later)
    assert err.value.code == "ES521"


def test_security_failure_is_an_alert_with_its_code_and_recorded(repo, tmp_path):
    """A bad signature is shown as a security alert (never 'no update') and kept in reports/."""
    path = repo.served / "metadata" / "timestamp.json"
    path.write_text(path.read_text().replace('"sig": "', '"sig": "00', 1))
    data, ui = tmp_path / "data", FakeUI()
    assert _run(repo, data, ui) == "security-alert"
    assert ui.alerts == ["ES501"]
    assert ui.offers == []
    assert [p.name.split("-")[-1] for p in (data / "reports").iterdir()] == ["ES501.json"]


def test_rolled_back_start_is_reported(repo, tmp_path):
    """When the bootstrap rolled back after two failed starts, the step says ES523."""
    boot = cd_choice(repo.cd, "failed twice", rolled_back=True)
    data, ui = tmp_path / "data", FakeUI(answer=False)
    _run(repo, data, ui, boot=boot)
    assert ui.notices[0] == "ES523"


def test_estimate_is_a_range_with_apply_time():
    """The estimate spans a fast and a slow link, and adds the apply time."""
    fast, slow = estimate(2_500_000, 50_000_000)
    assert fast == pytest.approx(1 + 5)
    assert slow == pytest.approx(20 + 5)


def test_offline_verdict_counts_from_the_last_success():
    """29 days since the last success: on; 31: off; never checked counts from going offline."""
    assert offline_verdict(NOW - dt.timedelta(days=29), None, NOW, 30)
    assert not offline_verdict(NOW - dt.timedelta(days=31), None, NOW, 30)
    assert offline_verdict(None, NOW - dt.timedelta(days=3), NOW, 30)


def test_unwritable_data_area_means_could_not_update_and_go_on(repo, tmp_path):
    """The data area cannot hold updates/ (a file is in the way): ES524 shown, the key goes on."""
    data, ui = tmp_path / "data", FakeUI()
    data.mkdir()
    (data / "updates").write_bytes(b"not a directory")
    assert _run(repo, data, ui) == "failed"
    assert ui.notices == ["ES524"]
    assert ui.alerts == []
    assert (data / "updates").read_bytes() == b"not a directory"


def test_release_refused_at_start_is_shown_and_kept_for_diagnostics(repo, tmp_path):
    """The bootstrap refused the release in force: ES522 shown and kept in reports/ with why."""
    data, ui = tmp_path / "data", FakeUI()
    why = "version 1.0.0: app 0123456789ab: esecure/x.pyc differs from the signed list"
    boot = cd_choice(repo.cd, why, degraded=True)
    _run(repo, data, ui, boot=boot)
    assert ui.notices[0] == "ES522"
    (report,) = (data / "reports").glob("update-*-ES522.json")
    assert json.loads(report.read_text())["detail"] == why
