"""Every error loopback_login raises, in one tree.

::

    LoopbackLoginError
    ├── ConfigError(ValueError)             bad option, profile name, URL or key file
    │   └── UsageError                      a command line that cannot work (exit code 2)
    ├── DiscoveryError                      metadata or JWKS unavailable, issuer mismatch
    ├── LoopbackBindError(OSError)          no redirect URI's port could be bound
    ├── AuthorizationError                  error=… on the redirect (RFC 6749 §4.1.2.1)
    │   ├── StateMismatchError              the callback's state is not ours
    │   ├── IssuerMismatchError             the callback's iss is not ours (RFC 9207)
    │   └── AuthorizationTimeoutError(TimeoutError)
    ├── NetworkError(OSError)               connection refused, timeout, torn response
    ├── TokenEndpointError                  an error body from token or revoke (RFC 6749 §5.2)
    │   ├── InvalidGrantError               refresh token or code dead: log in again
    │   └── RateLimitError                  HTTP 429; .retry_after in seconds
    ├── IDTokenError                        signature, iss, aud, exp, iat
    │   └── NonceMismatchError
    ├── TokenStoreError(OSError)            the cache cannot be read or written
    │   ├── CorruptEntryError               an entry that is not ours to read
    │   └── KeyringError                    the OS keyring is missing, locked or silent
    └── NotLoggedInError                    nothing usable cached for the profile
        └── SessionExpiredError             the server ended the session; log in again

Every message says what failed and what to do next; none ever contains a token, a code,
a verifier, a secret or an assertion.
"""

from __future__ import annotations

__all__ = [
    "QUOTE_LIMIT",
    "AuthorizationError",
    "AuthorizationTimeoutError",
    "ConfigError",
    "CorruptEntryError",
    "DiscoveryError",
    "IDTokenError",
    "InvalidGrantError",
    "IssuerMismatchError",
    "KeyringError",
    "LoopbackBindError",
    "LoopbackLoginError",
    "NetworkError",
    "NonceMismatchError",
    "NotLoggedInError",
    "RateLimitError",
    "SessionExpiredError",
    "StateMismatchError",
    "TokenEndpointError",
    "TokenStoreError",
    "UsageError",
]


QUOTE_LIMIT = 200
"""The most characters of outside text (a server's, a file's) any message quotes."""


