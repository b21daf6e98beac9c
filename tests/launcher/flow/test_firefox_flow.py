"""The whole flow on a real key with Debian's firefox-esr: first use, enrolment against
the reference server, the live profile from the real template, the certificate delivered
through that Firefox's NSS, Firefox started through its shadow directory (no exec bits,
as on the key's FAT) headless on an HTTPS site that requires the key's certificate; a
second start brings the session forward; removing the key closes Firefox.

The flow runs in its own process, as e-secure does: it loads the NSS of the Firefox copy
it starts, which must not meet another NSS in the test process (two copies of NSS in one
process crash)."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from esecure.demo.bidi import headless_env
from esecure.launcher import nss
from esecure.launcher.flow.console import Answers, ConsolePresenter
from esecure.launcher.flow.profile import STAMP_NAME
from esecure.launcher.flow.steps import FlowOptions
from esecure.launcher.instance import LOCK_NAME
from esecure_onkey.browser import SHADOW_NAME
from tests.launcher import est_fixtures
from tests.launcher.est_fixtures import RawServer
from tests.launcher.flow.keyfix import Key, make_key, run_console_flow
from tests.launcher.test_nss_firefox import ClientCertSite
from tests.onkey.test_browser import _children, needs_firefox, showexec_firefox

customer = est_fixtures.customer
est_server = est_fixtures.est_server
_ = showexec_firefox

DEADLINE = 60.0


AFTER_TRIES = 100  # 10 s for Firefox's processes to be gone once the key is removed


class Watching(ConsolePresenter):
    """The terminal presenter whose tray waits for the test's go (the site saw the key's
    serial), runs a second start, then removes the key (what the user would do)."""

    go: Path
    report: dict
    second: tuple[Key, FlowOptions]

    def show_tray(self, actions):
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not self.go.exists():
            actions.wait(0.2)
        report = self.report
        report["running"] = actions.firefox_running()
        report["exes"] = sorted({exe for exe, _ in _children(actions.firefox.pid).values()})
        second = run_console_flow(*self.second[:1], options=self.second[1])
        report["second"] = [second.code, second.out, second.err]
        actions.remove_key()
        # Firefox's main process has ended; its content processes leave right after it
        # (under load, a moment later): give them a bounded moment
        left = _children(actions.firefox.pid)
        for _ in range(AFTER_TRIES):
            if not left:
                break
            time.sleep(0.1)
            left = _children(actions.firefox.pid)
        report["after"] = len(left)


def _child(key: Key, answers: Answers, options: FlowOptions, go: Path, out: Path) -> None:
    """The flow in a child process; what it saw written to ``out``."""
    Watching.go, Watching.report, Watching.second = go, {}, (key, options)
    seen = run_console_flow(key, answers, options=options, presenter_class=Watching)
    report = {"code": seen.code, "out": seen.out, "err": seen.err, **Watching.report}
    out.write_text(json.dumps(report))


@pytest.mark.slow
@needs_firefox
def test_first_start_enrols_and_opens_the_site_with_the_certificate(
    tmp_path, est_server, customer, showexec_firefox
):
    """First use end to end on one key: the site sees the key's serial from Firefox."""
    project = est_server.project.root
    site = ClientCertSite(project)
    env = headless_env(tmp_path / "home")
    options = FlowOptions(
        firefox_args=("--headless",),
        firefox_env=env,
        firefox_output=tmp_path / "firefox.log",
        background_delay=0.0,
    )
    go, out = tmp_path / "go", tmp_path / "report.json"
    answers = Answers(identifier=customer.identifier, activation_code=customer.code)
    with RawServer(site.handle) as server:
        key = make_key(
            tmp_path / "key",
            ca_pem=(project / "trust" / "ca.pem").read_bytes(),
            site=f"https://127.0.0.1:{server.port}/",
            est_url=est_server.est_url,
            serial=customer.serial,
            firefox=showexec_firefox,
        )
        child = multiprocessing.get_context("spawn").Process(
            target=_child, args=(key, answers, options, go, out)
        )
        child.start()
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and not any(e.startswith("serial") for e in site.events):
            site.seen.wait(0.2)
        go.touch()
        child.join(timeout=DEADLINE * 2)
        if child.is_alive():
            child.kill()
            child.join()
    events = list(site.events)
    report = json.loads(out.read_text())

    assert report["code"] == 0, (report["err"], (tmp_path / "firefox.log").read_text()[-2000:])
    assert "serial KEY-0001" in events, events  # Firefox presented the key's certificate
    assert report["running"]
    shadow = tmp_path / "cache" / "e-secure" / SHADOW_NAME
    assert str(shadow / "firefox-esr") in report["exes"]  # started from the shadow's copy
    # the second start said so, exited 0, and started no Firefox of its own
    code, said, _ = report["second"]
    assert code == 0 and "e-secure is already running" in said
    assert report["after"] == 0  # removing the key closed Firefox and its processes
    # what the flow left on the key: the state, the credential, the live profile
    profile = key.data / "profile"
    assert (key.data / "state.json").is_file()
    assert (key.data / "pki" / "credential.pem").is_file()
    assert (profile / STAMP_NAME).is_file() and (profile / "cert9.db").is_file()
    assert nss.delivered_serial(profile) is not None
    assert (key.data / LOCK_NAME).read_bytes() == b""  # released
    assert "The key is activated" in report["out"]
    assert "[100%] Sogecash Net is open in the key's browser." in report["out"]
