"""What the emulator knows before it starts: its clients, its users and its limits.

Everything here is a frozen dataclass validated on construction, so a bad option
fails at start-up with a :class:`~loopback_login.errors.ConfigError` rather than as
a confusing answer in the middle of a login.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from loopback_login.emulator.signing import ID_TOKEN_ALGS
from loopback_login.errors import ConfigError

__all__ = [
    "AUTH_METHODS",
    "DEMO_CLIENT_ID",
    "DEMO_CONFIDENTIAL_CLIENT_ID",
    "DEMO_CONFIDENTIAL_SECRET",
    "EmulatorClient",
    "EmulatorConfig",
    "EmulatorUser",
]

AUTH_METHODS = ("none", "client_secret_basic", "client_secret_jwt", "private_key_jwt")
DEMO_CLIENT_ID = "loopback-login-demo"
DEMO_CONFIDENTIAL_CLIENT_ID = "loopback-login-demo-confidential"
DEMO_CONFIDENTIAL_SECRET = "demo-secret"
DEMO_REDIRECT_URIS = (
    "http://127.0.0.1/callback",
    "http://[::1]/callback",
    "http://localhost:8400/callback",
    "http://localhost:8401/callback",
)


def _check_redirect_uri(uri: str, where: str) -> None:
    try:
        parts = urlsplit(uri)
    except ValueError:  # "http://[::1": an unclosed IPv6 host
        raise ConfigError(f"{where}: redirect URI {uri!r} is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{where}: redirect URI {uri!r} is not an absolute http(s) URL"
        )
    if parts.fragment or "#" in uri:
        # RFC 6749 §3.1.2: the redirection endpoint MUST NOT include a fragment.
        raise ConfigError(f"{where}: redirect URI {uri!r} must not have a fragment")


def _check_jwks(jwks: dict[str, Any], where: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{where}: jwks is not a usable JWK set ({exc})") from exc


def check_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ConfigError(f"{what} {value!r} is listed twice")
        seen.add(value)


@dataclass(frozen=True, kw_only=True)
class EmulatorClient:
    """An application registered with the emulator.

    ``auth_method`` is how it authenticates at the token and revoke endpoints:
    ``none`` (a public client: ``client_id`` in the body), ``client_secret_basic``
    (RFC 6749 §2.3.1), or ``client_secret_jwt`` / ``private_key_jwt`` (RFC 7523
    assertions; ``jwks`` holds the public keys for the latter). ``id_token_alg``
    is RS256 (the JWKS) or HS256 (the client secret, or the emulator's own secret
    for a client without one, as RingCentral may do).
    """

    client_id: str
    client_secret: str | None = None
    redirect_uris: tuple[str, ...]
    auth_method: str = "none"
    jwks: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    issue_refresh_tokens: bool = True
    id_token_alg: str = "RS256"
    scope: str = "ReadAccounts"
    name: str = ""

    def __post_init__(self) -> None:
        where = f"client {self.client_id!r}"
        if not self.client_id:
            raise ConfigError("a client has an empty client_id")
        if self.auth_method not in AUTH_METHODS:
            raise ConfigError(
                f"{where}: auth_method {self.auth_method!r} is not one of "
                + ", ".join(AUTH_METHODS)
            )
        needs_secret = self.auth_method in ("client_secret_basic", "client_secret_jwt")
        if needs_secret and not self.client_secret:
            raise ConfigError(f"{where}: {self.auth_method} needs a client_secret")
        if self.auth_method == "private_key_jwt":
            if self.jwks is None:
                raise ConfigError(f"{where}: private_key_jwt needs a public jwks")
            _check_jwks(self.jwks, where)
        if self.id_token_alg not in ID_TOKEN_ALGS:
            raise ConfigError(
                f"{where}: id_token_alg {self.id_token_alg!r} is not one of "
                + ", ".join(ID_TOKEN_ALGS)
            )
        for uri in self.redirect_uris:
            _check_redirect_uri(uri, where)
        if not self.scope.split():
            raise ConfigError(f"{where}: scope must name at least one permission")

    @property
    def display_name(self) -> str:
        """The name people see on the consent page."""
        return self.name or self.client_id


@dataclass(frozen=True, kw_only=True)
class EmulatorUser:
    """A person who can sign in; ``owner_id`` is the RingCentral extension id."""

    username: str
    password: str
    owner_id: str
    account_id: str
    given_name: str
    family_name: str
    email: str

    def __post_init__(self) -> None:
        if not self.username or not self.password:
            raise ConfigError("a user needs a username and a password")

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()


DEMO_CLIENT = EmulatorClient(
    client_id=DEMO_CLIENT_ID,
    redirect_uris=DEMO_REDIRECT_URIS,
    name="Loopback Login demo",
)
DEMO_CONFIDENTIAL_CLIENT = EmulatorClient(
    client_id=DEMO_CONFIDENTIAL_CLIENT_ID,
    client_secret=DEMO_CONFIDENTIAL_SECRET,
    redirect_uris=DEMO_REDIRECT_URIS,
    auth_method="client_secret_basic",
    name="Loopback Login demo (confidential)",
)
DEMO_USER = EmulatorUser(
    username="demo@example.com",
    password="demo",
    owner_id="101",
    account_id="100",
    given_name="Dana",
    family_name="Demo",
    email="demo@example.com",
)


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """How the emulator behaves. Lifetimes are in seconds.

    ``issuer`` None means "the scheme and host each request arrived on", since a
    test learns its port only after binding. ``rate_limit`` caps requests per
    minute per client on authorize, token and revoke (RingCentral allows 5).
    ``send_iss`` adds RFC 9207's ``iss`` to the authorization response, which
    RingCentral does not document. ``session_ttl`` is an organisation's absolute
    session timeout: no token of a session outlives its login by more, and every
    ``TokenInfo`` carries ``session_expires_in`` and ``session_expiration_time``.
    """

    clients: tuple[EmulatorClient, ...] = (DEMO_CLIENT, DEMO_CONFIDENTIAL_CLIENT)
    users: tuple[EmulatorUser, ...] = (DEMO_USER,)
    issuer: str | None = None
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 604800
    code_ttl: int = 60
    auto_approve: bool = False
    rate_limit: int | None = None
    send_iss: bool = False
    session_ttl: int | None = None
    max_pending_authorizations: int = 1000
    """Sign-in pages waiting for a form post, and codes not yet redeemed: past
    this many, the oldest is dropped, so a flood of authorize requests cannot
    grow the emulator's memory without bound."""

    def __post_init__(self) -> None:
        if not self.clients:
            raise ConfigError("the emulator needs at least one client")
        if not self.users:
            raise ConfigError("the emulator needs at least one user")
        check_unique([c.client_id for c in self.clients], "client_id")
        check_unique([u.username for u in self.users], "username")
        for name in ("access_token_ttl", "refresh_token_ttl", "code_ttl"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds")
        if self.session_ttl is not None and self.session_ttl <= 0:
            raise ConfigError("session_ttl must be a positive number of seconds")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ConfigError("rate_limit must be at least 1 request per minute")
        if self.max_pending_authorizations < 1:
            raise ConfigError("max_pending_authorizations must be at least 1")
        if self.issuer is not None:
            parts = urlsplit(self.issuer)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"issuer {self.issuer!r} is not an http(s) URL")
            if parts.query or parts.fragment or self.issuer.endswith("/"):
                raise ConfigError(
                    f"issuer {self.issuer!r} must have no query, fragment or "
                    "trailing slash"
                )

    def client(self, client_id: str) -> EmulatorClient | None:
        """The registered client with this id, if any."""
        return next((c for c in self.clients if c.client_id == client_id), None)

    def user(self, username: str) -> EmulatorUser | None:
        """The user with this username (compared without case), if any."""
        wanted = username.strip().casefold()
        return next((u for u in self.users if u.username.casefold() == wanted), None)
