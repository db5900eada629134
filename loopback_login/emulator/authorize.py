"""Checking an authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1).

The order matters (RFC 6749 §4.1.2.1): until ``client_id`` and ``redirect_uri``
are known good, an error is shown as a page and never redirected, so the emulator
cannot be made into an open redirector. After that, errors go back to the client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from multidict import MultiMapping

from loopback_login.emulator.config import EmulatorClient, EmulatorConfig

__all__ = [
    "AuthorizeRequest",
    "PageError",
    "RedirectError",
    "build_redirect",
    "redirect_uri_matches",
    "validate_authorize",
]

DISPLAYS = ("page", "popup", "touch", "mobile")
PROMPTS = ("login", "sso", "consent", "none")
# RFC 7636 §4.1/§4.2: 43 to 128 characters from the unreserved set.
PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
LOOPBACK_LITERALS = ("127.0.0.1", "::1")


class PageError(Exception):
    """An error the browser must see here: the redirect target is not trusted."""

    def __init__(self, error: str, description: str, code: str) -> None:
        super().__init__(description)
        self.error, self.description, self.code = error, description, code


class RedirectError(Exception):
    """An error for the client, sent back to its (validated) redirect URI."""

    def __init__(
        self, error: str, description: str, redirect_uri: str, state: str | None
    ) -> None:
        super().__init__(description)
        self.error, self.description = error, description
        self.redirect_uri, self.state = redirect_uri, state


@dataclass(frozen=True)
class AuthorizeRequest:
    """A validated request, kept server-side while the person signs in."""

    client: EmulatorClient
    redirect_uri: str
    redirect_uri_given: bool
    state: str | None
    scope: str
    prompt: frozenset[str]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    login_hint: str
    display: str


def redirect_uri_matches(given: str, registered: str) -> bool:
    """Exact match, except that a loopback IP literal may use any port.

    RFC 8252 §7.3 lets a native app pick its port at run time for ``127.0.0.1``
    and ``[::1]``. ``localhost`` is a name, not a literal (§8.3), so it must
    match exactly, port included.
    """
    if given == registered:
        return True
    mine, theirs = urlsplit(given), urlsplit(registered)
    if theirs.hostname not in LOOPBACK_LITERALS or theirs.scheme != "http":
        return False
    try:
        mine.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return False
    return (mine.scheme, mine.hostname, mine.path, mine.query, mine.fragment) == (
        theirs.scheme,
        theirs.hostname,
        theirs.path,
        theirs.query,
        theirs.fragment,
    )


def validate_authorize(
    params: MultiMapping[str], config: EmulatorConfig
) -> AuthorizeRequest:
    """Check every parameter; raise :class:`PageError` or :class:`RedirectError`."""

    def one(name: str) -> str | None:
        return params.get(name)

    for name in ("client_id", "redirect_uri"):
        if len(params.getall(name, [])) > 1:
            raise PageError(
                "invalid_request", f"Parameter [{name}] is duplicated", "OAU-111"
            )
    client_id = one("client_id")
    if not client_id:
        raise PageError(
            "invalid_request", "Parameter [client_id] is required", "OAU-101"
        )
    client = config.client(client_id)
    if client is None:
        raise PageError("invalid_client", f"Invalid client: {client_id}", "OAU-153")
    redirect_uri = _check_redirect_uri(one("redirect_uri"), client)

    state = one("state")

    def fail(error: str, description: str) -> RedirectError:
        return RedirectError(error, description, redirect_uri, state)

    for name in set(params.keys()):
        if len(params.getall(name)) > 1:
            raise fail("invalid_request", f"Parameter [{name}] is duplicated")
    response_type = one("response_type")
    if not response_type:
        raise fail("invalid_request", "Parameter [response_type] is required")
    if response_type != "code":
        raise fail(
            "unsupported_response_type", f"Unsupported response type: {response_type}"
        )
    display = one("display") or "page"
    if display not in DISPLAYS:
        raise fail("invalid_request", "Parameter [display] value is invalid")
    prompt = frozenset((one("prompt") or "").split())
    if not prompt <= set(PROMPTS) or ("none" in prompt and len(prompt) > 1):
        raise fail("invalid_request", "Parameter [prompt] value is invalid")
    challenge, method = one("code_challenge"), one("code_challenge_method")
    if method is not None and challenge is None:
        raise fail("invalid_request", "Parameter [code_challenge] is required")
    if challenge is not None:
        # Like RingCentral, a challenge without a method is taken as "plain".
        method = method or "plain"
        if method not in ("plain", "S256"):
            raise fail(
                "invalid_request", "Parameter [code_challenge_method] value is invalid"
            )
        if not PKCE_VALUE.fullmatch(challenge):
            raise fail("invalid_request", "Parameter [code_challenge] value is invalid")
    return AuthorizeRequest(
        client=client,
        redirect_uri=redirect_uri,
        redirect_uri_given=one("redirect_uri") is not None,
        state=state,
        scope=" ".join((one("scope") or client.scope).split()) or client.scope,
        prompt=prompt,
        nonce=one("nonce"),
        code_challenge=challenge,
        code_challenge_method=method,
        login_hint=one("login_hint") or "",
        display=display,
    )


def _check_redirect_uri(given: str | None, client: EmulatorClient) -> str:
    registered = client.redirect_uris
    if not registered:
        raise PageError("invalid_request", "Redirect URI is not registered", "OAU-113")
    if given is None:
        if len(registered) == 1:
            return registered[0]
        raise PageError(
            "invalid_request", "Parameter [redirect_uri] is required", "OAU-101"
        )
    if not any(redirect_uri_matches(given, uri) for uri in registered):
        raise PageError("invalid_request", "Redirect URIs do not match", "OAU-109")
    return given


def build_redirect(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """``redirect_uri`` with ``params`` added to any query it already has."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{redirect_uri}{'&' if urlsplit(redirect_uri).query else '?'}{query}"
