"""``requests``: an ``AuthBase`` and a ready ``Session``. Needs ``pip install
'loopback-login[requests]'``."""

from __future__ import annotations

from typing import Any

try:
    import requests
    from requests.auth import AuthBase
except ImportError as exc:  # an optional extra
    raise ImportError(
        f"{exc}: run pip install 'loopback-login[requests]'", name=exc.name
    ) from exc

from loopback_login.http.retry import bearer, note_not_replayed, sent_token
from loopback_login.http.source import TokenSource

__all__ = ["RequestsAuth", "requests_session"]

_RETRIED = "_loopback_login_retried"


class RequestsAuth(AuthBase):
    """Sends the profile's token; on a 401, asks once for the token to use instead
    (another process's refresh, or one refresh) and sends the request again, once.

    A body given as a generator or a file is not sent again: the 401 is returned
    (the next request gets the new token).
    Options are :class:`TokenSource`'s, or pass ``source`` to share one.
    """

    def __init__(
        self,
        profile: str = "default",
        *,
        source: TokenSource | None = None,
        **options: Any,
    ) -> None:
        self.source = source or TokenSource(profile, **options)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = bearer(self.source.token())
        request.hooks["response"].append(self._retry_once)
        return request

    def _retry_once(
        self, response: requests.Response, **kwargs: Any
    ) -> requests.Response:
        request = response.request
        if response.status_code != 401 or getattr(request, _RETRIED, False):
            return response
        sent = sent_token(request.headers.get("Authorization"))
        if sent is None:
            return response
        try:
            fresh = self.source.rejected(sent)
        except BaseException:
            response.close()  # the caller gets the error, not this answer
            raise
        if not isinstance(request.body, (bytes, str, type(None))):
            note_not_replayed(str(request.method), request.url)
            return response
        # Read and release the refused answer so its connection can be reused.
        _ = response.content
        response.close()
        retry = request.copy()
        retry.headers["Authorization"] = bearer(fresh)
        setattr(retry, _RETRIED, True)
        answer: requests.Response = response.connection.send(retry, **kwargs)
        answer.history.append(response)
        answer.request = retry
        return answer


def requests_session(
    profile: str = "default", *, source: TokenSource | None = None, **options: Any
) -> requests.Session:
    """A ``requests.Session`` that sends the profile's token with every request."""
    session = requests.Session()
    session.auth = RequestsAuth(profile, source=source, **options)
    return session
