"""Autorun files: Windows `autorun.inf` and the freedesktop autorun prompt.

Both writers are pure functions returning the exact bytes that go onto the CD-ROM.
"""

from esecure.autorun.writers import AutorunSpec, autorun_inf, freedesktop_autorun

__all__ = ["AutorunSpec", "autorun_inf", "freedesktop_autorun"]
