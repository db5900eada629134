"""When a cached access token is too close to its end to hand out.

Kept free of imports: the cached ``token`` path runs this on every call.
"""

from __future__ import annotations

__all__ = ["MAX_MARGIN", "default_margin", "needs_refresh"]

MAX_MARGIN = 300.0
"""Never refresh more than five minutes early."""


def default_margin(lifetime: float) -> float:
    """A tenth of the token's lifetime, at most :data:`MAX_MARGIN`.

    A fixed margin would make a 10-minute token refresh on every call (RingCentral
    lets apps ask for access tokens as short as 600 s) and a 1-hour token refresh late;
    scaling keeps one refresh per lifetime either way.
    """
    return min(MAX_MARGIN, max(0.0, lifetime) / 10.0)


def needs_refresh(
    expires_at: float, issued_at: float, now: float, min_valid: float | None = None
) -> bool:
    """True when fewer than ``min_valid`` seconds (default: the margin) remain."""
    margin = default_margin(expires_at - issued_at) if min_valid is None else min_valid
    return expires_at - now <= margin
