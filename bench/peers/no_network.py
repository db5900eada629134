"""Imported first by a peer for the check run: any attempt at the network raises."""

from __future__ import annotations

import sys


def _deny(event: str, args: tuple[object, ...]) -> None:
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        raise OSError(f"bench: network use refused ({event} {args[1:]!r})")


sys.addaudithook(_deny)
