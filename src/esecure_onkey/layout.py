"""Names and places on a key: what the bootstrap, the updater and the builder agree on.

Everything here is part of on-key format 1 (see ``esecure_onkey``): a bootstrap frozen
on a CD-ROM reads these names for the life of the key.

The data area (the key's FAT partition, or a per-user directory on the host)::

    identity.json             the key's serial (written by `esecure personalize`)
    updates/                  TUF metadata, last check, downloads (the updater's)
    store/, releases/         the component store (below)
    pointer-0, pointer-1      the two pointer records (the newest valid one is in force)
    boot/<seq>                one byte per start of pointer <seq> not yet marked good
    boot/rollback.json        what the last automatic switch back did
    pki/, profile/, logs/, reports/   the launcher's

The CD-ROM (its components at their mounts, see :mod:`esecure_onkey.components`)::

    app/                 the esecure package and product.json (names, URLs, data label)
    lib/<platform>/      its third-party packages
    firefox/<platform>/  the portable Firefox (Linux: with bundled-libs/, BUNDLED_LIBS_DIR)
    profile/user.js      the profile template
    trust/               CA certificate, image-signing public key, TUF root
    release.json(.sig)   the CD-ROM's own release record
    components/          each CD-ROM component's signed file list
    MANIFEST.json(.sig)  every file of the image with its size and SHA-256, signed
"""

from __future__ import annotations

import sys
from pathlib import Path

__all__ = [
    "APP_MODULE",
    "APP_ROOT_ENV",
    "BUNDLED_LIBS_DIR",
    "CD",
    "CD_COMPONENTS",
    "CD_PRODUCT",
    "CD_RELEASE",
    "CD_RELEASE_SIG",
    "CD_ROOT_ENV",
    "DATA_DIR_ENV",
    "IDENTITY_FILE",
    "IMAGE_KEY",
    "MANIFEST_NAME",
    "MAX_FAILED_STARTS",
    "PLATFORMS",
    "POINTER_FILES",
    "PRODUCT_FILE",
    "SIGNATURE_NAME",
    "attempts_path",
    "cd_component_file",
    "component_dir",
    "component_file",
    "contents_dir",
    "executable_name",
    "hashed_at_start",
    "launcher_loaded",
    "nss_dependencies",
    "nss_libraries",
    "platform_name",
    "pointer_path",
    "release_file",
    "rollback_path",
    "staging_dir",
    "store_dir",
]

# --- environment and entry point ----------------------------------------------------------
APP_ROOT_ENV = "ESECURE_APP_ROOT"
CD_ROOT_ENV = "ESECURE_CD_ROOT"
DATA_DIR_ENV = "ESECURE_DATA_DIR"
APP_MODULE = "esecure.launcher.app"  # its main(argv, boot=Choice) runs the application

# --- platforms ------------------------------------------------------------------------------
PLATFORMS = ("linux", "windows", "macos")


def platform_name(sys_platform: str | None = None) -> str:
    """The platform directory name used under lib/ and firefox/."""
    name = sys_platform or sys.platform
    if name.startswith("win"):
        return "windows"
    if name == "darwin":
        return "macos"
    return "linux"


def executable_name(launcher_name: str, platform: str) -> str:
    """The bootstrap's file name on the CD-ROM: ``e-secure`` or ``e-secure.exe``."""
    return f"{launcher_name}.exe" if platform == "windows" else launcher_name


def contents_dir(platform: str) -> str:
    """The bootstrap's runtime directory (PyInstaller contents) of ``platform``."""
    return f"runtime-{platform}"


# --- the application root ---------------------------------------------------------------------
PRODUCT_FILE = "product.json"
MANIFEST_NAME = "MANIFEST.json"
SIGNATURE_NAME = "MANIFEST.json.sig"
IMAGE_KEY = "trust/image-signing.pub.pem"

# NSS, as the launcher loads it with ctypes from the Firefox it starts: the libraries in
# load order, and the one whose functions it calls. They run inside the launcher's own
# process, so the start check hashes them in full (see hashed_at_start).
_NSS: dict[str, tuple[tuple[str, ...], str]] = {
    # NSPR is folded into nss3.dll; mozglue must be loaded first.
    "windows": (("mozglue.dll", "nss3.dll", "freebl3.dll", "softokn3.dll"), "nss3.dll"),
    "macos": (
        ("libmozglue.dylib", "libnss3.dylib", "libfreebl3.dylib", "libsoftokn3.dylib"),
        "libnss3.dylib",
    ),
    "linux": (
        (
            "libnssutil3.so",
            "libnss3.so",
            "libmozsqlite3.so",
            "libfreeblpriv3.so",
            "libsoftokn3.so",
            "libsmime3.so",
        ),
        "libnss3.so",
    ),
}


BUNDLED_LIBS_DIR = "bundled-libs"
"""``firefox/linux/bundled-libs/``: the shared libraries the build copied beside a Linux
Firefox because a host cannot be assumed to have them (``esecure.bundle.elfdeps``); first
on ``LD_LIBRARY_PATH`` for Firefox's process alone (``esecure_onkey.browser``)."""

