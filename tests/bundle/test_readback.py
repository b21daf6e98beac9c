"""The first keys off the line: both partitions read back from a key, checked.

A read-back is the image followed by whatever the partition holds beyond it (the vendor
rounds partitions up); these stand in for one with sparse copies of the built images,
padded, and damaged the ways a programming line damages them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from esecure.bundle.readback import check_data_readback, read_serial
from esecure.cli import cli
from esecure.demo.images import Built, copy_project
from esecure.errors import IntegrityError, ToolError, UsageError


def _readback(image: Path, dest: Path, *, pad: int = 3 << 20) -> Path:
    """A sparse copy of ``image`` with ``pad`` bytes of partition after it."""
    subprocess.run(["cp", "--sparse=always", str(image), str(dest)], check=True)
    with dest.open("r+b") as f:
        f.truncate(image.stat().st_size + pad)
    return dest


def _flip(path: Path, offset: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def _verify(*args: str):
    return CliRunner().invoke(cli, ["--lang", "en", "verify", *args])


def _verify_key(built: Built, data: Path, expected: Path):
    """`esecure verify` of a key read back: the image's CD-ROM, and ``data``."""
    project = str(built.project)
    return _verify(
        str(built.cdrom), "--project", project, "--data", str(data), "--data-image", str(expected)
    )


@pytest.fixture(scope="module")
def batch(demo_image: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two personalised data images of the demo image (a copy of its project: the ledger)."""
    root = tmp_path_factory.mktemp("readback")
    project = copy_project(demo_image.project, root / "project")
    out = root / "batch"
    result = CliRunner().invoke(
        cli,
        [
            *("--lang", "en", "personalize", str(project), "--count", "2"),
            *("--out", str(out), "--data-images", "--image-dir", str(demo_image.out)),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def _serials(batch: Path) -> list[str]:
    return sorted(p.stem for p in (batch / "identities").glob("*.json"))


def test_padded_cdrom_readback_verifies(demo_image: Built, tmp_path: Path) -> None:
    cd = _readback(demo_image.cdrom, tmp_path / "cd.bin")
    result = _verify(str(cd), "--project", str(demo_image.project))
    assert result.exit_code == 0, result.output
    assert "signed by the project's key" in result.output


def test_fresh_key_readback_matches_its_personalised_image(
    demo_image: Built, batch: Path, tmp_path: Path
) -> None:
    serial = _serials(batch)[1]
    data = _readback(batch / f"data-{serial}.img", tmp_path / "data.bin")
    result = _verify_key(demo_image, data, batch)
    assert result.exit_code == 0, result.output
    assert f"key {serial}" in result.output
    assert f"data-{serial}.img" in result.output
    assert "3,145,728 bytes of partition beyond it" in result.output


def test_unpersonalised_readback_matches_data_img(demo_image: Built, tmp_path: Path) -> None:
    data = _readback(demo_image.data, tmp_path / "data.bin", pad=0)
    checked = check_data_readback(data, demo_image.data)
    assert checked.serial is None
    assert checked.compared == demo_image.data.stat().st_size
    assert checked.beyond == 0


def test_serial_is_read_from_the_volume_itself(batch: Path) -> None:
    serial = _serials(batch)[0]
    assert read_serial(batch / f"data-{serial}.img") == serial
    identity = json.loads((batch / "identities" / f"{serial}.json").read_text())
    assert identity["serial"] == serial


def test_flipped_byte_is_named_with_its_offset(batch: Path, tmp_path: Path) -> None:
    serial = _serials(batch)[0]
    data = _readback(batch / f"data-{serial}.img", tmp_path / "data.bin")
    offset = 5 * (1 << 20) + 123  # inside the FAT, past the boot sector
    _flip(data, offset)
    with pytest.raises(IntegrityError) as caught:
        check_data_readback(data, batch)
    assert caught.value.code == "ES960"
    assert f"at byte {offset:,}" in str(caught.value)


def test_unpersonalised_image_on_a_key_of_a_batch_is_refused(
    demo_image: Built, batch: Path, tmp_path: Path
) -> None:
    data = _readback(demo_image.data, tmp_path / "data.bin")
    result = _verify_key(demo_image, data, batch)
    assert result.exit_code == 1
    assert "ES960" in result.output
    assert "unpersonalised data.img" in result.output


def test_partition_smaller_than_its_image_is_refused(batch: Path, tmp_path: Path) -> None:
    serial = _serials(batch)[0]
    image = batch / f"data-{serial}.img"
    data = _readback(image, tmp_path / "data.bin", pad=0)
    with data.open("r+b") as f:
        f.truncate(image.stat().st_size - (1 << 20))
    with pytest.raises(IntegrityError) as caught:
        check_data_readback(data, image)
    assert caught.value.code == "ES960"
    assert "smaller than the image" in str(caught.value)


def test_readback_of_another_batch_names_the_missing_image(batch: Path, tmp_path: Path) -> None:
    serial = _serials(batch)[0]
    data = _readback(batch / f"data-{serial}.img", tmp_path / "data.bin")
    other = tmp_path / "other-batch"
    other.mkdir()
    with pytest.raises(UsageError) as caught:
        check_data_readback(data, other)
    assert caught.value.code == "ES961"
    assert f"data-{serial}.img does not exist" in str(caught.value)


def test_readback_that_is_not_fat_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"\0" * (1 << 20))
    with pytest.raises(ToolError) as caught:
        check_data_readback(data, data)
    assert caught.value.code == "ES961"


def test_data_without_data_image_is_a_usage_error(demo_image: Built) -> None:
    result = _verify(
        str(demo_image.cdrom), "--project", str(demo_image.project), "--data", str(demo_image.data)
    )
    assert result.exit_code == 2
    assert "--data and --data-image go together" in result.output
