"""An API call with a body, for clients that must send one again after a 401:
``POST /restapi/v1.0/account/~/extension/~/company-pager`` (a pager message).

It needs the ``InternalMessages`` permission: without it the answer is RingCentral's
403, which no new token can change.
"""

from __future__ import annotations

import json
import secrets

from aiohttp import web

from loopback_login.emulator.handlers_meta import bearer_session
from loopback_login.emulator.oauth_errors import json_response

__all__ = ["PAGER_PATH", "company_pager"]

PAGER_PATH = "/restapi/v1.0/account/~/extension/~/company-pager"
_MAX_BODY = 64 * 1024


async def company_pager(request: web.Request) -> web.StreamResponse:
    session = bearer_session(request)
    if "InternalMessages" not in session.scope.split():
        return _error(
            403,
            "CMN-401",
            "In order to call this API endpoint, application needs to have "
            "[InternalMessages] permission",
        )
    raw = await request.content.read(_MAX_BODY + 1)
    try:
        if len(raw) > _MAX_BODY:
            raise ValueError("too long")
        body = json.loads(raw)
        text = body["text"]
        if not isinstance(text, str):
            raise TypeError("text is not a string")
    except (ValueError, KeyError, TypeError):
        return _error(400, "CMN-101", "Parameter [text] value is invalid")
    user = session.user
    return json_response(
        {
            "id": secrets.randbelow(10**12),
            "type": "Pager",
            "direction": "Outbound",
            "subject": text,
            "from": {"extensionNumber": user.owner_id, "name": user.full_name},
        }
    )


def _error(status: int, code: str, message: str) -> web.Response:
    error = {"errorCode": code, "message": message}
    return json_response({**error, "errors": [error]}, status=status)
