"""Two builds of the Windows-enabled image are the same bytes, signed exe included.

The session's ``windows_image`` froze its own ``e-secure.exe`` under Wine; this builds the
same project again with the session's other freeze (``windows_launcher``, made apart with
the same SOURCE_DATE_EPOCH: test_winfreeze.py shows the two freezes are the same bytes)
and the same Linux launcher, so every other step — the copy, Authenticode signing with
the signing time from SOURCE_DATE_EPOCH, the release, the manifest, the ISO and the FAT
volume — runs twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from esecure.demo.images import Built, run_build

pytestmark = pytest.mark.slow


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_two_builds_with_windows_are_byte_identical(
    windows_image: tuple[Built, Path],
    windows_launcher: Path,
    extracted: Path,
    tmp_path: Path,
) -> None:
    first, cd = windows_image
    assert (cd / "e-secure.exe").is_file() and (cd / "runtime-windows").is_dir()
    again = run_build(
        first.project,
        tmp_path / "out",
        tmp_path,
        args=(
            "--launcher-dir",
            f"linux={extracted}",
            "--launcher-dir",
            f"windows={windows_launcher}",
        ),
    )
    assert _sha256(again.cdrom) == _sha256(first.cdrom)
    assert _sha256(again.data) == _sha256(first.data)
