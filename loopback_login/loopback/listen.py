"""Listening sockets for a redirect URI: loopback addresses only, and the port
really ours (no SO_REUSEADDR stealing on Windows; both stacks for ``localhost``)."""

from __future__ import annotations

import errno
import socket
import sys

from loopback_login.loopback.config import RedirectTarget

__all__ = ["bind", "next_uri"]


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
