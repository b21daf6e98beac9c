"""The key's serial number, read from the data area's ``identity.json`` (ES209 otherwise).

Light on purpose (no cryptography): every start reads it, most never enrol.
"""

from __future__ import annotations

from pathlib import Path

from esecure.errors import EnrolmentError
from esecure_onkey.layout import IDENTITY_FILE
from esecure_onkey.product import read_identity

__all__ = ["read_serial"]


def read_serial(data_area: Path) -> str:
    """The key's serial number from ``identity.json`` (the on-key reader); ES209 otherwise."""
    path = Path(data_area) / IDENTITY_FILE
    try:
        identity = read_identity(Path(data_area))
    except OSError as exc:
        raise EnrolmentError(f"{path} is unreadable ({exc})", code="ES209") from None
    if identity is None:
        why = "is missing" if not path.exists() else "has no usable 'serial'"
        raise EnrolmentError(f"{path} {why}", code="ES209")
    return identity.serial
