"""Firefox profiles for real-browser tests, made the way the key makes them.

:func:`enrolled_profile` registers a customer in a running reference server's registry,
then runs the launcher's own certificate step (:func:`esecure.launcher.certificate.
prepare_profile`: key pair made locally, EST ``simpleenroll`` against the server, the CA
and the certificate written into the profile's NSS database through Firefox's own NSS).
The profile's ``user.js`` is the key's template (:func:`esecure.bundle.firefox.user_js`:
the client certificate is chosen automatically, no background traffic).

:func:`ca_only_profile` trusts the CA but holds no certificate (a browser that is not the
key's). Profiles are templates: :func:`live_copy` gives each Firefox run its own writable
copy, so a session-scoped profile serves every test.

Fixtures (import them into a test module as ``name = firefox_profiles.name``):
``firefox_project`` and ``firefox_server`` (a demo project and its server, for the
session), ``alice_profile`` (alice's enrolled profile), ``no_cert_profile``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from esecure.bundle.firefox import BrowserSettings, user_js
from esecure.config import load_project
from esecure.demo.bidi import firefox_available
from esecure.launcher.certificate import prepare_profile
from esecure.launcher.enrol import EstSettings
from esecure.scaffold import InitOptions, init_project
from tests.launcher.est_fixtures import make_data_area
from tests.server.est_support import ServerThread, add_customer

__all__ = [
    "FIREFOX_DIR",
    "FIREFOX_TEST",
    "EnrolledProfile",
    "alice_profile",
    "ca_only_profile",
    "enrolled_profile",
    "firefox_project",
    "firefox_server",
    "live_copy",
    "no_cert_profile",
    "write_user_js",
]

FIREFOX_DIR = Path("/usr/lib/firefox-esr")  # Debian's firefox-esr, with its own NSS
_TOOL_TIMEOUT = 30

# The marks of a test module that starts Firefox: ``pytestmark = FIREFOX_TEST``.
FIREFOX_TEST = [
    pytest.mark.slow,
    pytest.mark.skipif(not firefox_available(), reason="make system-deps installs firefox-esr"),
]


@dataclass(frozen=True)
class EnrolledProfile:
    """A profile template holding the certificate the EST service issued for a key."""

    path: Path
    identifier: str
    serial: str
    certificate: x509.Certificate


def write_user_js(profile: Path, start_page: str = "about:blank") -> Path:
    """Create ``profile`` with the key's ``user.js`` (home page ``start_page``)."""
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "user.js").write_bytes(user_js(BrowserSettings(site=start_page)))
    return profile


def enrolled_profile(
    directory: Path, server: ServerThread, identifier: str, serial: str
) -> EnrolledProfile:
    """Register ``identifier`` with key ``serial`` on ``server`` and enrol that key the
    way the launcher does; the profile (``directory / "profile"``) holds its certificate
    and trusts the server's CA. ``directory`` also receives the key's data area."""
    customer = add_customer(server.db_url, identifier, serial)
    data_area = make_data_area(directory / "data", serial)
    profile = write_user_js(directory / "profile")
    settings = EstSettings(base_url=server.est_url, ca_file=server.project.trust.ca_certificate)
    prepared = prepare_profile(
        data_area,
        settings,
        lambda: (customer.identifier, customer.code),
        firefox_dir=FIREFOX_DIR,
        profile=profile,
    )
    assert prepared.outcome.action == "enrolled", prepared
    assert prepared.delivered is not None and prepared.delivered.method == "ctypes", prepared
    return EnrolledProfile(profile, identifier, serial, prepared.outcome.credential.certificate)


def ca_only_profile(directory: Path, ca_file: Path) -> Path:
    """A profile trusting ``ca_file`` for servers but holding no client certificate."""
    profile = write_user_js(directory)
    database = f"sql:{profile}"
    subprocess.run(
        ["certutil", "-N", "-d", database, "--empty-password"],
        check=True,
        capture_output=True,
        timeout=_TOOL_TIMEOUT,
    )
    subprocess.run(
        ["certutil", "-A", "-d", database, "-n", "e-secure CA", "-t", "C,,", "-i", str(ca_file)],
        check=True,
        capture_output=True,
        timeout=_TOOL_TIMEOUT,
    )
    return profile


def live_copy(template: Path, directory: Path) -> Path:
    """A writable copy of a profile template for one Firefox run (Firefox refuses a
    read-only profile and grows the live one to ~11 MB)."""
    shutil.copytree(template, directory)
    return directory


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def firefox_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo key project shared by the session's browser tests."""
    directory = tmp_path_factory.mktemp("firefox") / "project"
    init_project(directory, InitOptions(demo=True), passphrase=None)
    return directory


@pytest.fixture(scope="session")
def firefox_server(firefox_project: Path) -> Iterator[ServerThread]:
    """The reference server (EST included) of :func:`firefox_project`, on 127.0.0.1."""
    with ServerThread(firefox_project) as server:
        yield server


@pytest.fixture(scope="session")
def alice_profile(
    firefox_server: ServerThread, tmp_path_factory: pytest.TempPathFactory
) -> EnrolledProfile:
    """alice's key KEY-0001 enrolled on :func:`firefox_server`: the profile template."""
    return enrolled_profile(tmp_path_factory.mktemp("alice"), firefox_server, "alice", "KEY-0001")


@pytest.fixture(scope="session")
def no_cert_profile(firefox_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A profile template that trusts the project's CA but holds no certificate."""
    ca_file = load_project(firefox_project).trust.ca_certificate
    return ca_only_profile(tmp_path_factory.mktemp("nocert") / "profile", ca_file)
