"""The FAT32 geometry of the data partition, pure: the numbers mkfs.fat 4.2 writes."""

from __future__ import annotations

import struct

import pytest

from esecure.bundle import fat32

MIB = 1024 * 1024

# (size in MiB, reserved sectors, sectors per FAT, clusters): what mkfs.fat 4.2 wrote for
# `-F 32 -S 512 -s 8 -a -R <reserved>` on Debian 12 (clusters: minfo's free clusters + the
# root folder's one; the build re-reads the boot sector every time)
GEOMETRY = [
    (257, 1022, 513, 65_536),
    (258, 1018, 515, 65_792),
    (300, 850, 599, 76_544),
    (1155, 1534, 2305, 294_912),
    (8191, 66, 16_351, 2_092_800),
]


@pytest.mark.parametrize(("size", "reserved", "fat", "clusters"), GEOMETRY)
def test_layout_is_what_mkfs_fat_writes(size, reserved, fat, clusters):
    """Reserved sectors, FAT length and cluster count match mkfs.fat's, data on 1 MiB."""
    layout = fat32.layout(size)
    assert (layout.reserved_sectors, layout.fat_sectors, layout.clusters) == (
        reserved,
        fat,
        clusters,
    )
    assert layout.data_offset % MIB == 0
    assert layout.data_offset + layout.data_bytes <= size * MIB


@pytest.mark.parametrize("size", range(257, 2400, 37))
def test_every_size_gets_the_fewest_reserved_sectors_that_align(size):
    """At least 32 reserved sectors, and no smaller count puts the data on 1 MiB."""
    layout = fat32.layout(size)
    assert layout.reserved_sectors >= 32
    assert layout.data_offset % MIB == 0
    for fewer in range(32, layout.reserved_sectors):
        total = size * MIB // 512
        clusters = ((total - fewer) * 512 + 16) // (4096 + 8)
        fat = -(-(clusters + 2) * 4 // 512)
        assert (fewer + 2 * fat) % 2048 != 0


def test_smallest_fat32_volume_is_257_mib():
    """65,525 clusters of 4 KiB need 257 MiB: 256 MiB would be a FAT16 by the spec's count."""
    assert fat32.smallest_mib() == 257
    assert fat32.layout(257).is_fat32
    assert not fat32.layout(256).is_fat32


def _boot_sector(**fields: int) -> bytes:
    sector = bytearray(512)
    struct.pack_into(
        "<HBHB", sector, 11, fields["bps"], fields["spc"], fields["reserved"], fields["fats"]
    )
    struct.pack_into("<I", sector, 32, fields["total"])
    struct.pack_into("<I", sector, 36, fields["fat"])
    sector[82:90] = b"FAT32   "
    sector[510:512] = b"\x55\xaa"
    return bytes(sector)


def test_boot_sector_reader():
    """The BPB fields at fatgen103's offsets; the data offset follows from them."""
    found = fat32.read_boot_sector(
        _boot_sector(bps=512, spc=8, reserved=850, fats=2, total=614_400, fat=599)
    )
    assert (found.cluster_size, found.total_sectors, found.fs_type) == (4096, 614_400, b"FAT32   ")
    assert found.data_offset == MIB


def test_boot_sector_without_its_signature_is_refused():
    """No 0x55AA at the end of the sector: not a boot sector."""
    with pytest.raises(ValueError, match="0x55AA"):
        fat32.read_boot_sector(bytes(512))
