"""``/restapi/oauth/authorize`` and the sign-in and consent forms behind it."""

from __future__ import annotations

import hmac

from aiohttp import web

from loopback_login.emulator.authorize import (
    AuthorizeRequest,
    PageError,
    RedirectError,
    build_redirect,
    validate_authorize,
)
from loopback_login.emulator.context import STATE, issuer_of
from loopback_login.emulator.forms import form_of
from loopback_login.emulator.interaction import SignIn
from loopback_login.emulator.pages import consent_page, error_page, signin_page
from loopback_login.emulator.state import AuthCode, EmulatorState

__all__ = ["authorize", "consent", "signin"]

COOKIE = "rc_emulator_signin"
WRONG_CREDENTIALS = "The username or password is incorrect. Please try again."
STALE = "This sign-in page has expired or was already used."


async def authorize(request: web.Request) -> web.StreamResponse:
    """GET (query) or POST (form body) authorization request."""
    state = request.app[STATE]
    params = request.query if request.method == "GET" else await form_of(request)
    try:
        checked = validate_authorize(params, state.config)
    except PageError as exc:
        return error_page(
            "This app can't sign you in", exc.description, exc.error, exc.code
        )
    except RedirectError as exc:
        return _redirect_error(request, exc)
    return _proceed(request, checked, state.ui.browser(request.cookies.get(COOKIE)))


async def signin(request: web.Request) -> web.StreamResponse:
    """The sign-in form's post: wrong credentials show the form again."""
    state = request.app[STATE]
    form = await form_of(request)
    pending = state.ui.take(form.get("txn", ""))
    if pending is None:
        return error_page("Please start again", STALE, "invalid_request", "OAU-101")
    username = form.get("username", "")
    user = state.config.user(username)
    password = form.get("password", "").encode()
    if user is None or not hmac.compare_digest(password, user.password.encode()):
        txn = state.ui.repark(pending)
        demo = state.config.users[0]
        return signin_page(
            pending.request, txn, demo, username=username, error=WRONG_CREDENTIALS
        )
    sign_in = SignIn(user, int(state.clock()))
    response = _proceed(request, pending.request, sign_in, fresh=True)
    response.set_cookie(
        COOKIE,
        state.ui.remember_browser(sign_in),
        httponly=True,
        samesite="Lax",
        path="/",
    )
    return response


async def consent(request: web.Request) -> web.StreamResponse:
    """The consent form's post: Allow issues a code, anything else is a denial."""
    state = request.app[STATE]
    form = await form_of(request)
    pending = state.ui.take(form.get("txn", ""))
    if pending is None or pending.sign_in is None:
        return error_page("Please start again", STALE, "invalid_request", "OAU-101")
    checked = pending.request
    if form.get("decision") != "allow":
        return _redirect_error(
            request,
            RedirectError(
                "access_denied",
                "The user denied access to the application",
                checked.redirect_uri,
                checked.state,
            ),
        )
    state.ui.remember_consent(
        pending.sign_in.user.username, checked.client.client_id, checked.scope
    )
    return _approve(request, checked, pending.sign_in)


def _proceed(
    request: web.Request,
    checked: AuthorizeRequest,
    sign_in: SignIn | None,
    *,
    fresh: bool = False,
) -> web.Response:
    """Decide the next step: sign-in page, consent page, or back to the app."""
    state = request.app[STATE]
    if state.config.auto_approve:
        return _approve(request, checked, SignIn(state.config.users[0], _now(state)))
    if sign_in is not None and "login" in checked.prompt and not fresh:
        sign_in = None  # prompt=login: a remembered sign-in doesn't count
    silent = "none" in checked.prompt
    if sign_in is None:
        if silent:
            return _redirect_error(request, _denied(checked, "login_required"))
        txn = state.ui.park(checked)
        return signin_page(checked, txn, state.config.users[0])
    user = sign_in.user
    remembered = state.ui.has_consent(
        user.username, checked.client.client_id, checked.scope
    )
    if "consent" in checked.prompt or not remembered:
        if silent:
            return _redirect_error(request, _denied(checked, "consent_required"))
        return consent_page(checked, state.ui.park(checked, sign_in), user)
    return _approve(request, checked, sign_in)


def _approve(
    request: web.Request, checked: AuthorizeRequest, sign_in: SignIn
) -> web.Response:
    state = request.app[STATE]
    ttl = state.config.code_ttl
    code = state.issue_code(
        AuthCode(
            client_id=checked.client.client_id,
            redirect_uri=checked.redirect_uri,
            redirect_uri_given=checked.redirect_uri_given,
            user=sign_in.user,
            scope=checked.scope,
            nonce=checked.nonce,
            code_challenge=checked.code_challenge,
            code_challenge_method=checked.code_challenge_method,
            auth_time=sign_in.auth_time,
            expires_at=state.clock() + ttl,
        )
    )
    params = {"code": code, "state": checked.state, "expires_in": str(ttl)}
    return _found(request, checked.redirect_uri, params)


def _denied(checked: AuthorizeRequest, error: str) -> RedirectError:
    text = {
        "login_required": "The user is not signed in",
        "consent_required": "The user has not approved this application",
    }[error]
    return RedirectError(error, text, checked.redirect_uri, checked.state)


def _redirect_error(request: web.Request, exc: RedirectError) -> web.Response:
    params = {
        "error": exc.error,
        "error_description": exc.description,
        "state": exc.state,
    }
    return _found(request, exc.redirect_uri, params)


def _found(
    request: web.Request, redirect_uri: str, params: dict[str, str | None]
) -> web.Response:
    if request.app[STATE].config.send_iss:
        params = {**params, "iss": issuer_of(request)}  # RFC 9207 §2
    return web.Response(
        status=302,
        headers={
            "Location": build_redirect(redirect_uri, params),
            "Cache-Control": "no-store",
        },
    )


def _now(state: EmulatorState) -> int:
    return int(state.clock())
