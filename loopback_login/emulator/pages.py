"""The emulator's HTML: sign-in, consent and error pages from ``templates/emulator``.

Every value goes through :func:`loopback_login.templates.render`, which escapes
it; only lists built here from escaped parts are passed as ``Markup``.
"""

from __future__ import annotations

from aiohttp import web

from loopback_login.emulator.authorize import AuthorizeRequest
from loopback_login.emulator.config import EmulatorUser
from loopback_login.templates import Markup, escape, render

__all__ = ["consent_page", "error_page", "signin_page"]

# Pages load nothing from elsewhere and must not be framed (clickjacking on the
# consent button). form-action is left open on purpose: Chrome applies it to the
# redirect back to the app after the consent form.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

SCOPE_TEXT = {
    "openid": "Confirm who you are",
    "email": "See your email address",
    "profile": "See your name",
    "ReadAccounts": "Read your account and extension details",
    "ReadCallLog": "Read your call log",
    "ReadMessages": "Read your messages",
    "SMS": "Send text messages for you",
    "RingOut": "Place calls for you",
}


def _page(name: str, status: int = 200, **values: object) -> web.Response:
    return web.Response(
        status=status,
        text=render(f"emulator/{name}", **values),
        content_type="text/html",
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )


def signin_page(
    request: AuthorizeRequest,
    txn: str,
    demo: EmulatorUser,
    *,
    username: str | None = None,
    error: str | None = None,
) -> web.Response:
    """The sign-in form; ``error`` (already known to be about the credentials)
    is shown above it."""
    alert = (
        Markup(f'<p class="alert" role="alert">{escape(error)}</p>') if error else ""
    )
    return _page(
        "signin.html",
        client_name=request.client.display_name,
        username=request.login_hint if username is None else username,
        alert=alert,
        txn=txn,
        demo_username=demo.username,
        demo_password=demo.password,
    )


def consent_page(
    request: AuthorizeRequest, txn: str, user: EmulatorUser
) -> web.Response:
    """Allow or Deny, naming the app and every scope it asks for."""
    items = "".join(
        f"<li>{escape(SCOPE_TEXT.get(scope, scope))} "
        f'<span class="muted">({escape(scope)})</span></li>'
        for scope in request.scope.split()
    )
    return _page(
        "consent.html",
        client_name=request.client.display_name,
        user_name=user.full_name,
        user_email=user.email,
        scopes=Markup(items),
        txn=txn,
    )


def error_page(
    heading: str, description: str, error: str, code: str, *, status: int = 400
) -> web.Response:
    """A dead end the browser shows instead of redirecting anywhere."""
    return _page(
        "error.html",
        status=status,
        heading=heading,
        description=description,
        error=error,
        error_code=code,
    )
