"""`esecure demo`: the whole life of a key on loopback, and the harness the end-to-end test
and the benchmarks share with it (one copy).

``images``  the demo project built into a key image, `esecure serve` started on 127.0.0.1,
            releases published (:class:`~esecure.demo.images.Served`)
``key``     a personalised key for that image ("inserted": the CD-ROM's files read-only, the
            data partition's files as the data area) and its frozen launcher started
``bidi``    a small WebDriver BiDi client driving the launcher's Firefox with real input
``journey`` the portal's first-connection journey, page by page, photographed
``run``     the demo itself: each step timed, checked on both sides, summarised
"""

from __future__ import annotations

from esecure.errors import OperationError

__all__ = ["DemoError", "check"]


class DemoError(OperationError):
    """A demo step's outcome was not the expected one (ES970)."""

    default_code = "ES970"


def check(condition: object, what: str) -> None:
    """Raise :class:`DemoError` with ``what`` unless ``condition`` holds (an assertion
    that survives ``python -O`` and reads as a demo step's failure)."""
    if not condition:
        raise DemoError(what)
