"""Signals as the tests' children should receive them."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigint_for_children() -> Iterator[None]:
    """Programs started inside get SIGINT at its default, as a terminal's foreground job
    has it: a job started in the background by a non-interactive shell (a CI runner's
    `make test &`) inherits SIGINT *ignored*, and would pass that on to a program the test
    means to interrupt. (A Python handler here becomes SIG_DFL in the child at exec.)"""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
