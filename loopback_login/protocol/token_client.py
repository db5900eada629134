"""Talking to ``/restapi/oauth/token`` and ``/restapi/oauth/revoke``.

One HTTP stack (aiohttp) through an injected ``ClientSession``. Every failure becomes
one of our errors with a sentence a person can act on; no token, code, verifier or
assertion is ever part of a message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from loopback_login.environment import CLIENT_SECRET_ENV
from loopback_login.errors import (
    InvalidGrantError,
    NetworkError,
    RateLimitError,
    TokenEndpointError,
)
from loopback_login.protocol.client_auth import client_auth
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.tokens import TokenSet
from loopback_login.protocol.wiring import DEFAULT_HTTP_TIMEOUT, Wiring

__all__ = ["DEFAULT_HTTP_TIMEOUT", "JWT_BEARER", "TokenClient"]

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER = 10.0
"""The longest ``Retry-After`` we wait out, once. RingCentral's auth endpoints allow
five requests a minute and restart the penalty on each request made during it, so a
retry loop would only lengthen the lock-out."""

_MAX_BODY = 1024 * 1024
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class TokenClient:
    """Code exchange, refresh and revocation for one client at one server."""

    def __init__(
        self,
        config: ProviderConfig,
        wiring: Wiring,
        *,
        max_retry_after: float = MAX_RETRY_AFTER,
    ) -> None:
        self._config = config
        self._wiring = wiring
        self._max_retry_after = max_retry_after

    async def exchange_code(
        self, code: str, *, redirect_uri: str, code_verifier: str
    ) -> TokenSet:
        """``grant_type=authorization_code`` (RFC 6749 §4.1.3, RFC 7636 §4.5)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": code_verifier,
            **self._config.token_params,
        }
        body = await self._post(self._config.token_endpoint, form, "token")
        return TokenSet.from_response(body, now=self._wiring.clock())

    async def refresh(self, refresh_token: str) -> TokenSet:
        """``grant_type=refresh_token`` (RFC 6749 §6). RingCentral rotates the token."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            **self._config.token_params,
        }
        body = await self._post(self._config.token_endpoint, form, "token")
        return TokenSet.from_response(body, now=self._wiring.clock())

    async def exchange_jwt(self, assertion: str) -> TokenSet:
        """``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` (RFC 7523 §2.1):
        a user's JWT credential, sent with the app's own client authentication."""
        form = {"grant_type": JWT_BEARER, "assertion": assertion}
        if self._config.scope:
            form["scope"] = self._config.scope
        body = await self._post(
            self._config.token_endpoint, {**form, **self._config.token_params}, "token"
        )
        return TokenSet.from_response(body, now=self._wiring.clock())

    async def revoke(self, token: str) -> None:
        """RFC 7009; at RingCentral this ends the whole session the token belongs to."""
        await self._post(self._config.revocation_endpoint, {"token": token}, "revoke")

    async def _post(
        self, url: str, form: Mapping[str, str], endpoint: str
    ) -> dict[str, Any]:
        try:
            return await self._post_once(url, form, endpoint)
        except RateLimitError as exc:
            wait = exc.retry_after
            if wait is None or wait > self._max_retry_after:
                raise
            logger.info(
                "rate limited by the %s endpoint; retrying in %gs", endpoint, wait
            )
            await self._wiring.sleep(wait)  # as every wait: on the wiring's timer
            return await self._post_once(url, form, endpoint)

    async def _post_once(
        self, url: str, form: Mapping[str, str], endpoint: str
    ) -> dict[str, Any]:
        # Assertions are single-use: a retry must sign a new one.
        headers, auth_fields = client_auth(self._config, url, now=self._wiring.clock())
        headers["Accept"] = "application/json"
        data = {**form, **auth_fields}
        logger.debug("POST %s (grant_type=%s)", url, form.get("grant_type", "-"))
        try:
            async with self._wiring.http.post(
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=self._wiring.request_timeout(),
            ) as response:
                raw = await _read_limited(response, endpoint)
                status = response.status
                content_type = response.content_type
                retry_after = response.headers.get("Retry-After")
        except NetworkError:
            raise  # a TLS or proxy failure, already named with its fix
        except TimeoutError as exc:
            raise NetworkError(
                f"the {endpoint} endpoint did not answer within {self._wiring.timeout:g} s",
                hint="check the network, or allow more time with --http-timeout",
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise NetworkError(
                f"cannot connect to {self._config.server}: {exc.os_error.strerror or exc}",
                hint="check the network and --server",
            ) from exc
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
            raise NetworkError(
                f"the connection to the {endpoint} endpoint broke mid-answer",
                hint="try again",
            ) from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(
                f"the {endpoint} endpoint could not be reached: {type(exc).__name__}",
                hint="check the network and --server",
            ) from exc
        return _interpret(status, content_type, raw, retry_after, endpoint)


async def _read_limited(response: aiohttp.ClientResponse, endpoint: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > _MAX_BODY:
            raise TokenEndpointError(
                "invalid_response",
                "the answer is larger than any token response",
                status=response.status,
                endpoint=endpoint,
                hint="check --server: it does not look like an OAuth server",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _interpret(
    status: int, content_type: str, raw: bytes, retry_after: str | None, endpoint: str
) -> dict[str, Any]:
    body: Any = None
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            body = None
    if 200 <= status < 300:
        if endpoint == "revoke":
            return body if isinstance(body, dict) else {}
        if not isinstance(body, dict):
            raise TokenEndpointError(
                "invalid_response",
                f"the answer is {content_type or 'untyped'}, not a JSON object",
                status=status,
                endpoint=endpoint,
                hint="check --server: it does not look like an OAuth server",
            )
        return body
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        raise _error_from_body(body, status, retry_after, endpoint)
    if status == 429:
        raise RateLimitError(
            "rate_limited",
            "too many requests",
            retry_after=_seconds(retry_after),
            endpoint=endpoint,
            hint=_rate_hint(retry_after),
        )
    kind = "an HTML page" if "html" in content_type else (content_type or "no body")
    raise TokenEndpointError(
        "server_error" if status >= 500 else "invalid_response",
        f"unexpected answer ({kind})",
        status=status,
        endpoint=endpoint,
        hint="the server is having trouble; try again in a minute"
        if status >= 500
        else "check --server: it does not look like an OAuth server",
    )


def _error_from_body(
    body: Mapping[str, Any], status: int, retry_after: str | None, endpoint: str
) -> TokenEndpointError:
    error = str(body["error"])
    description = body.get("error_description") or body.get("message")
    code = None
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("errorCode")
        description = description or errors[0].get("message")
    description = None if description is None else str(description)[:500]
    code = None if code is None else str(code)[:32]
    fields: dict[str, Any] = {
        "status": status,
        "error_code": code,
        "endpoint": endpoint,
    }
    if status == 429 or code == "CMN-301":
        return RateLimitError(
            error, description, retry_after=_seconds(retry_after),
            hint=_rate_hint(retry_after), **fields,
        )  # fmt: skip
    if error == "invalid_grant":
        return InvalidGrantError(error, description, hint=_GRANT_HINT, **fields)
    return TokenEndpointError(error, description, hint=_hint(error, status), **fields)


_GRANT_HINT = "the code or session is no longer valid; run: loopback-login login"


def _hint(error: str, status: int) -> str:
    if error == "invalid_client":
        return (
            "check --client-id and --client-auth, and the client secret "
            f"({CLIENT_SECRET_ENV} or --client-secret-file) or --private-key"
        )
    if error == "unauthorized_client":
        return "the app may not use this grant; enable 3-legged OAuth in its settings"
    if error == "invalid_scope":
        return "ask only for scopes the app has in the developer console (--scope)"
    if status >= 500:
        return "the server is having trouble; try again in a minute"
    return "check the app's settings and the options given"


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date; not worth parsing for a hint
    return seconds if 0 <= seconds <= 86400 else None


def _rate_hint(retry_after: str | None) -> str:
    seconds = _seconds(retry_after)
    wait = f"{seconds:g} seconds" if seconds is not None else "a minute"
    return f"wait {wait} before trying again; each attempt meanwhile extends the wait"