def printable(value: object, limit: int = QUOTE_LIMIT) -> str:
    """Outside text made safe for one terminal line: the one helper every output uses.

    Control characters (newlines, CR, ESC sequences that could rewrite the terminal
    or its title) become spaces, and the text is cut at ``limit`` characters. Only
    the first ``4 * limit`` characters are looked at, so a huge value costs nothing.
    """
    if isinstance(value, str) and len(value) > 4 * limit:
        value = value[: 4 * limit]
    text = "".join(c if c.isprintable() else " " for c in str(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def login_hint(profile: str, *, client_id_known: bool = True) -> str:
    """The next step when only a new login helps.

    Without a client id from the profile, the environment or the settings file, the
    command needs one: CLIENT_ID stands for it.
    """
    if client_id_known:
        return f"run: loopback-login login --profile {profile}"
    return (
        f"run: loopback-login login --profile {profile} --client-id CLIENT_ID, "
        "with your app's Client ID (or try `loopback-login demo` without one)"
    )


class LoopbackLoginError(Exception):
    """Base class. ``hint`` says what the person should do next, when we know."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(LoopbackLoginError, ValueError):
    """An option, profile name, URL or key file is unusable."""


class UsageError(ConfigError):
    """An option is missing or its value cannot work: exit code 2, as click's own."""

    exit_code = 2


class DiscoveryError(LoopbackLoginError):
    """The provider's metadata or keys could not be fetched or do not match."""


class LoopbackBindError(LoopbackLoginError, OSError):
    """None of the redirect URIs' ports could be bound on loopback."""


class AuthorizationError(LoopbackLoginError):
    """The authorization server sent the browser back with ``error=…``.

    RFC 6749 §4.1.2.1 fields are kept as attributes.
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        error_uri: str | None = None,
        *,
        message: str | None = None,
        hint: str | None = None,
    ) -> None:
        # Every field may come from a server or a redirect: keep them printable.
        error = printable(error, 64)
        error_description = (
            None if error_description is None else printable(error_description)
        )
        error_uri = None if error_uri is None else printable(error_uri)
        self.error = error
        self.error_description = error_description
        self.error_uri = error_uri
        if message is None:
            message = f"{error}: {error_description}" if error_description else error
        super().__init__(message, hint=hint)


class StateMismatchError(AuthorizationError):
    """A callback's ``state`` does not match the login in progress."""

    def __init__(
        self,
        message: str = "this answer does not belong to the sign-in in progress "
        "(its state differs)",
    ) -> None:
        super().__init__("invalid_state", message=message)


class IssuerMismatchError(AuthorizationError):
    """A callback's ``iss`` names another server (RFC 9207 mix-up defence)."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(
            "invalid_issuer",
            message=f"the callback came from issuer {got!r}, expected {expected!r}",
            hint="check --server and --issuer; another server may have answered",
        )


class AuthorizationTimeoutError(AuthorizationError, TimeoutError):
    """No callback arrived in time."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            "timeout",
            message=f"no sign-in finished within {seconds:g} seconds",
            hint="run the login again, or give more time with --timeout",
        )


class NetworkError(LoopbackLoginError, OSError):
    """The server could not be reached, timed out, or sent a torn answer."""


class TokenEndpointError(LoopbackLoginError):
    """An RFC 6749 §5.2 error from the token or revoke endpoint.

    RingCentral adds ``errors[]`` with an ``errorCode`` such as ``OAU-109``; it is
    kept as ``error_code``.
    """

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        status: int | None = None,
        error_code: str | None = None,
        endpoint: str = "token",
        hint: str | None = None,
    ) -> None:
        error = printable(error, 64)
        error_description = (
            None if error_description is None else printable(error_description)
        )
        error_code = None if error_code is None else printable(error_code, 32)
        self.error = error
        self.error_description = error_description
        self.status = status
        self.error_code = error_code
        self.endpoint = endpoint
        detail = f"{error}: {error_description}" if error_description else error
        if error_code:
            detail += f" ({error_code})"
        status_part = f"HTTP {status}, " if status else ""
        super().__init__(
            f"the {endpoint} endpoint refused: {status_part}{detail}", hint=hint
        )


class InvalidGrantError(TokenEndpointError):
    """The code or refresh token is spent, expired or revoked."""


class RateLimitError(TokenEndpointError):
    """HTTP 429. ``retry_after`` is the server's ``Retry-After`` in seconds."""

    def __init__(
        self,
        error: str = "rate_limited",
        error_description: str | None = None,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        error_code: str | None = None,
        endpoint: str = "token",
        hint: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            error,
            error_description,
            status=status,
            error_code=error_code,
            endpoint=endpoint,
            hint=hint,
        )


class IDTokenError(LoopbackLoginError):
    """The ID token failed a check: nothing from that response is kept."""


class NonceMismatchError(IDTokenError):
    """The ID token's nonce is not the one sent at login."""


class TokenStoreError(LoopbackLoginError, OSError):
    """The token cache cannot be read or written."""


class CorruptEntryError(TokenStoreError):
    """A cache entry is damaged; it was moved aside, never deleted."""


class KeyringError(TokenStoreError):
    """The OS keyring cannot be used now: none found, locked, or not answering."""


class NewerEntryError(TokenStoreError):
    """A cache entry was written by a newer version; it is neither used nor overwritten."""


class NotLoggedInError(LoopbackLoginError):
    """Nothing usable is cached for the profile."""


class SessionExpiredError(NotLoggedInError):
    """The server ended the session (``invalid_grant``); only a new login helps."""

    exit_code = 2
