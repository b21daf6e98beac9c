"""The first keys off the line: a key's data partition, read back, against what was written.

The key vendor's programming tool writes two images per key: ``cdrom.iso`` into the
CD-ROM partition and a data image (``data.img``, or ``data-<serial>.img`` from
``esecure personalize --data-images``) into the data partition. A partition is at least
as large as its image and usually a little larger (the vendor rounds to the flash's
erase blocks), so a read-back is the image followed by whatever the controller holds
beyond it. The CD-ROM read-back is checked by :func:`esecure.bundle.verify.verify_image`
(signature and every file: the ISO's own size bounds what it reads). The data read-back
is checked here, byte for byte over the image's length: a fresh key has never been
started, so nothing on it may differ yet.

With a personalisation output directory instead of one image, the serial is read from
the read-back's ``identity.json`` (mtools, without mounting) and ``data-<serial>.img`` is
the reference, and the serial is reported: a line keeps the serials it reads back, and one
seen twice means two keys were programmed with the same data image.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from esecure._tools import MCOPY, SYSTEM, Runner
from esecure.errors import IntegrityError, ToolError, UsageError
from esecure_onkey.layout import IDENTITY_FILE

__all__ = ["DataCheck", "check_data_readback", "read_serial"]

_CHUNK = 1 << 20
_NEEDED_BY = "reading the key's identity from a read-back"
_TIMEOUT = 60.0


@dataclass(frozen=True)
class DataCheck:
    """What a passing data read-back check covered."""

    expected: Path
    serial: str | None
    compared: int  # bytes compared (the image's size)
    beyond: int  # bytes of the partition after the image (not compared)


def read_serial(readback: Path, runner: Runner = SYSTEM) -> str | None:
    """The serial in the FAT volume's ``identity.json``, or None when the volume has none
    (an image that was not personalised)."""
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "MTOOLS_NO_VFAT": "0"}
    result = runner.run(
        MCOPY,
        ["-n", "-i", str(readback), f"::{IDENTITY_FILE}", "-"],
        needed_by=_NEEDED_BY,
        code="ES961",
        timeout=_TIMEOUT,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        if "not found" in (result.stderr + result.stdout).lower():
            return None
        raise ToolError(
            f"{readback} is not a readable FAT volume ({result.tail(3)}): read the data "
            "partition back again, whole, from the key's second partition",
            code="ES961",
        )
    try:
        serial = json.loads(result.stdout)["serial"]
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(
            f"{readback}: {IDENTITY_FILE} is not an identity file written by `esecure "
            "personalize`; program the key again with its data image",
            code="ES960",
        ) from None
    if not isinstance(serial, str):
        raise IntegrityError(
            f"{readback}: {IDENTITY_FILE} has no serial; program the key again with its data image",
            code="ES960",
        )
    return serial


def _expected_image(expected: Path, serial: str | None) -> Path:
    if not expected.is_dir():
        return expected
    if serial is None:
        raise IntegrityError(
            f"the read-back holds no {IDENTITY_FILE}, but {expected} is a personalisation "
            "output: the key was programmed with the unpersonalised data.img; program it "
            "with its data-<serial>.img",
            code="ES960",
        )
    image = expected / f"data-{serial}.img"
    if not image.is_file():
        raise UsageError(
            f"the read-back is key {serial}, but {image} does not exist: pass the "
            "`esecure personalize --data-images --out` directory that made this key",
            code="ES961",
        )
    return image


def _first_difference(readback: Path, image: Path, size: int) -> int | None:
    with readback.open("rb") as got, image.open("rb") as want:
        offset = 0
        while offset < size:
            a = got.read(min(_CHUNK, size - offset))
            b = want.read(min(_CHUNK, size - offset))
            if a != b:
                pairs = enumerate(zip(a, b, strict=False))
                return offset + next((i for i, (x, y) in pairs if x != y), min(len(a), len(b)))
            offset += len(b)
    return None


def check_data_readback(readback: Path, expected: Path, runner: Runner = SYSTEM) -> DataCheck:
    """Check a data partition read back from a fresh key against the data image it was
    programmed with (``expected``: a file, or a personalisation output directory).

    IntegrityError ES960 names the first differing byte, a partition smaller than its
    image, or an unpersonalised key checked against a personalisation output; ToolError
    ES961 when the read-back is not a FAT volume at all."""
    serial = read_serial(readback, runner)
    image = _expected_image(expected, serial)
    size = image.stat().st_size
    got = readback.stat().st_size
    if got < size:
        raise IntegrityError(
            f"{readback} holds {got:,} bytes, its image {image} {size:,}: the key's data "
            "partition is smaller than the image; have the vendor make it at least "
            f"{size:,} bytes ({-(-size // (1 << 20))} MiB)",
            code="ES960",
        )
    difference = _first_difference(readback, image, size)
    if difference is not None:
        raise IntegrityError(
            f"{readback} differs from {image} at byte {difference:,} (MiB {difference >> 20}): "
            "the key was not programmed with this image, or its flash lost data; program it "
            "again and read it back, and set the key aside if it differs again",
            code="ES960",
        )
    return DataCheck(image, serial, size, got - size)
