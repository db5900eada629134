"""The authorization request and the callback that answers it (RFC 6749 §4.1)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

from loopback_login.errors import (
    AuthorizationError,
    IssuerMismatchError,
    StateMismatchError,
)
from loopback_login.protocol.pkce import PkcePair
from loopback_login.protocol.provider import ProviderConfig

__all__ = ["build_authorization_params", "build_authorization_url", "parse_callback"]


def build_authorization_params(
    config: ProviderConfig,
    *,
    redirect_uri: str,
    state: str,
    nonce: str,
    pkce: PkcePair,
) -> dict[str, str]:
    """The fields of RingCentral's ``authorize`` (GET) and ``authorize2`` (POST).

    ``code_challenge_method`` is always sent: RingCentral assumes ``plain`` without it.
    """
    params = {
        "response_type": "code",
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
    }
    if config.scope:
        params["scope"] = config.scope
    params.update(
        state=state,
        nonce=nonce,
        code_challenge=pkce.code_challenge,
        code_challenge_method=pkce.code_challenge_method,
    )
    params.update({k: v for k, v in config.authorize_params.items() if v})
    return params


def build_authorization_url(endpoint: str, params: Mapping[str, str]) -> str:
    """``endpoint?query`` for the GET method."""
    return f"{endpoint}?{urlencode(params)}"


def parse_callback(
    query: Mapping[str, str], *, expected_state: str, expected_issuer: str | None
) -> str:
    """Check a redirect back to us and return its ``code``.

    The ``state`` is checked before anything else, ``error`` included: a request that
    does not carry our state did not come from our login, and must neither end it
    nor make it fail (a page could otherwise abort logins at will).

    Raises:
        StateMismatchError: missing or wrong ``state``; the login keeps waiting.
        IssuerMismatchError: ``iss`` present and not ours (RFC 9207 §2.4).
        AuthorizationError: the server's ``error``, or no ``code``.
    """
    state = query.get("state")
    if state is None:
        raise StateMismatchError(
            "this answer carries no state, so it cannot belong to the sign-in in progress"
        )
    if not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise StateMismatchError(
            "this answer does not belong to the sign-in in progress (its state is "
            "not the one this sign-in sent)"
        )
    issuer = query.get("iss")
    if (
        issuer is not None
        and expected_issuer is not None
        and issuer.rstrip("/") != expected_issuer.rstrip("/")
    ):
        raise IssuerMismatchError(expected_issuer, issuer)
    error = query.get("error")
    if error:
        raise AuthorizationError(
            error,
            query.get("error_description"),
            query.get("error_uri"),
            hint=_hint_for(error),
        )
    code = query.get("code")
    if not code:
        raise AuthorizationError(
            "invalid_request", "the callback carries neither code nor error"
        )
    return code


def _hint_for(error: str) -> str:
    if error == "access_denied":
        return "the sign-in was cancelled or denied; run the login again to retry"
    if error in ("invalid_request", "unauthorized_client", "invalid_scope"):
        return (
            "check --client-id, --scope and the app's settings in the developer console"
        )
    return "run the login again; if it keeps failing, check the app's settings"
