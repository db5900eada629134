"""Reading a request's form body, for the middlewares and the handlers alike.

The app's first middleware reads every body and answers one that does not parse
with a 400 itself, so nothing behind it ever meets one. aiohttp keeps a body it
has parsed, so every later :func:`form_of` gets that same parse.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiMapping

__all__ = ["MalformedBody", "form_of"]

# What aiohttp's ``request.post()`` raises for a body it cannot read: bytes that
# don't decode (UnicodeDecodeError is a ValueError), an unknown charset
# (LookupError), a multipart body without a boundary or with broken part headers
# (ValueError, HttpProcessingError), or a part in an unknown encoding
# (RuntimeError). Its HTTP exceptions (413 and the like) answer for themselves.
_UNPARSABLE = (ValueError, LookupError, RuntimeError, HttpProcessingError)


class MalformedBody(Exception):
    """The body does not parse as the form its ``Content-Type`` names."""


async def form_of(request: web.Request) -> MultiMapping[str]:
    """The body's fields as strings (file fields have no place here); empty for
    a GET or a body that is not a form. Raises :class:`MalformedBody`."""
    try:
        posted = await request.post()
    except _UNPARSABLE as exc:
        # The name only: the message can quote the body, secrets and all.
        raise MalformedBody(type(exc).__name__) from exc
    return MultiDict((k, v) for k, v in posted.items() if isinstance(v, str))
