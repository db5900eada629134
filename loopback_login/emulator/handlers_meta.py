"""Discovery, the JWKS, and the two "who am I" endpoints a token unlocks."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from loopback_login.emulator.context import STATE, issuer_of
from loopback_login.emulator.oauth_errors import json_response
from loopback_login.emulator.signing import ID_TOKEN_ALGS
from loopback_login.emulator.state import Session

__all__ = ["bearer_session", "discovery", "extension", "jwks", "userinfo"]

AUTH_METHODS = ["client_secret_basic", "client_secret_jwt", "private_key_jwt", "none"]
CLAIMS = [
    "sub",
    "iss",
    "auth_time",
    "aud",
    "exp",
    "iat",
    "jti",
    "nonce",
    "account_id",
    "email",
    "email_verified",
    "given_name",
    "family_name",
    "name",
]


async def discovery(request: web.Request) -> web.StreamResponse:
    """OpenID Provider metadata (OIDC Discovery §3) with RingCentral's paths."""
    issuer = issuer_of(request)
    oauth = f"{issuer}/restapi/oauth"
    body = {
        "issuer": issuer,
        "authorization_endpoint": f"{oauth}/authorize",
        "token_endpoint": f"{oauth}/token",
        "revocation_endpoint": f"{oauth}/revoke",
        "userinfo_endpoint": f"{oauth}/userinfo",
        "jwks_uri": f"{oauth}/jwks",
        "scopes_supported": ["openid", "email", "profile"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "code_challenge_methods_supported": ["plain", "S256"],
        "display_values_supported": ["page", "popup", "touch", "mobile"],
        "prompt_values_supported": ["login", "sso", "consent", "none"],
        "claims_supported": CLAIMS,
        "authorization_response_iss_parameter_supported": (
            request.app[STATE].config.send_iss
        ),
    }
    return web.json_response(body)


async def jwks(request: web.Request) -> web.StreamResponse:
    """The public key ID tokens are signed with (only the current one)."""
    return web.json_response(request.app[STATE].keys.jwks())


async def userinfo(request: web.Request) -> web.StreamResponse:
    """OIDC UserInfo for the bearer token's user."""
    session = bearer_session(request)
    user = session.user
    return json_response(
        {
            "sub": user.owner_id,
            "account_id": user.account_id,
            "name": user.full_name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "email": user.email,
            "email_verified": True,
        }
    )


async def extension(request: web.Request) -> web.StreamResponse:
    """A slice of ``GET /restapi/v1.0/account/~/extension/~`` for the token's user."""
    session = bearer_session(request)
    user = session.user
    base = f"{issuer_of(request)}/restapi/v1.0/account/{user.account_id}"
    body: dict[str, Any] = {
        "uri": f"{base}/extension/{user.owner_id}",
        "id": int(user.owner_id) if user.owner_id.isdigit() else user.owner_id,
        "extensionNumber": user.owner_id,
        "name": user.full_name,
        "type": "User",
        "status": "Enabled",
        "contact": {
            "firstName": user.given_name,
            "lastName": user.family_name,
            "email": user.email,
        },
        "account": {"uri": base, "id": user.account_id},
    }
    return json_response(body)


def bearer_session(request: web.Request) -> Session:
    """The live session of the request's bearer token, or a 401 (RFC 6750 §3)."""
    state = request.app[STATE]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("OAU-123", "Authorization header is not specified", "")
    session = state.session_by_access(token.strip())
    if session is not None:
        return session
    stale = state.session_by_any(token.strip())
    if stale is not None and stale.access_token == token.strip():
        raise _unauthorized("OAU-128", "Access token expired", _INVALID)
    if state.recently_replaced(token.strip()):
        # What RingCentral answers for about 10 s after a refresh replaced the
        # token (the code is the one its older API gave unusable tokens).
        raise _unauthorized("TokenInvalid", "Access token corrupted", _INVALID)
    raise _unauthorized("OAU-213", "Token not found", _INVALID)


_INVALID = ', error="invalid_token"'


def _unauthorized(code: str, message: str, detail: str) -> web.HTTPUnauthorized:
    error = {"errorCode": code, "message": message}
    return web.HTTPUnauthorized(
        text=json.dumps({**error, "errors": [error]}),
        content_type="application/json",
        headers={"WWW-Authenticate": f'Bearer realm="RingCentral"{detail}'},
    )
