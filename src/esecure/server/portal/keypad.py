"""The virtual keypad, pure: a shuffled layout, and positions mapped back to digits.

A layout is a 4 x 4 grid of :data:`CELLS` positions holding the ten digits once each and
six blanks, shuffled with the operating system's CSPRNG at each display. The page sends
the *positions* the user pressed, never digits; only the server, which keeps the layout in
the session, can turn them back into a code. A click logger or a shoulder-surfing camera
recording the positions learns nothing it can replay: the next display has another layout.

A layout is single use: the server forgets it when a code is submitted, whatever the
outcome. Its random id travels in the form so that a page left open in another tab (an
older layout) is told apart from a forged request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

__all__ = [
    "CELLS",
    "CODE_LENGTH",
    "COLUMNS",
    "ForgedPositions",
    "Layout",
    "new_layout",
    "parse_positions",
]

CELLS = 16
COLUMNS = 4
CODE_LENGTH = 6
_BLANK = "-"


class ForgedPositions(ValueError):  # noqa: N818 - names what was refused
    """Positions a page we served cannot have sent (not numbers, out of range, blank)."""


@dataclass(frozen=True)
class Layout:
    """One display of the keypad: its id and the digit at each position (None: blank)."""

    id: str
    cells: tuple[int | None, ...]

    def encode(self) -> str:
        """``ID:3-1-...`` for the session row."""
        return self.id + ":" + "".join(_BLANK if d is None else str(d) for d in self.cells)

    @classmethod
    def decode(cls, text: str) -> Layout:
        """The layout :meth:`encode` wrote."""
        layout_id, _, cells = text.partition(":")
        if len(cells) != CELLS or not layout_id:
            raise ValueError("not an encoded keypad layout")
        return cls(layout_id, tuple(None if c == _BLANK else int(c) for c in cells))

    def rows(self) -> list[list[tuple[int, int | None]]]:
        """(position, digit) by row, as the page draws them."""
        return [
            [(p, self.cells[p]) for p in range(r, r + COLUMNS)] for r in range(0, CELLS, COLUMNS)
        ]

    def digits(self, positions: tuple[int, ...]) -> str:
        """The code the positions spell; :class:`ForgedPositions` for a blank or a position
        outside the grid (no page of ours has a key there)."""
        out = []
        for position in positions:
            if not 0 <= position < CELLS:
                raise ForgedPositions(f"position {position} is outside the keypad")
            digit = self.cells[position]
            if digit is None:
                raise ForgedPositions(f"position {position} is a blank cell")
            out.append(str(digit))
        return "".join(out)


def new_layout(rng: secrets.SystemRandom | None = None) -> Layout:
    """A fresh layout: the ten digits and six blanks in a CSPRNG-shuffled order."""
    rng = rng or secrets.SystemRandom()
    cells: list[int | None] = [*range(10), *([None] * (CELLS - 10))]
    rng.shuffle(cells)
    return Layout(secrets.token_urlsafe(12), tuple(cells))


def parse_positions(text: str, *, at_most: int = CODE_LENGTH) -> tuple[int, ...]:
    """``"3,12,0"`` -> (3, 12, 0). Empty text is no position; anything else that is not a
    comma-separated list of at most ``at_most`` small decimal numbers is forged."""
    text = text.strip()
    if not text:
        return ()
    parts = text.split(",")
    if len(parts) > at_most:
        raise ForgedPositions(f"{len(parts)} positions, a code has {at_most} digits")
    out = []
    for part in parts:
        if not (part.isascii() and part.isdigit() and len(part) <= 2):
            raise ForgedPositions("a position is not a number of the keypad")
        value = int(part)
        if value >= CELLS:
            raise ForgedPositions(f"position {value} is outside the keypad")
        out.append(value)
    return tuple(out)
