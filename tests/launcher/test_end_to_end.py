"""End to end, headless: the key as a user meets it, from the image to the bank's site.

The session's served image (tests/conftest.py ``served``: the demo image rebuilt against a
running `esecure serve` on 127.0.0.1, 1.0.1 published) is the CD-ROM tree; the data area
is the FAT image `esecure personalize --data-images` made for one serial, copied out with
mtools; the customer, the key's binding and the activation code come from `esecure admin`.
The frozen bootstrap `e-secure` of the CD tree runs as a user would start it, with
``--no-gui`` and its answers on the command line; ESECURE_FIREFOX_ARGS makes its Firefox
headless with a WebDriver BiDi port, through which the test looks at what Firefox shows.

First start: the update to 1.0.1 is applied, the key restarts into it, enrols, and Firefox
shows the portal's login page; "Access with certificate" leads to the keypad, which the
portal shows only to a matching certificate. Second start: nothing to update, the
certificate valid: straight to the site. The CD tree is byte-identical afterwards, with
no new file (CI runs as root: a read-only mode would prove nothing).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from esecure.demo.bidi import Browser
from esecure.demo.images import Served
from esecure.demo.key import (
    EXIT_TIMEOUT,
    IDENTIFIER,
    Key,
    Launcher,
    personalised_key,
    tree_digest,
)

pytestmark = pytest.mark.slow

# What the terminal says (the demo project speaks French first).
UPDATE_OFFERED = "Mise à jour disponible : version "
ENROLLING = "Téléchargement et installation du certificat"


@pytest.fixture(scope="module")
def key(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Key]:
    """One personalised key for the served image."""
    made = personalised_key(served, tmp_path_factory.mktemp("e2e"))
    yield made
    shutil.rmtree(made.runtime, ignore_errors=True)


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


def _version(key: Key) -> str:
    """What `e-secure --version` says about the release the bootstrap picks."""
    got = subprocess.run(
        [str(key.cd / "e-secure"), "--version"],
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(key.home), "ESECURE_DATA_DIR": str(key.data)},
    )
    return got.stdout.strip()


@pytest.fixture(scope="module")
def cd_before(key: Key) -> dict[str, str]:
    return tree_digest(key.cd)


def test_first_start_updates_restarts_enrols_and_opens_the_site(key, cd_before):
    """Update to 1.0.1, restart into it, enrol, and the portal accepts the certificate."""
    page, output, code = _run(
        key, "--identifier", IDENTIFIER, "--activation-code", key.code, "--update", "now"
    )
    assert page == "code", output  # the keypad: the certificate matched the identifier
    assert code == 0, output
    assert UPDATE_OFFERED in output, output
    assert ENROLLING in output, output
    assert output.count("[  2%]") == 2, output  # started again after the update
    version = _version(key)
    assert version.endswith(f"(version {key.served.update} from the data area)"), version
    assert (key.data / "pki" / "credential.pem").is_file()
    log = (key.data / "logs" / "e-secure.log").read_text()
    assert key.code not in log and key.code not in output
    assert tree_digest(key.cd) == cd_before


def test_second_start_goes_straight_to_the_site(key, cd_before):
    """Nothing to update, a valid certificate: no enrolment, no update, the site."""
    record = (key.data / "pki" / "certificate.json").read_bytes()
    page, output, code = _run(key)
    assert page == "code", output
    assert code == 0, output
    assert UPDATE_OFFERED not in output, output
    assert ENROLLING not in output, output
    assert output.count("[  2%]") == 1, output  # no restart
    assert _version(key).endswith(f"(version {key.served.update} from the data area)")
    assert (key.data / "pki" / "certificate.json").read_bytes() == record  # no new enrolment
    assert tree_digest(key.cd) == cd_before
