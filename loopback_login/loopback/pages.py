"""The pages the loopback server serves, each with headers that keep it inert:
no script but the POST form's own (by hash), no framing, no referrer, no caching.
Every value is escaped by ``templates.render``."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from aiohttp import web

from loopback_login import templates
from loopback_login.errors import LoopbackLoginError

__all__ = [
    "HEADERS",
    "error_page",
    "hint_html",
    "page",
    "post_form_page",
    "redirect",
    "retry_block",
    "sentence",
]

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


def error_page(
    exc: LoopbackLoginError, status: int = 400, *, retry_command: str | None = None
) -> web.Response:
    """What failed, what to do, and the command that tries again, in a code block."""
    error = getattr(exc, "error", None) or type(exc).__name__
    description = getattr(exc, "error_description", None) or sentence(str(exc))
    hint = exc.hint or ""
    if hint.startswith("run: ") and "\n" not in hint and retry_command is None:
        retry_command, hint = hint.removeprefix("run: "), ""
    elif hint.startswith("run: loopback-login login"):
        hint = ""  # the retry block says it
    return page(
        "callback_error.html",
        status,
        error=error,
        description=description,
        hint=hint_html(hint),
        retry=retry_block(retry_command),
    )


def sentence(text: str) -> str:
    """Our lower-case terminal message as a sentence: capitalised, with a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def hint_html(hint: str) -> templates.Markup:
    """A hint as a sentence, each ``--option`` in code that never breaks a line."""
    if not hint:
        return templates.Markup("")
    parts = re.split(r"(--[a-z][a-z0-9-]*|loopback-login [a-z]+)", sentence(hint))
    return templates.Markup(
        "".join(
            f'<code class="flag">{templates.escape(part)}</code>'
            if i % 2
            else templates.escape(part)
            for i, part in enumerate(parts)
        )
    )


def retry_block(command: str | None) -> templates.Markup:
    """The exact command to run in the terminal, as a code block."""
    if not command:
        return templates.Markup(
            "<p>Return to the terminal that started the sign-in to try again.</p>"
        )
    return templates.Markup(
        "<p>To try again, run this in your terminal:</p>"
        f'<pre class="command"><code id="command">{templates.escape(command)}'
        "</code></pre>"
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
