"""The demo image, built once per test session with real PyInstaller and Debian's Firefox."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from esecure.scaffold import InitOptions, init_project

EPOCH = "1700000000"
FIREFOX = Path("/usr/lib/firefox-esr")
BUILD_TIMEOUT = 900


@dataclass(frozen=True)
class Built:
    """A built image and where it came from."""

    project: Path
    out: Path
    cdrom: Path
    data: Path
    stdout: str
    stderr: str


def run_build(
    project: Path,
    out: Path,
    cwd: Path,
    *,
    extra_env: dict[str, str] | None = None,
    umask: int = 0o022,
    args: tuple[str, ...] = (),
) -> Built:
    """`esecure build` in a child process (its own cwd, TMPDIR, umask and time zone)."""
    tmpdir = cwd / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": EPOCH,
        "TMPDIR": str(tmpdir),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        **(extra_env or {}),
    }
    code = f"import os, sys; os.umask({umask}); from esecure.cli import main; main(sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, "build", str(project), "--out", str(out), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Built(project, out, out / "cdrom.iso", out / "data.img", proc.stdout, proc.stderr)


def extract(iso: Path, dest: Path) -> Path:
    """Extract an ISO with xorriso (an independent reader), Rock Ridge names and modes."""
    proc = subprocess.run(
        ["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # xorriso restores the read-only modes of the medium; the tests flip bytes in place.
    for directory, _dirs, _files in os.walk(dest):
        Path(directory).chmod(0o755)
    return dest


@pytest.fixture(scope="session")
def demo_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """The demo project's image (the first of the two reproducibility builds)."""
    if not FIREFOX.is_dir():
        pytest.fail(f"{FIREFOX} is missing: run build_scripts/install-system-deps.sh")
    base = tmp_path_factory.mktemp("image-a")
    project = base / "project"
    init_project(project, InitOptions(demo=True), passphrase=None)
    yield run_build(project, base / "out", base)
    shutil.rmtree(base / "out", ignore_errors=True)  # ~0.5 GB: pytest keeps old temp dirs


@pytest.fixture(scope="session")
def extracted(demo_image: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo image's CD-ROM, extracted by xorriso."""
    base = tmp_path_factory.mktemp("extracted")
    yield extract(demo_image.cdrom, base / "cd")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A temporary directory removed after the test (image builds are large)."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.fixture
def flipped(extracted: Path):
    """Flip one byte of a file of the extracted image; restored afterwards."""
    saved: list[tuple[Path, bytes]] = []

    def flip(rel: str, offset: int = 10) -> None:
        path = extracted / rel
        data = path.read_bytes()
        saved.append((path, data))
        path.chmod(0o644)
        path.write_bytes(data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :])

    yield flip
    for path, data in saved:
        path.write_bytes(data)


def copy_project(project: Path, dest: Path) -> Path:
    """The same project in another directory (same keys, same bytes)."""
    shutil.copytree(project, dest, symlinks=False)
    return dest
