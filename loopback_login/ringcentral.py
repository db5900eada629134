"""The RingCentral Python SDK, signed in from a profile. Needs ``pip install
'loopback-login[ringcentral]'``.

The SDK's own ``Platform`` keeps the refresh token and spends it whenever its access
token looks old, with no lock and nothing saved: a second program (or
``loopback-login token``) then holds a dead session. The platform made here never
sees the refresh token: it takes its access token from the profile, refreshes
through the profile's lock and file, answers a 401 once as the HTTP adapters do,
and logs out by revoking the profile's session.
"""

from __future__ import annotations

import time
from typing import Any

try:
    import requests
    from ringcentral.http import Client
    from ringcentral.http.api_exception import ApiException
    from ringcentral.http.api_response import ApiResponse
    from ringcentral.platform import Platform
except ImportError as exc:  # an optional extra
    raise ImportError(
        f"{exc}: run pip install 'loopback-login[ringcentral]'", name=exc.name
    ) from exc

from loopback_login.errors import LoopbackLoginError, NotLoggedInError, login_hint
from loopback_login.http.retry import note_not_replayed
from loopback_login.http.source import TokenSource, run_sync
from loopback_login.protocol.provider import ProviderConfig

__all__ = ["ProfilePlatform", "platform"]


def platform(
    profile: str = "default",
    *,
    cache_dir: str | None = None,
    client_secret: str | None = None,
    source: TokenSource | None = None,
    name: str = "",
    version: str = "",
) -> ProfilePlatform:
    """An SDK ``Platform`` signed in as ``profile`` (log in with ``loopback-login
    login`` first); its server and client are the profile's."""
    source = source or TokenSource(
        profile, cache_dir=cache_dir, client_secret=client_secret
    )
    entry = source.session().entry()
    if entry is None:
        raise NotLoggedInError(
            f"profile {source.profile!r} is not logged in",
            hint=login_hint(source.profile),
        )
    provider = ProviderConfig.from_profile(entry.settings)
    return ProfilePlatform(
        source,
        server=provider.server,
        client_id=provider.client_id,
        name=name,
        version=version,
    )


class ProfilePlatform(Platform):  # type: ignore[misc]  # the SDK is untyped
    """A ``Platform`` whose tokens are the profile's; see :func:`platform`."""

    def __init__(
        self,
        source: TokenSource,
        *,
        server: str,
        client_id: str,
        name: str = "",
        version: str = "",
    ) -> None:
        super().__init__(
            _RedactingClient(), key=client_id, secret="", server=server,
            name=name, version=version,
        )  # fmt: skip
        self._source = source
        self._take(source.token())

    def refresh(self) -> None:
        """A valid token from the profile, refreshed there (once across processes)
        only if it is due; the SDK's own refresh would spend the refresh token
        behind the profile's back."""
        self._take(self._source.token())

    def logout(self) -> None:
        """Revoke the profile's session and forget it, as ``loopback-login logout``."""

        async def revoke() -> bool:
            async with self._source.session() as session:
                return await session.logout()

        run_sync(revoke())
        self._auth.reset()

    def login(self, *args: Any, **kwargs: Any) -> None:
        raise LoopbackLoginError(
            "this platform is signed in from a loopback-login profile",
            hint=f"run: loopback-login login --profile {self._source.profile}",
        )

    def send_request(self, request: Any, skip_auth_check: bool = False) -> Any:
        try:
            return super().send_request(request, skip_auth_check=skip_auth_check)
        except ApiException as exc:
            if skip_auth_check or _status(exc) != 401:
                raise
            self._take(self._source.rejected(self._auth.access_token()))
            if getattr(request, "files", None) or not isinstance(
                getattr(request, "data", None), (str, bytes, type(None), dict, list)
            ):
                note_not_replayed(str(request.method), request.url)
                raise
            return super().send_request(request, skip_auth_check=skip_auth_check)

    def _ensure_authentication(self) -> None:
        # One stat of the entry file: a refresh by anyone is picked up before sending.
        self._take(self._source.token())

    def _take(self, token: str) -> None:
        expires_at = self._source.expires_at or time.time()
        self._auth.set_data(
            {
                "token_type": "bearer",
                "access_token": token,
                "expire_time": expires_at,
                # Never the SDK's to spend.
                "refresh_token": "",
                "refresh_token_expire_time": 0,
            }
        )


class _RedactingClient(Client):  # type: ignore[misc]
    """The SDK puts the request's headers, bearer token included, into the message
    of every ``ApiException``: here they carry no credential."""

    def send(self, request: Any) -> Any:
        try:
            return super().send(request)
        except ApiException as exc:
            answer = exc.api_response()
            raise ApiException(
                ApiResponse(_redacted(request), answer.response() if answer else None)
            ) from None


def _redacted(request: Any) -> requests.Request:
    headers = {
        key: "[redacted]" if key.lower() == "authorization" else value
        for key, value in dict(getattr(request, "headers", None) or {}).items()
    }
    url = str(getattr(request, "url", "")).split("?", 1)[0]
    return requests.Request(str(getattr(request, "method", "")), url, headers=headers)


def _status(exc: ApiException) -> int | None:
    answer = exc.api_response()
    response = answer.response() if answer is not None else None
    return None if response is None else int(response.status_code)
