"""The one clock seam: every expiry decision takes ``now`` from a ``Clock``."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "FrozenClock", "system_clock"]

Clock = Callable[[], float]
"""Seconds since the epoch, like :func:`time.time`."""

system_clock: Clock = time.time


class FrozenClock:
    """A clock that moves only through :meth:`advance`."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