# What Debian's NSS needs by bare name and the build bundles (NSPR): the launcher loads
# them from BUNDLED_LIBS_DIR by absolute path before NSS, when they are there.
_NSS_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "linux": ("libnspr4.so", "libplc4.so", "libplds4.so"),
}


def nss_libraries(platform: str) -> tuple[tuple[str, ...], str]:
    """(libraries in load order, the library whose API is called) of ``platform``."""
    return _NSS[platform if platform in _NSS else "linux"]


def nss_dependencies(platform: str) -> tuple[str, ...]:
    """Paths, relative to the Firefox directory, of the bundled libraries NSS needs that the
    launcher loads first (when present) on ``platform``."""
    return tuple(f"{BUNDLED_LIBS_DIR}/{n}" for n in _NSS_DEPENDENCIES.get(platform, ()))


def launcher_loaded(platform: str) -> frozenset[str]:
    """Paths, relative to the Firefox directory, of Firefox's libraries the launcher loads
    into its own process: NSS, and the bundled libraries NSS needs."""
    return frozenset((*nss_libraries(platform)[0], *nss_dependencies(platform)))


def hashed_at_start(name: str, platform: str) -> bool:
    """Whether a start on ``platform`` hashes ``name`` (a path in an application root or
    on the CD-ROM) in full rather than checking its size: everything that runs or is
    trusted here (the bootstrap and its runtime, lib/, product.json, trust/, profile/,
    autorun, guide, branding) and, of Firefox, its distribution/ (policies, CA) and the
    NSS libraries the launcher loads with ctypes and the bundled libraries they need
    (NSPR, :func:`nss_dependencies`); not Firefox's other files (hundreds of
    megabytes over USB 2), nor what only another platform runs."""
    first, _, rest = name.partition("/")
    others = [p for p in PLATFORMS if p != platform]
    if first == "firefox":
        here, _, inside = rest.partition("/")
        loaded = inside in launcher_loaded(platform)
        return here == platform and (inside.startswith("distribution/") or loaded)
    if first == "lib" and rest.partition("/")[0] in others:
        return False
    return first not in {contents_dir(p) for p in others}


# --- the data area ----------------------------------------------------------------------------
IDENTITY_FILE = "identity.json"
POINTER_FILES = ("pointer-0", "pointer-1")
MAX_FAILED_STARTS = 2


def pointer_path(data_dir: Path, seq: int) -> Path:
    """The record a pointer with sequence number ``seq`` is written to (by parity), so the
    record in force is never the one being written."""
    return data_dir / POINTER_FILES[seq % 2]


def attempts_path(data_dir: Path, seq: int) -> Path:
    """The start counter of pointer ``seq`` (one byte per start not yet marked good)."""
    return data_dir / "boot" / str(seq)


def rollback_path(data_dir: Path) -> Path:
    """What the last automatic switch back did (read by the launcher)."""
    return data_dir / "boot" / "rollback.json"


# --- format 1: the component store ------------------------------------------------------------
#
#   store/<id>/            the files of component version <id>, written once, never modified
#   store/<id>.list        its file list (the bytes whose SHA-256 is <id>)
#   store/<id>.sig         the list's signature by the image-signing key
#   store/<id>.complete    its completion record: written last, after every file is synced
#   store/.staging/        the one component being written (emptied at each install)
#   releases/<rid>.json    a release record (the bytes whose SHA-256 is <rid>)
#   releases/<rid>.sig     its signature
#
# The CD-ROM carries its own release as release.json(.sig) and each of its components'
# lists as components/<id>/list and components/<id>/sig; its components are its
# directories (mount()).

CD_RELEASE = "release.json"
CD_RELEASE_SIG = "release.json.sig"
CD_COMPONENTS = "components"
CD_PRODUCT = "app/product.json"
CD = "cd"  # the CD-ROM's release, as pointer records name it


def store_dir(data_dir: Path) -> Path:
    """Where component versions live."""
    return data_dir / "store"


def component_dir(data_dir: Path, cid: str) -> Path:
    """The files of component version ``cid``."""
    return data_dir / "store" / cid


def component_file(data_dir: Path, cid: str, suffix: str) -> Path:
    """``store/<cid><suffix>``: ``.list``, ``.sig`` or ``.complete``."""
    return data_dir / "store" / f"{cid}{suffix}"


def staging_dir(data_dir: Path) -> Path:
    """Where one component is written before it is renamed into the store."""
    return data_dir / "store" / ".staging"


def release_file(data_dir: Path, rid: str, suffix: str) -> Path:
    """``releases/<rid><suffix>``: ``.json`` or ``.sig``."""
    return data_dir / "releases" / f"{rid}{suffix}"


def cd_component_file(cd: Path, cid: str, suffix: str) -> Path:
    """``components/<cid>/list`` or ``components/<cid>/sig`` on the CD-ROM (``suffix``
    ``.list`` or ``.sig``): a folder per id, as Joliet (Windows) names have at most 64
    characters and an id alone has 64."""
    return cd / CD_COMPONENTS / cid / suffix.lstrip(".")
