"""End to end, headless: the key as a user meets it, from the image to the bank's site.

The first start is `esecure demo`'s own key life (:func:`esecure.demo.run.key_life`) on
the session's served image (tests/conftest.py ``served``: the demo image rebuilt against a
running `esecure serve` on 127.0.0.1, 1.0.1 published): the data area is the FAT image
`esecure personalize --data-images` made for one serial, copied out with mtools; the
customer, the key's binding, the activation code and the portal's mail code come from
`esecure admin`. The frozen bootstrap `e-secure` of the CD tree runs as a user would start
it, with ``--no-gui`` and its answers on the command line; ESECURE_FIREFOX_ARGS makes its
Firefox headless with a WebDriver BiDi port, through which the portal is driven.

First start: the update to 1.0.1 is applied, the key restarts into it, enrols, and Firefox
shows the portal's login page; the first connection (mail code, personal code, contact
details) reaches the client area. Each outcome is asserted on both sides. Second start:
nothing to update, the certificate valid: straight to the site, where "Access with
certificate" leads to the keypad, which the portal shows only to a matching certificate.
The CD tree is byte-identical afterwards, with no new file (CI runs as root: a read-only
mode would prove nothing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from cryptography import x509

from esecure.demo.bidi import Browser
from esecure.demo.images import Served
from esecure.demo.key import IDENTIFIER, Key, Launcher, tree_digest
from esecure.demo.run import (
    ENROLLING,
    FIRST_STEP,
    UPDATE_OFFERED,
    Life,
    Options,
    Progress,
    key_life,
    key_version,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def life(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Life]:
    """The demo's key life (`esecure demo`'s own steps, headless) on the served image: a
    key personalised and inserted, its first start driven through the portal's first
    connection to the client area; every process stopped at the end of the module."""
    work = tmp_path_factory.mktemp("e2e")
    progress = Progress(print)  # the steps, as the demo shows them (pytest -s)
    with contextlib.ExitStack() as stack:
        yield key_life(served, work, progress, stack, Options())


@pytest.fixture(scope="module")
def key(life: Life) -> Key:
    return life.key


def _on_the_site(browser: Browser, key: Key) -> str:
    """Firefox shows the portal's login page; "Access with certificate" with the
    identifier reaches the page the portal shows only to a matching certificate."""
    browser.wait_until("document.body && document.body.dataset.page === 'login'")
    assert browser.url.startswith(key.served.url), browser.url
    browser.type("#identifier", IDENTIFIER)
    with browser.expect_load():
        browser.click("#login-submit")
    page = browser.attribute("body", "data-page")
    return str(page)


def _run(key: Key, *args: str) -> tuple[str, str, int]:
    """Start the key; on the site, log in with the certificate, close Firefox; (the page
    after login, the launcher's output, its exit code)."""
    launcher = Launcher(key, *args)
    try:
        browser = launcher.firefox()
        try:
            page = _on_the_site(browser, key)
        finally:
            browser.close()  # the user closes Firefox: the session ends
        code = launcher.wait()
    finally:
        launcher.stop()
    return page, launcher.output, code


@pytest.fixture(scope="module")
def cd_before(key: Key) -> dict[str, str]:
    return tree_digest(key.cd)


def test_first_start_updates_restarts_enrols_and_reaches_the_client_area(life, served):
    """The demo's first start, each step's outcome on both sides: the update served by
    the repository and installed (the key restarts into it), the certificate the EST
    service issued for the key's serial in Firefox's NSS database, the first connection
    to the client area recorded by the portal, the CD-ROM unchanged."""
    output = life.launcher_output
    assert life.exit_code == 0, output
    assert served.update in life.published  # served
    assert UPDATE_OFFERED + served.update in output, output
    assert output.count(FIRST_STEP) == 2, output  # started again after the update
    assert life.version.endswith(f"(version {served.update} from the data area)")  # installed
    assert ENROLLING in output, output
    assert life.certificate_serial  # issued for the key's serial (registry)
    assert life.in_firefox  # and in the profile's NSS database
    credential = x509.load_pem_x509_certificate(
        (life.key.data / "pki" / "credential.pem").read_bytes()
    )
    assert format(credential.serial_number, "x") == life.certificate_serial.lower()
    assert life.page == "area"  # the portal's client area, after the first connection
    assert life.registered_serial.lower() == life.certificate_serial.lower()  # portal side
    assert life.logins == 1
    assert [p.name for p in life.screenshots][-1].endswith("-area.png")
    log = (life.key.data / "logs" / "e-secure.log").read_text()
    assert life.key.code not in log and life.key.code not in output
    assert life.cd_unchanged


def test_second_start_goes_straight_to_the_site(key, cd_before):
    """Nothing to update, a valid certificate: no enrolment, no update, the site."""
    record = (key.data / "pki" / "certificate.json").read_bytes()
    page, output, code = _run(key)
    assert page == "code", output
    assert code == 0, output
    assert UPDATE_OFFERED not in output, output
    assert ENROLLING not in output, output
    assert output.count(FIRST_STEP) == 1, output  # no restart
    assert key_version(key).endswith(f"(version {key.served.update} from the data area)")
    assert (key.data / "pki" / "certificate.json").read_bytes() == record  # no new enrolment
    assert tree_digest(key.cd) == cd_before
