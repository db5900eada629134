"""What a login needs to know: the provider, the client and the loopback listener.

Pure data and validation; nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from .errors import ConfigError

__all__ = [
    "AUTHORIZE_PARAMS",
    "CLIENT_AUTH_METHODS",
    "SERVER_ALIASES",
    "TOKEN_PARAMS",
    "LoopbackConfig",
    "ProviderConfig",
    "RedirectTarget",
    "resolve_server",
]

SERVER_ALIASES: Mapping[str, str] = {
    "production": "https://platform.ringcentral.com",
    "prod": "https://platform.ringcentral.com",
    "partner": "https://platform.ringcentral.biz",
    "biz": "https://platform.ringcentral.biz",
}

# The optional authorize parameters of RingCentral's authorize/authorize2 methods that
# a user may set; the protocol ones (state, nonce, PKCE, redirect_uri) are ours.
AUTHORIZE_PARAMS = (
    "display",
    "prompt",
    "ui_locales",
    "locale_id",
    "ui_options",
    "login_hint",
    "brand_id",
)
# RingCentral's optional token-request fields.
TOKEN_PARAMS = ("endpoint_id", "access_token_ttl", "refresh_token_ttl")

CLIENT_AUTH_METHODS = (
    "none",
    "client_secret_basic",
    "client_secret_jwt",
    "private_key_jwt",
)
ClientAuth = Literal[
    "none", "client_secret_basic", "client_secret_jwt", "private_key_jwt"
]
AuthorizeMethod = Literal["get", "post"]

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


def resolve_server(server: str) -> str:
    """Turn ``production``/``partner`` or a URL into a base URL without a trailing slash.

    Only ``https`` is accepted, except on loopback (the emulator): tokens and client
    secrets must never cross a network in the clear.
    """
    url = SERVER_ALIASES.get(server.strip().lower(), server.strip()).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--server {server!r} is not a URL",
            hint="give a base URL such as https://platform.ringcentral.com, "
            "or one of: " + ", ".join(sorted(SERVER_ALIASES)),
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_NAMES:
        raise ConfigError(
            f"--server {url} uses plain http off this machine",
            hint="use https; plain http is only allowed for a local emulator",
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"--server {url} must not carry a query or fragment")
    return url


@dataclass(frozen=True)
class ProviderConfig:
    """The authorization server and the client registered with it.

    ``client_secret`` is never written to disk nor shown in a repr.
    """

    server: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    client_auth: ClientAuth | None = None
    private_key_path: str | None = None
    key_id: str | None = None
    scope: str | None = None
    issuer: str | None = None
    jwks_uri: str | None = None
    method: AuthorizeMethod = "get"
    pkce_method: Literal["S256", "plain"] = "S256"
    authorize_params: Mapping[str, str] = field(default_factory=dict)
    token_params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "server", resolve_server(self.server))
        if not self.client_id or not self.client_id.strip():
            raise ConfigError(
                "no client id given",
                hint="pass --client-id with the app's Client ID from the developer console",
            )
        if self.method not in ("get", "post"):
            raise ConfigError(f"--method {self.method!r}: use get or post")
        if self.pkce_method not in ("S256", "plain"):
            raise ConfigError(f"--pkce {self.pkce_method!r}: use S256 or plain")
        if self.client_auth is not None and self.client_auth not in CLIENT_AUTH_METHODS:
            raise ConfigError(
                f"--client-auth {self.client_auth!r} is unknown",
                hint="use one of: " + ", ".join(CLIENT_AUTH_METHODS),
            )
        for name in self.authorize_params:
            if name not in AUTHORIZE_PARAMS:
                raise ConfigError(f"unknown authorize parameter {name!r}")
        for name in self.token_params:
            if name not in TOKEN_PARAMS:
                raise ConfigError(f"unknown token parameter {name!r}")
        object.__setattr__(self, "authorize_params", dict(self.authorize_params))
        object.__setattr__(self, "token_params", dict(self.token_params))

    @property
    def auth_method(self) -> ClientAuth:
        """The client authentication in force: given, or inferred from what we hold."""
        if self.client_auth is not None:
            return self.client_auth
        if self.private_key_path:
            return "private_key_jwt"
        if self.client_secret:
            return "client_secret_basic"
        return "none"

    @property
    def expected_issuer(self) -> str:
        """RingCentral's issuer is its base URL; ``--issuer`` overrides it."""
        return (self.issuer or self.server).rstrip("/")

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.server}/restapi/oauth/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.server}/restapi/oauth/token"

    @property
    def revocation_endpoint(self) -> str:
        return f"{self.server}/restapi/oauth/revoke"

    @property
    def discovery_url(self) -> str:
        return f"{self.server}/.well-known/openid-configuration"

    def with_secret(self, secret: str | None) -> ProviderConfig:
        return replace(self, client_secret=secret)

    def to_profile(self) -> dict[str, Any]:
        """What a profile remembers: everything but the secret."""
        return {
            "server": self.server,
            "client_id": self.client_id,
            "client_auth": self.auth_method,
            "private_key_path": self.private_key_path,
            "key_id": self.key_id,
            "scope": self.scope,
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "method": self.method,
            "pkce_method": self.pkce_method,
            "authorize_params": dict(self.authorize_params),
            "token_params": dict(self.token_params),
        }

    @classmethod
    def from_profile(
        cls, data: Mapping[str, Any], *, client_secret: str | None = None
    ) -> ProviderConfig:
        """Rebuild from :meth:`to_profile`; the secret comes from the caller."""
        try:
            return cls(
                server=data["server"],
                client_id=data["client_id"],
                client_secret=client_secret,
                client_auth=data.get("client_auth"),
                private_key_path=data.get("private_key_path"),
                key_id=data.get("key_id"),
                scope=data.get("scope"),
                issuer=data.get("issuer"),
                jwks_uri=data.get("jwks_uri"),
                method=data.get("method", "get"),
                pkce_method=data.get("pkce_method", "S256"),
                authorize_params=data.get("authorize_params") or {},
                token_params=data.get("token_params") or {},
            )
        except (KeyError, TypeError) as exc:
            raise ConfigError(
                f"the profile's settings are incomplete ({exc})",
                hint="log in again with all options: loopback-login login --profile …",
            ) from exc


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
        parts = urlsplit(uri)
        host = parts.hostname or ""
        if parts.scheme != "http" or host not in LOOPBACK_NAMES:
            raise ConfigError(
                f"--redirect-uri {uri!r} is not a loopback http URI",
                hint="use http://127.0.0.1:PORT/PATH or http://localhost:PORT/PATH",
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
