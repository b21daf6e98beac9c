"""The image's Linux Firefox and bootstrap on another distribution: Debian 13 (trixie).

The root (tests/bundle/debian_root.py, made by debootstrap and cached outside the
checkout) has GTK 3 and the desktop base but not Debian 12's libvpx.so.7, NSPR or
libevent. Programs run in it through bubblewrap: a chroot in a private mount namespace,
the root read-only, the extracted image bound at its own path (so the argv and
environment `prepare_firefox` computes on this side are valid inside), a tmpfs on /tmp;
nothing is mounted on this machine, so nothing is left mounted if a test is killed. The
network is shared: a server on 127.0.0.1 here is 127.0.0.1 there.

Firefox is started exactly as the launcher starts it (``prepare_firefox``'s argv and
env, the launcher's own arguments) with the key's profile template and policies, on an
HTTPS page (the project's server certificate, trusted through the image's Certificates
policy) that is one solid colour: the screenshot must show it. The second Firefox test is
today's image as it was before the libraries were bundled (no bundled-libs/, no
LD_LIBRARY_PATH): it must fail in the same root, with the loader's error.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from PIL import Image

from esecure.bundle.elfdeps import read_dynamic
from esecure_onkey.browser import LIBRARY_PATH, firefox_environment, prepare_firefox
from esecure_onkey.layout import BUNDLED_LIBS_DIR
from tests.bundle.debian_root import debian13_root
from tests.bundle.test_image_firefox import _Server

pytestmark = pytest.mark.slow

COLOUR = (0x1F, 0x8F, 0x4E)
PAGE = (
    b"<!doctype html><html><head><title>portable</title></head>"
    b'<body style="margin:0;background:#1f8f4e;height:100vh"></body></html>'
)
FIREFOX_TIMEOUT = 120
BWRAP_TIMEOUT = 120


@pytest.fixture(scope="module")
def debian13() -> Path:
    """The cached Debian 13 root (made here on a fresh machine: a few minutes)."""
    if shutil.which("bwrap") is None:
        pytest.fail("bubblewrap is missing: run build_scripts/install-system-deps.sh")
    try:
        return debian13_root()
    except RuntimeError as exc:
        pytest.fail(str(exc))


def _in_root(root: Path, binds: Sequence[tuple[str, Path]], argv: Sequence[str]) -> list[str]:
    """``argv`` run in ``root`` by bubblewrap, with ``binds`` (``--ro-bind``, ``--bind``,
    ``--tmpfs``) at their own paths."""
    command = ["bwrap", "--ro-bind", str(root), "/", "--tmpfs", "/tmp"]  # noqa: S108 - its own
    for kind, path in binds:
        command += [kind, str(path)] if kind == "--tmpfs" else [kind, str(path), str(path)]
    command += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm"]  # noqa: S108 - its own
    command += ["--die-with-parent"]
    return [*command, "--", *argv]


def _run(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> tuple[int, str]:
    """Run ``argv`` in its own session (killed whole after ``timeout``): status, stderr."""
    with subprocess.Popen(
        argv,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out.decode(errors="replace")


@pytest.fixture
def page(demo_image) -> Iterator[_Server]:
    """The one-colour page over HTTPS on 127.0.0.1 (the project's server certificate)."""
    server = _Server(
        demo_image.project / "server" / "tls.pem",
        demo_image.project / "keys" / "server-tls.key.pem",
        PAGE,
    )
    yield server
    server.close()


def _url(server: _Server) -> str:
    return f"https://127.0.0.1:{server.port}/portable"


def _firefox_in_root(
    root: Path, extracted: Path, work: Path, url: str, *, bundled: bool
) -> tuple[int, str, Path]:
    """The image's Firefox in ``root``, headless, screenshot of ``url``, started with the
    argv and env of ``prepare_firefox`` and the launcher's own arguments; ``bundled``
    False: as today's image would (no bundled-libs/, the environment without them)."""
    home, profile, shot = work / "home", work / "profile", work / "shot.png"
    home.mkdir()
    profile.mkdir()
    shutil.copyfile(extracted / "profile" / "user.js", profile / "user.js")
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(home), "MOZ_CRASHREPORTER_DISABLE": "1"}
    args = ["--headless", "--screenshot", str(shot), "-no-remote", "-profile", str(profile)]
    firefox_dir = extracted / "firefox" / "linux"
    start = prepare_firefox(
        firefox_dir, "linux", scratch=work / "cache", args=[*args, url], environ=environ
    )
    assert start.mode == "in place"
    binds = [("--ro-bind", extracted), ("--bind", work)]
    env = dict(start.env)
    if not bundled:
        binds.append(("--tmpfs", firefox_dir / BUNDLED_LIBS_DIR))  # today's image: none
        env = firefox_environment(environ, "linux", None)
    status, output = _run(_in_root(root, binds, start.argv), env, FIREFOX_TIMEOUT)
    return status, output, shot


