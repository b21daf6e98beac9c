"""Signing with an RFC 3161 timestamp from the bank's TSA ([signing] tsa_url): a local TSA
(`openssl ts` behind a loopback HTTP server, tests/windows/tsa.py) and a small PE built
with mingw stand in for the bank's TSA and e-secure.exe."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.windows.tsa import running_tsa

from esecure._tools import SYSTEM
from esecure.bundle.authenticode import check_pe, sign_launcher
from esecure.config import load_project
from esecure.errors import IntegrityError, ToolError

_HELLO = "int main(void) { return 0; }\n"


@pytest.fixture
def stage(tmp_path: Path) -> Path:
    """A directory holding an unsigned e-secure.exe (a tiny PE32+ built with mingw)."""
    (tmp_path / "hello.c").write_text(_HELLO)
    out = tmp_path / "stage"
    out.mkdir()
    subprocess.run(
        [
            "x86_64-w64-mingw32-gcc",
            "-O2",
            "-o",
            str(out / "e-secure.exe"),
            str(tmp_path / "hello.c"),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return out


def _with_tsa(project_dir: Path, url: str, ca: Path | None) -> None:
    config = project_dir / "esecure.toml"
    text = config.read_text().replace('tsa_url = ""', f'tsa_url = "{url}"')
    if ca is not None:
        text = text.replace('tsa_ca_certificate = ""', f'tsa_ca_certificate = "{ca}"')
    config.write_text(text)


def test_signed_with_a_trusted_timestamp(demo_project, stage):
    """[signing] tsa_url set: the TSA is asked once, the signature carries its timestamp,
    which verifies against [signing] tsa_ca_certificate; the build's report line says so."""
    said: list[str] = []
    with running_tsa() as tsa:
        _with_tsa(demo_project, tsa.url, tsa.ca_certificate)
        project = load_project(demo_project)
        subject = sign_launcher(
            project, stage, epoch=1700000000, passphrase=None, runner=SYSTEM, report=said.append
        )
        assert len(tsa.requests) == 1
        exe = stage / "e-secure.exe"
        assert project.signing.ca_certificate is not None
        check_pe(
            exe,
            "e-secure.exe",
            ca_certificate=project.signing.ca_certificate,
            runner=SYSTEM,
            tsa_ca=tsa.ca_certificate,
        )
    assert subject == "/CN=Demo Bank e-secure (DEMO ONLY - NOT FOR RELEASE)/O=Demo Bank"
    assert said[0] == f"e-secure.exe: Authenticode-signed by {subject}, timestamped by {tsa.url}"


def test_a_timestamp_from_an_untrusted_tsa_is_refused(demo_project, stage, tmp_path):
    """The signature's timestamp does not chain to [signing] tsa_ca_certificate (another
    TSA answered): ES975 naming the file and what is missing."""
    with running_tsa() as tsa, running_tsa() as other:
        _with_tsa(demo_project, other.url, tsa.ca_certificate)
        project = load_project(demo_project)
        with pytest.raises(IntegrityError) as info:
            sign_launcher(
                project, stage, epoch=1700000000, passphrase=None, runner=SYSTEM, report=print
            )
    assert info.value.code == "ES975"
    assert info.value.detail.startswith(
        "e-secure.exe has no timestamp that verifies against tsa-ca.pem"
    )


def test_an_unreachable_tsa_is_es972_naming_it(demo_project, stage):
    """The TSA does not answer (nothing listens on its port): ES975 naming its URL; the
    program is left as it was (unsigned)."""
    before = (stage / "e-secure.exe").read_bytes()
    _with_tsa(demo_project, "http://127.0.0.1:9/", None)
    project = load_project(demo_project)
    with pytest.raises(ToolError) as info:
        sign_launcher(project, stage, epoch=0, passphrase=None, runner=SYSTEM, report=print)
    assert info.value.code == "ES975"
    assert info.value.detail.startswith(
        "e-secure.exe could not be signed (timestamp authority http://127.0.0.1:9/)"
    )
    assert (stage / "e-secure.exe").read_bytes() == before
