"""The pages the loopback server serves, each with headers that keep it inert:
no script but the POST form's own (by hash), no framing, no referrer, no caching.
Every value is escaped by ``templates.render``."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from urllib.parse import urlsplit

from aiohttp import web

from loopback_login import templates
from loopback_login.errors import LoopbackLoginError

__all__ = ["HEADERS", "error_page", "page", "post_form_page", "redirect"]

# The one script we ever serve: submit the POST-method form at once.
_AUTOSUBMIT = "document.getElementById('authorize').submit();"
_AUTOSUBMIT_HASH = base64.b64encode(
    hashlib.sha256(_AUTOSUBMIT.encode()).digest()
).decode()
_BASE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Cache-Control": "no-store",
    # The callback URL holds the code: no page of ours may leak it in a Referer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": _BASE_CSP + "; form-action 'none'",
}


def page(
    name: str, status: int = 200, csp: str | None = None, **values: object
) -> web.Response:
    headers = dict(HEADERS)
    if csp is not None:
        headers["Content-Security-Policy"] = csp
    return web.Response(
        text=templates.render(name, **values),
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers=headers,
    )


def error_page(exc: LoopbackLoginError, status: int = 400) -> web.Response:
    error = getattr(exc, "error", None) or type(exc).__name__
    description = getattr(exc, "error_description", None) or str(exc)
    return page(
        "callback_error.html",
        status,
        error=error,
        description=description,
        hint=exc.hint or "Return to the terminal and run the login again.",
    )


def redirect(url: str) -> web.Response:
    return web.Response(status=302, headers={**HEADERS, "Location": url})


def post_form_page(endpoint: str, params: Mapping[str, str]) -> web.Response:
    """A form that posts ``params`` to ``endpoint`` and submits itself; without
    JavaScript the person presses its button."""
    fields = templates.Markup(
        "".join(
            f'<input type="hidden" name="{templates.escape(k)}" '
            f'value="{templates.escape(v)}">'
            for k, v in params.items()
        )
    )
    return page(
        "authorize_post.html",
        csp=f"{_BASE_CSP}; script-src 'sha256-{_AUTOSUBMIT_HASH}'",
        action=endpoint,
        fields=fields,
        script=templates.Markup(_AUTOSUBMIT),
        server=urlsplit(endpoint).netloc,
    )