def test_image_firefox_renders_a_page_in_debian13(debian13, extracted, page, tmp_path):
    """Started the launcher's way in Debian 13, the image's Firefox loads the page over
    HTTPS on 127.0.0.1 and its screenshot is the page's colour."""
    status, output, shot = _firefox_in_root(debian13, extracted, tmp_path, _url(page), bundled=True)
    assert status == 0, output[-3000:]
    assert page.paths == ["/portable"], output[-3000:]
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        points = [(width // 2, height // 2), (width // 4, height // 4), (width - 5, height - 5)]
        assert {rgb.getpixel(p) for p in points} == {COLOUR}


def test_image_firefox_without_its_libraries_fails_in_debian13(debian13, extracted, page, tmp_path):
    """Honesty check of the test above: the same Firefox as today's image has it (without
    bundled-libs/ and its LD_LIBRARY_PATH) cannot start in Debian 13: the loader finds no
    Debian 12 NSPR there. No request, no screenshot."""
    status, output, shot = _firefox_in_root(
        debian13, extracted, tmp_path, _url(page), bundled=False
    )
    assert status != 0
    assert "libnspr4.so: cannot open shared object file" in output, output[-3000:]
    assert "Couldn't load XPCOM." in output
    assert page.paths == []
    assert not shot.exists()


def test_the_root_lacks_what_the_key_bundles(debian13, extracted):
    """The root is a real test: none of the libraries the key bundles is installed there
    under its name, while GTK 3 is."""
    bundled = sorted(p.name for p in (extracted / "firefox/linux" / BUNDLED_LIBS_DIR).iterdir())
    assert bundled
    libdir = debian13 / "usr/lib/x86_64-linux-gnu"
    assert [name for name in bundled if (libdir / name).exists()] in ([], ["libffi.so.8"])
    assert (libdir / "libgtk-3.so.0").exists()


@pytest.mark.parametrize("flag", ["--version", "--self-check"])
def test_image_bootstrap_runs_in_debian13(debian13, extracted, tmp_path, flag):
    """The image's bootstrap (PyInstaller, built on Debian 12) runs in Debian 13."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    argv = [str(extracted / "e-secure"), flag]
    binds = [("--ro-bind", extracted), ("--bind", tmp_path)]
    status, output = _run(_in_root(debian13, binds, argv), env, BWRAP_TIMEOUT)
    assert status == 0, output
    expected = "e-secure " if flag == "--version" else "self-check: ok"
    assert output.startswith(expected), output


def test_build_report_lists_the_bundled_libraries_and_the_minimum_host(demo_image, extracted):
    """The build report names each library bundled (its source on the build machine and
    its path on the image, present there and in the manifest) and the minimum host."""
    report = json.loads((demo_image.out / "build-report.json").read_text())
    linux = report["platforms"]["linux"]
    bundled = linux["libraries"]["bundled"]
    names = {b["name"] for b in bundled}
    assert {"libnspr4.so", "libplc4.so", "libplds4.so", "libvpx.so.7"} <= names
    listed = {f["path"]: f["size"] for f in report["files"]}
    for library in bundled:
        assert library["image_path"] == f"firefox/linux/{BUNDLED_LIBS_DIR}/{library['name']}"
        assert listed[library["image_path"]] == library["size"]
        assert Path(library["source"]).stat().st_size == library["size"]
        on_image = read_dynamic(extracted / library["image_path"])
        assert on_image is not None
        assert on_image.soname == library["name"]
    assert linux["libraries"]["bundled_bytes"] == sum(b["size"] for b in bundled)
    minimum = linux["minimum_host"]
    assert minimum["firefox"]["gtk"] == "3"
    assert minimum["firefox"]["glibc"].startswith("2.")
    assert minimum["bootstrap"]["glibc"].startswith("2.")
    assert "libgtk-3.so.0" in minimum["firefox"]["host_libraries"]
    assert not names & set(minimum["firefox"]["host_libraries"])
    assert "libnspr4.so" in demo_image.stdout + demo_image.stderr
    assert LIBRARY_PATH == "LD_LIBRARY_PATH"
