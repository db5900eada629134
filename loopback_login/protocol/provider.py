"""The provider and the client registered with it: what a login needs to know
about the authorization server. Pure data and validation; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from loopback_login.errors import ConfigError
from loopback_login.protocol.urls import check_url, resolve_server

__all__ = [
    "AUTHORIZE_PARAMS",
    "CLIENT_AUTH_METHODS",
    "TOKEN_PARAMS",
    "AuthorizeMethod",
    "ClientAuth",
    "ProviderConfig",
]

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
        if self.jwks_uri is not None:
            check_url(
                self.jwks_uri,
                "--jwks-uri",
                hint="give the https URL of the provider's JWKS",
            )
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
