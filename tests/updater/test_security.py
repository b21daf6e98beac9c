"""The update client's pure decisions: which names may become file names, and which code a
download that goes past its allowed length gets."""

from __future__ import annotations

import pytest
from tuf.api import exceptions

from esecure.errors import UpdateSecurityError
from esecure.updater._security import classify, safe_name

TOO_LONG = "x" * 256
LONGEST = "x" * 255


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        (".", "names a directory"),
        ("..", "names a directory"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("nul\x00.tar.gz", "control character"),
        ("demo-bank-\t1.5.0.tar.gz", "control character"),
        ("del\x7f", "control character"),
        ("what?.json", "FAT does not allow"),
        ("a:b", "FAT does not allow"),
        ('a"b', "FAT does not allow"),
        ("ends-with-a-dot.", "ends with a dot or a space"),
        ("ends-with-a-space ", "ends with a dot or a space"),
        ("CON", "Windows device name"),
        ("nul.json", "Windows device name"),
        (TOO_LONG, "256 bytes long"),
        ("é" * 128, "256 bytes long"),
        ("\ud800.json", "not valid Unicode"),
    ],
)
def test_a_name_a_key_cannot_hold_is_es511(name, why):
    """Each kind of unsafe name is refused with ES511, saying why."""
    with pytest.raises(UpdateSecurityError) as err:
        safe_name(name, "release file")
    assert err.value.code == "ES511"
    assert why in err.value.detail


@pytest.mark.parametrize(
    "name", ["demo-bank-1.2.0.tar.gz", "targets.json", "#", "...json", "é" * 127, LONGEST]
)
def test_a_name_a_key_can_hold_passes(name):
    """Release and role names that are plain file names are returned unchanged."""
    assert safe_name(name, "release file") == name


def _too_long() -> exceptions.DownloadLengthMismatchError:
    return exceptions.DownloadLengthMismatchError(
        "Downloaded 1245184 bytes exceeding the maximum allowed length of 1200000"
    )


def test_download_longer_than_its_announced_signed_length_is_es506():
    """The server announced a length above the signed one: a length mismatch (ES506)."""
    err = classify(_too_long(), phase="download", declared_length=21_200_000)
    assert err.code == "ES506"
    assert "announced 21200000 bytes" in err.detail


def test_download_without_an_announced_length_cut_at_the_signed_one_is_es507():
    """No Content-Length and more than signed: an endless stream (ES507)."""
    assert classify(_too_long(), phase="download", declared_length=None).code == "ES507"


def test_metadata_over_its_role_maximum_is_es507():
    """Metadata has no signed length here, only a role maximum: always ES507."""
    assert classify(_too_long(), phase="check", declared_length=5_000_000).code == "ES507"
