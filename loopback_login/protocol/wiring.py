"""How the client side reaches the world: one HTTP session with its timeout and its
network policy (proxy, trusted certificates), the clock and the timer, and where
messages for the person go.

Built once (by :class:`~loopback_login.session.orchestrator.LoginSession`, or by a
test) and handed down whole, so no step takes these one by one and no two steps can
disagree on them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import aiohttp

from loopback_login.clock import Clock, Sleep, system_clock, system_sleep
from loopback_login.protocol.network import NetworkSettings

__all__ = ["DEFAULT_HTTP_TIMEOUT", "Notify", "Wiring", "to_stderr"]

DEFAULT_HTTP_TIMEOUT = 30.0

# Says something to the person: the sign-in URL, a warning. Never a token.
Notify = Callable[[str], None]


def to_stderr(message: str) -> None:
    """By default a program's user sees the sign-in URL and what is awaited, as the
    CLI's does: a login that waits in silence looks hung."""
    print(message, file=sys.stderr, flush=True)


class Wiring:
    """The HTTP session (made on first use unless given, and then closed by
    :meth:`aclose`), its per-request timeout in seconds, the clock, the timer that
    the waits a person can outlast go through, and the notifier.

    The session it makes applies ``network`` (proxy and trust) to every request; a
    session given by the caller is used as it is.
    """

    def __init__(
        self,
        http: aiohttp.ClientSession | None = None,
        *,
        clock: Clock = system_clock,
        timeout: float = DEFAULT_HTTP_TIMEOUT,
        notify: Notify | None = None,
        network: NetworkSettings | None = None,
        sleep: Sleep = system_sleep,
    ) -> None:
        self._http = http
        self.network = network or NetworkSettings()
        self._own_http = http is None
        self.clock = clock
        self.sleep = sleep
        self.timeout = timeout
        self.notify: Notify = notify or to_stderr

    @property
    def http(self) -> aiohttp.ClientSession:
        # Made on first use: a session must be created inside the running loop.
        if self._http is None:
            self._http = self.network.client_session()
        return self._http

    def adopt(self, network: NetworkSettings) -> None:
        """Use ``network`` from now on (a profile's remembered proxy and CA file);
        only before the first request, which fixes the session."""
        if self._http is None:
            self.network = network

    def request_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.timeout)

    async def aclose(self) -> None:
        """Close the HTTP session if this wiring made it."""
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
