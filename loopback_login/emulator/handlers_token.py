"""``/restapi/oauth/token`` and ``/restapi/oauth/revoke``."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiMapping

from loopback_login.emulator import grants
from loopback_login.emulator.auth import authenticate_client
from loopback_login.emulator.config import EmulatorClient
from loopback_login.emulator.context import FAULTS, STATE, issuer_of
from loopback_login.emulator.forms import form_of
from loopback_login.emulator.jwt_credentials import JWT_BEARER
from loopback_login.emulator.oauth_errors import OAuthError, json_response

__all__ = ["revoke", "token"]

FORM_TYPE = "application/x-www-form-urlencoded"


async def token(request: web.Request) -> web.StreamResponse:
    """Exchange a code, a refresh token or a JWT credential for ``TokenInfo``."""
    state = request.app[STATE]
    form = await _single_valued_form(request)
    client = _authenticate(request, form)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError.missing("grant_type")
    issuer = issuer_of(request)
    if grant_type == "authorization_code":
        body = grants.exchange_code(state, client, form, issuer)
    elif grant_type == "refresh_token":
        if request.app[FAULTS].take_invalid_grant():
            raise OAuthError.dead_refresh_token()
        body = grants.refresh(state, client, form, issuer)
    elif grant_type == JWT_BEARER:
        body = grants.exchange_jwt(state, client, form, issuer)
    else:
        raise OAuthError.unsupported_grant(grant_type)
    return json_response(body)


async def revoke(request: web.Request) -> web.StreamResponse:
    """End a session by one of its tokens (RFC 7009): 200 and no body, always."""
    state = request.app[STATE]
    form = await _single_valued_form(request)
    if len(request.query.getall("token", [])) > 1:
        raise OAuthError.duplicated("token")
    in_query, in_body = request.query.get("token"), form.get("token")
    if in_query is not None and in_body is not None and in_query != in_body:
        raise OAuthError(
            "invalid_request",
            "Query and body parameters [token] do not match",
            code="OAU-150",
        )
    value = in_body or in_query
    if not value:
        raise OAuthError.missing("token")
    client = _authenticate(request, form)
    grants.revoke(state, client, value)
    return web.Response(status=200, headers={"Cache-Control": "no-store"})


async def _single_valued_form(request: web.Request) -> dict[str, str]:
    if request.content_type != FORM_TYPE and request.can_read_body:
        raise OAuthError(
            "invalid_request", f"Content-Type must be {FORM_TYPE}", code="OAU-101"
        )
    form: MultiMapping[str] = await form_of(request)
    for name in set(form.keys()):
        if len(form.getall(name)) > 1:
            raise OAuthError.duplicated(name)
    return dict(form.items())


def _authenticate(request: web.Request, form: dict[str, str]) -> EmulatorClient:
    issuer = issuer_of(request)
    # RFC 7523 §3: aud names the endpoint; the issuer is accepted as well, as
    # many client libraries send it.
    audiences = (f"{issuer}{request.path}", issuer, f"{issuer}/")
    return authenticate_client(
        request.headers, form, request.app[STATE], audiences=audiences
    )
