"""The image's licence folder: every licence text of what it ships, and the SBOM.

One folder, ``app/licenses/`` (:data:`FOLDER`), inside the ``app`` component: every
release is laid out by the same code (``esecure.bundle.build._lay_out``, for `esecure
build` and for `esecure publish`), so an update that changes Firefox or a dependency
brings the licence texts and SBOM that describe it (docs/image-contents.md). Its layout::

    app/licenses/sbom.cdx.json       the SBOM (esecure.bundle.sbom.cyclonedx)
    app/licenses/<part>/<file>       each part's texts (<part> is its bom-ref:
                                     firefox, cpython, e-secure, pypi-<name>, deb-<package>)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from esecure.bundle.sbom import SBOM_NAME, Part, cyclonedx, merge
from esecure.errors import ToolError

__all__ = ["FOLDER", "write_folder"]

FOLDER = "app/licenses"


def write_folder(root: Path, parts: Iterable[Part], *, product: str, version: str) -> list[Part]:
    """Write :data:`FOLDER` under ``root`` (an image's or a release's root) from the parts
    shipped: each one's texts, then the SBOM. A part without any text is ES929 naming it
    (nothing is written). Returns the merged parts."""
    merged = merge(parts)
    bare = [f"{p.name} {p.version}" for p in merged if not p.texts]
    if bare:
        raise ToolError(
            f"no licence text found for {', '.join(bare)}: the image would ship them without "
            "their licence. Install the package's documentation (Debian: its "
            "/usr/share/doc/<package>/copyright) or leave it out",
            code="ES929",
        )
    folder = root / FOLDER
    for part in merged:
        (folder / part.key).mkdir(parents=True, exist_ok=True)
        for text in part.texts:
            (folder / part.key / text.name).write_bytes(text.data)
    (folder / SBOM_NAME).write_bytes(cyclonedx(product, version, merged, FOLDER))
    return merged
