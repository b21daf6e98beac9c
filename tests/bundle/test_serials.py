"""Serial numbers: format, randomness, and the check character proven on a sample."""

from __future__ import annotations

from esecure.bundle.serials import ALPHABET, LENGTH, check_character, is_valid, new_serial

SAMPLE = [new_serial() for _ in range(300)]


def test_new_serials_are_valid_upper_case():
    """Fresh serials are 14 upper-case alphanumerics and pass is_valid."""
    for serial in SAMPLE:
        assert len(serial) == LENGTH
        assert set(serial) <= set(ALPHABET)
        assert is_valid(serial)


def test_every_single_character_change_is_caught():
    """Exhaustively over the sample: any one character replaced by any other is invalid."""
    for serial in SAMPLE:
        for i, original in enumerate(serial):
            for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ":
                if c != original:
                    assert not is_valid(serial[:i] + c + serial[i + 1 :]), (serial, i, c)


def test_every_neighbour_swap_is_caught():
    """Exhaustively over the sample: swapping any two different neighbours is invalid."""
    for serial in SAMPLE:
        for i in range(LENGTH - 1):
            if serial[i] != serial[i + 1]:
                swapped = serial[:i] + serial[i + 1] + serial[i] + serial[i + 2 :]
                assert not is_valid(swapped), (serial, i)


def test_every_check_character_occurs():
    """The check character spans the whole alphabet (no wasted or biased value)."""
    seen = {check_character(s[:-1]) for s in (new_serial() for _ in range(3000))}
    assert seen == set(ALPHABET)


def test_malformed_serials_are_invalid():
    """Lower case, wrong length and foreign characters are refused, never raised on."""
    good = SAMPLE[0]
    assert not is_valid(good.lower()) or good.lower() == good
    assert not is_valid(good[:-1])
    assert not is_valid(good + "0")
    assert not is_valid("")
    assert not is_valid(good[:-1] + "*")
