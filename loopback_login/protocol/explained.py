"""The error the network policy raises from inside an aiohttp request."""

from __future__ import annotations

import aiohttp

from loopback_login.errors import NetworkError

__all__ = ["Explained"]


class Explained(NetworkError, aiohttp.ClientError):
    """A :class:`NetworkError` that aiohttp lets through as it is (a ClientError is
    not wrapped again); callers re-raise :class:`NetworkError` before their own
    catch-all for ClientError."""
