"""RingCentral's Auth group rate limit: N requests a minute, then a 60 s penalty
that each further request restarts."""

from __future__ import annotations

import math
from collections import deque

from loopback_login.clock import Clock

__all__ = ["RateLimiter"]

WINDOW = 60.0
PENALTY = 60.0


class RateLimiter:
    """Counts requests per key (a client id) over a sliding minute."""

    def __init__(self, limit: int | None, clock: Clock) -> None:
        self.limit = limit
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._penalty_until: dict[str, float] = {}

    def check(self, key: str) -> int | None:
        """Count one request; return seconds to wait if it is over the limit."""
        if self.limit is None:
            return None
        now = self._clock()
        if self._penalty_until.get(key, 0.0) > now:
            # Retrying during the penalty only prolongs it, as RingCentral warns.
            self._penalty_until[key] = now + PENALTY
            return math.ceil(PENALTY)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - WINDOW:
            hits.popleft()
        if len(hits) >= self.limit:
            hits.clear()
            self._penalty_until[key] = now + PENALTY
            return math.ceil(PENALTY)
        hits.append(now)
        return None
