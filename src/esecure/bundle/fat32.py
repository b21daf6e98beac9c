"""The geometry of the data partition's FAT32 volume, pure: no I/O, no tools.

Every data partition the build makes is FAT32 with 512-byte sectors, 4 KiB clusters
(8 sectors), two FATs and its first data cluster on a 1 MiB boundary of the partition
(flash pages and erase blocks are 1 MiB-aligned on USB keys; a misaligned cluster costs a
read-modify-write of two blocks). mkfs.fat 4.2 aligns only to the cluster size, so the
build turns its alignment off (``-a``) and passes the reserved-sector count this module
computes (``-R``): the reserved area grows until reserved + 2 FATs ends on 1 MiB.

:func:`layout` mirrors mkfs.fat 4.2's ``setup_tables`` for FAT32 with alignment off
(``src/mkfs.fat.c``: ``clust32``, ``fatlength32``), and :func:`read_boot_sector` reads
what mkfs.fat wrote, so that the build checks the one against the other.

FAT32 needs at least 65,525 clusters (below that, Microsoft's rule — the count of clusters
decides the FAT type — makes a reader take the volume for FAT16): with 4 KiB clusters
the smallest volume is :func:`smallest_mib` (257 MiB). The budget never asks for less.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "ALIGNMENT",
    "CLUSTER",
    "MAX_MIB",
    "MIB",
    "MIN_CLUSTERS",
    "SECTOR",
    "BootSector",
    "Layout",
    "layout",
    "read_boot_sector",
    "smallest_mib",
]

MIB = 1024 * 1024
SECTOR = 512
SECTORS_PER_CLUSTER = 8
CLUSTER = SECTOR * SECTORS_PER_CLUSTER  # 4 KiB
FATS = 2
FAT_ENTRY = 4  # bytes per cluster in each FAT
MIN_RESERVED = 32  # mkfs.fat's FAT32 default: boot sector, FSInfo, backup boot sector
ALIGNMENT = MIB  # the first data cluster starts on a multiple of this
MIN_CLUSTERS = 65_525  # fatgen103: fewer clusters make a FAT16 volume
MAX_MIB = 32_768  # the largest data partition [image] data_size_mib accepts (32 GiB)


@dataclass(frozen=True)
class Layout:
    """Where things are in a FAT32 volume of ``size_mib`` MiB made as the build makes it."""

    size_mib: int
    reserved_sectors: int
    fat_sectors: int  # of each of the two FATs
    clusters: int

    @property
    def data_offset(self) -> int:
        """Byte offset of the first data cluster from the start of the volume."""
        return (self.reserved_sectors + FATS * self.fat_sectors) * SECTOR

    @property
    def data_bytes(self) -> int:
        """Bytes of the clusters (what files and folders can use)."""
        return self.clusters * CLUSTER

    @property
    def is_fat32(self) -> bool:
        """Enough clusters for every reader to take the volume for FAT32."""
        return self.clusters >= MIN_CLUSTERS


def _fat_sectors(fat_and_data: int) -> int:
    """mkfs.fat 4.2 (alignment off): FAT length for ``fat_and_data`` sectors after the
    reserved area — clusters estimated with the two FATs' share, then 4 bytes each (+2)."""
    clusters = (fat_and_data * SECTOR + FATS * 8) // (CLUSTER + FATS * FAT_ENTRY)
    return -(-(clusters + 2) * FAT_ENTRY // SECTOR)


def layout(size_mib: int) -> Layout:
    """The geometry of a ``size_mib`` MiB volume: the fewest reserved sectors (at least 32)
    that put the first data cluster on a 1 MiB boundary, the FAT length mkfs.fat derives
    from them, and the clusters that fit after."""
    if size_mib < 1:
        raise ValueError(f"a volume of {size_mib} MiB")
    total = size_mib * MIB // SECTOR
    step = ALIGNMENT // SECTOR
    # reserved + 2 * fat(reserved) grows by 1 per reserved sector and falls by 1 where
    # the FAT loses a sector (every 1,024): it meets a multiple of `step` within 2 * step
    for reserved in range(MIN_RESERVED, MIN_RESERVED + 2 * step + 2):
        fat = _fat_sectors(total - reserved)
        if (reserved + FATS * fat) % step == 0:
            clusters = (total - reserved - FATS * fat) // SECTORS_PER_CLUSTER
            return Layout(size_mib, reserved, fat, max(clusters, 0))
    raise AssertionError(
        "unreachable: no reserved-sector count aligns the data"
    )  # pragma: no cover


def smallest_mib() -> int:
    """The smallest whole number of MiB that makes a true FAT32 volume with 4 KiB clusters."""
    size = -(-MIN_CLUSTERS * CLUSTER // MIB)
    while not layout(size).is_fat32:
        size += 1
    return size


@dataclass(frozen=True)
class BootSector:
    """The fields of a FAT32 boot sector (BIOS parameter block) the build checks."""

    bytes_per_sector: int
    sectors_per_cluster: int
    reserved_sectors: int
    fats: int
    total_sectors: int
    fat_sectors: int
    fs_type: bytes

    @property
    def cluster_size(self) -> int:
        """Bytes per cluster."""
        return self.bytes_per_sector * self.sectors_per_cluster

    @property
    def data_offset(self) -> int:
        """Byte offset of the first data cluster."""
        return (self.reserved_sectors + self.fats * self.fat_sectors) * self.bytes_per_sector


def read_boot_sector(sector: bytes) -> BootSector:
    """Decode the first sector of a FAT32 volume (offsets from Microsoft's fatgen103)."""
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        raise ValueError("not a FAT boot sector (no 0x55AA signature)")
    bps, spc, reserved, fats = struct.unpack_from("<HBHB", sector, 11)
    (total,) = struct.unpack_from("<I", sector, 32)
    (fat,) = struct.unpack_from("<I", sector, 36)
    return BootSector(bps, spc, reserved, fats, total, fat, sector[82:90])
