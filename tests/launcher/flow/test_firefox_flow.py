"""The whole flow on a real key with Debian's firefox-esr: first use, enrolment against
the reference server, the live profile from the real template, the certificate delivered
through that Firefox's NSS, Firefox started through its shadow directory (no exec bits,
as on the key's FAT) headless on an HTTPS site that requires the key's certificate; a
second start brings the session forward; removing the key closes Firefox."""

from __future__ import annotations

import os
import time

import pytest

from esecure.launcher import nss
from esecure.launcher.flow.console import Answers, ConsolePresenter
from esecure.launcher.flow.profile import STAMP_NAME
from esecure.launcher.flow.steps import FlowOptions
from esecure.launcher.instance import LOCK_NAME
from esecure_onkey.browser import SHADOW_NAME
from tests.launcher import est_fixtures
from tests.launcher.est_fixtures import RawServer
from tests.launcher.flow.keyfix import make_key, run_console_flow
from tests.launcher.test_nss_firefox import ClientCertSite
from tests.onkey.test_browser import _children, needs_firefox, showexec_firefox

customer = est_fixtures.customer
est_server = est_fixtures.est_server
_ = showexec_firefox

DEADLINE = 60.0


class Watching(ConsolePresenter):
    """The terminal presenter whose tray waits for the site to see the key's serial, runs
    a second start, then removes the key (what the user would do)."""

    site: ClientCertSite
    second: object
    report: dict

    def show_tray(self, actions):
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not any(
            e.startswith("serial") for e in self.site.events
        ):
            self.site.seen.wait(0.2)
        report = self.report
        report["events"] = list(self.site.events)
        report["running"] = actions.firefox_running()
        report["processes"] = _children(actions.firefox.pid)
        report["second"] = self.second()
        actions.remove_key()
        report["after"] = _children(actions.firefox.pid)
        report["status"] = actions.firefox.returncode


@pytest.mark.slow
@needs_firefox
def test_first_start_enrols_and_opens_the_site_with_the_certificate(
    tmp_path, est_server, customer, showexec_firefox
):
    """First use end to end on one key: the site sees the key's serial from Firefox."""
    project = est_server.project.root
    site = ClientCertSite(project)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home),
        "MOZ_HEADLESS": "1",
        "MOZ_CRASHREPORTER_DISABLE": "1",
    }
    options = FlowOptions(
        firefox_args=("--headless",),
        firefox_env=env,
        firefox_output=tmp_path / "firefox.log",
        background_delay=0.0,
    )
    with RawServer(site.handle) as server:
        key = make_key(
            tmp_path / "key",
            ca_pem=(project / "trust" / "ca.pem").read_bytes(),
            site=f"https://127.0.0.1:{server.port}/",
            est_url=est_server.est_url,
            serial=customer.serial,
            firefox=showexec_firefox,
        )
        report: dict = {}
        Watching.site = site
        Watching.report = report
        Watching.second = staticmethod(lambda: run_console_flow(key, options=options))
        seen = run_console_flow(
            key,
            Answers(identifier=customer.identifier, activation_code=customer.code),
            options=options,
            presenter_class=Watching,
        )

    assert seen.code == 0, (seen.err, (tmp_path / "firefox.log").read_text()[-2000:])
    assert "serial KEY-0001" in report["events"], report["events"]
    assert report["running"]
    shadow = tmp_path / "cache" / "e-secure" / SHADOW_NAME
    assert {exe for exe, _ in report["processes"].values()} >= {str(shadow / "firefox-esr")}
    # the second start said so, exited 0, and started no Firefox of its own
    second = report["second"]
    assert second.code == 0
    assert "e-secure is already running" in second.out
    # removing the key closed Firefox and every process of its session
    assert report["after"] == {}
    # what the flow left on the key: the state, the credential, the live profile
    profile = key.data / "profile"
    assert (key.data / "state.json").is_file()
    assert (key.data / "pki" / "credential.pem").is_file()
    assert (profile / STAMP_NAME).is_file() and (profile / "cert9.db").is_file()
    assert nss.delivered_serial(profile) is not None
    assert (key.data / LOCK_NAME).read_bytes() == b""  # released
    assert "The key is activated" in seen.out
    assert "[100%] Sogecash Net is open in the key's browser." in seen.out
