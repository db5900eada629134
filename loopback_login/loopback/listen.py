"""Listening sockets for a redirect URI: loopback addresses only, and the port
really ours (no SO_REUSEADDR stealing on Windows; both stacks for ``localhost``)."""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Sequence

from loopback_login.debuglog import debug
from loopback_login.errors import LoopbackBindError
from loopback_login.loopback.config import RedirectTarget

__all__ = ["bind", "bind_first_free", "next_uri"]


def next_uri(uri: str) -> str:
    target = RedirectTarget.parse(uri)
    return target.with_port(target.port + 1)


def bind(target: RedirectTarget) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    port = target.port
    try:
        for host in target.bind_hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if sys.platform == "win32":
                    # Windows' SO_REUSEADDR lets others steal a bound port.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
                else:
                    # Only skips TIME_WAIT from a previous login; an active
                    # listener still makes bind fail.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((host, port))
            except OSError as exc:
                sock.close()
                no_ipv6 = exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)
                if family == socket.AF_INET6 and target.host == "localhost" and no_ipv6:
                    continue  # no IPv6 on this machine: 127.0.0.1 alone serves localhost
                raise
            port = sock.getsockname()[1]
            sock.listen(16)
            sock.setblocking(False)
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_first_free(
    targets: Sequence[RedirectTarget],
) -> tuple[RedirectTarget, list[socket.socket]]:
    """Bind the first redirect URI whose port is free, in the order given; the
    sockets listen on return, so a browser sent there is queued, never refused."""
    busy: list[str] = []
    for target in targets:
        try:
            return target, bind(target)
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise LoopbackBindError(
                    f"cannot listen for {target.uri}: {exc}"
                ) from exc
            debug(
                __name__, "port %s is busy, trying the next redirect URI", target.port
            )
            busy.append(target.uri)
    ports = ", ".join(str(RedirectTarget.parse(u).port) for u in busy)
    raise LoopbackBindError(
        f"port {ports} is in use, so no redirect URI could be served: {', '.join(busy)}",
        hint="close the program using it, or register another redirect URI such as "
        f"{next_uri(busy[-1])} in the app and add it with --redirect-uri",
    )
