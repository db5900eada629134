"""The time seams: every expiry decision takes ``now`` from a ``Clock``, and every
wait that a person can outlast (the sign-in's timeout, the reminder) goes through a
``Sleep``, so tests move time by hand instead of waiting for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Clock", "FrozenClock", "Sleep", "system_clock", "system_sleep"]

Clock = Callable[[], float]
"""Seconds since the epoch, like :func:`time.time`."""

Sleep = Callable[[float], Awaitable[None]]
"""Waits that many seconds, like :func:`asyncio.sleep`."""

system_clock: Clock = time.time
system_sleep: Sleep = asyncio.sleep


class FrozenClock:
    """A clock that moves only through :meth:`advance`, and a :meth:`sleep` that
    ends when :meth:`advance` reaches its deadline: one time line for both seams."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._changed: asyncio.Event | None = None

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time on, waking the sleepers whose deadline it passes."""
        self.now += seconds
        waiting = []
        for deadline, future in self._sleepers:
            if future.done():
                continue
            if deadline <= self.now:
                future.set_result(None)
            else:
                waiting.append((deadline, future))
        self._sleepers = waiting

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            future.set_result(None)
        else:
            self._sleepers.append((self.now + seconds, future))
        if self._changed is not None:
            self._changed.set()
        await future

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting for time to move on."""
        return sum(not future.done() for _, future in self._sleepers)

    async def until_sleepers(self, count: int = 1) -> None:
        """Return once ``count`` sleeps are waiting (the code under test is idle)."""
        while self.sleepers < count:
            self._changed = asyncio.Event()
            await self._changed.wait()
