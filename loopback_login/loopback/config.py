"""The loopback listener's settings: which redirect URIs to serve, and for how long.

Pure data and validation; nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from loopback_login.errors import ConfigError
from loopback_login.protocol.urls import check_url

__all__ = ["LoopbackConfig", "RedirectTarget"]


@dataclass(frozen=True)
class RedirectTarget:
    """One redirect URI, split into what the listener binds and what is sent."""

    uri: str
    host: str
    port: int
    path: str

    @property
    def bind_hosts(self) -> tuple[str, ...]:
        # Browsers may resolve ``localhost`` to ::1 first; holding both addresses
        # also means nothing else can answer on the other one (RFC 8252 §8.3).
        if self.host == "localhost":
            return ("127.0.0.1", "::1")
        return (self.host,)

    def with_port(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}{self.path}"

    @classmethod
    def parse(cls, uri: str) -> RedirectTarget:
        """Accept only ``http`` loopback redirect URIs (RFC 8252 §7.3).

        A port of 0 or none means "any free port", which only servers that follow
        RFC 8252's any-port rule accept; RingCentral wants the exact registered one.
        """
        hint = "use http://127.0.0.1:PORT/PATH or http://localhost:PORT/PATH"
        # The listener's route is built from the path: the URL policy keeps out
        # what aiohttp would read as a pattern ("{x}") or another parser differently.
        checked = check_url(
            uri, "--redirect-uri", schemes=("http",), query=False, any_port=True,
            hint=hint,
        )  # fmt: skip
        parts = urlsplit(uri)
        host = checked.host
        if not checked.is_loopback:
            raise ConfigError(
                f"--redirect-uri {uri!r} is not a loopback http URI", hint=hint
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ConfigError(f"--redirect-uri {uri!r} must be a plain URL with a path")
        try:
            port = parts.port or 0
        except ValueError as exc:
            raise ConfigError(f"--redirect-uri {uri!r} has a bad port") from exc
        if port == 0 and host == "localhost":
            raise ConfigError(
                f"--redirect-uri {uri!r} needs a port",
                hint="servers match localhost URIs exactly, port included",
            )
        path = parts.path or "/"
        return cls(uri=uri, host=host, port=port, path=path)


def _is_loopback_literal(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class LoopbackConfig:
    """The local listener. No redirect URI given → ``http://127.0.0.1:<free>/callback``."""

    redirect_uris: tuple[str, ...] = ()
    timeout: float = 300.0
    # How long the page in the browser waits for the code exchange to finish, so it
    # can say who signed in (or why it failed) instead of a blind "done".
    page_timeout: float = 30.0
    # Seconds without a callback before the URL is shown again with what to check.
    reminder_after: float = 30.0
    # The command that starts this sign-in again, shown on the browser's error page.
    retry_command: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "redirect_uris", tuple(self.redirect_uris))
        if self.timeout <= 0:
            raise ConfigError(f"--timeout {self.timeout:g} must be positive")
        for target in self.targets:
            if not _is_loopback_literal(target.host) and target.host != "localhost":
                raise ConfigError(f"{target.uri} does not point at this machine")

    @property
    def targets(self) -> tuple[RedirectTarget, ...]:
        uris = self.redirect_uris or ("http://127.0.0.1/callback",)
        return tuple(RedirectTarget.parse(uri) for uri in uris)
