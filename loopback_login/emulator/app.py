"""The emulator's aiohttp application: routes, the request record, rate limits
and fault injection, and :func:`serve` for running it on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from loopback_login.clock import Clock
from loopback_login.emulator import handlers_api as api
from loopback_login.emulator import handlers_authorize as authz
from loopback_login.emulator import handlers_meta as meta
from loopback_login.emulator import handlers_token as tokens
from loopback_login.emulator.auth import claimed_client_id, detect_auth_method
from loopback_login.emulator.config import EmulatorConfig
from loopback_login.emulator.context import FAULTS, STATE
from loopback_login.emulator.faults import Fault, Faults
from loopback_login.emulator.forms import MalformedBody, form_of
from loopback_login.emulator.oauth_errors import OAuthError, error_body, json_response
from loopback_login.emulator.pages import error_page
from loopback_login.emulator.state import EmulatorState, RecordedRequest
from loopback_login.errors import ConfigError

__all__ = ["create_app", "serve"]

logger = logging.getLogger(__name__)

ENDPOINTS = {
    "/restapi/oauth/authorize": "authorize",
    "/restapi/oauth/token": "token",
    "/restapi/oauth/revoke": "revoke",
    "/restapi/oauth/userinfo": "userinfo",
    "/restapi/oauth/jwks": "jwks",
    "/restapi/v1.0/account/~/extension/~": "extension",
    "/.well-known/openid-configuration": "discovery",
    "/emulator/signin": "signin",
    "/emulator/consent": "consent",
}
# RingCentral's "Auth" rate-limit group, and the endpoints faults can hit.
GUARDED = ("authorize", "token", "revoke")
# Token and revoke answer errors in JSON; authorize, sign-in and consent are
# the browser's, so a body they cannot read gets the error page.
JSON_ENDPOINTS = ("token", "revoke")
SECRET_FIELDS = ("password",)
# The names a browser on this machine uses for a loopback address.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# On every reply, as on the pages: nothing it sends is framed, sniffed or cached.
REPLY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(
    config: EmulatorConfig | None = None, *, clock: Clock = time.time
) -> web.Application:
    """A RingCentral OAuth emulator, for local testing and demos only.

    It speaks RingCentral's paths, fields and error bodies, but every user and
    client is made up and every secret is kept in memory in plain text. Tests
    reach its memory and failure knobs through ``app[STATE]`` and ``app[FAULTS]``.
    """
    app = web.Application(middlewares=[_check_host, _record, _guard, _oauth_errors])
    app.on_response_prepare.append(_secure)
    app[STATE] = EmulatorState(config or EmulatorConfig(), clock)
    app[FAULTS] = Faults()
    app.router.add_get("/restapi/oauth/authorize", authz.authorize)
    app.router.add_post("/restapi/oauth/authorize", authz.authorize)
    app.router.add_post("/emulator/signin", authz.signin)
    app.router.add_post("/emulator/consent", authz.consent)
    app.router.add_post("/restapi/oauth/token", tokens.token)
    app.router.add_post("/restapi/oauth/revoke", tokens.revoke)
    app.router.add_get("/restapi/oauth/userinfo", meta.userinfo)
    app.router.add_get("/restapi/v1.0/account/~/extension/~", meta.extension)
    app.router.add_post(api.PAGER_PATH, api.company_pager)
    app.router.add_get("/restapi/oauth/jwks", meta.jwks)
    app.router.add_get("/.well-known/openid-configuration", meta.discovery)
    return app


async def serve(
    config: EmulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock = time.time,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, str]:
    """Start the emulator on a loopback address; returns the runner and base URL
    (``https`` with ``ssl_context``, which holds the certificate to serve).

    The caller stops it with ``await runner.cleanup()``. Raises
    :class:`ConfigError` for a host that is not a loopback IP address, or a port
    that cannot be bound.
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigError(
            f"the emulator listens on loopback only, not on {host!r}",
            hint="use 127.0.0.1 or ::1",
        )
    # aiohttp's access log prints query strings, which can carry tokens
    # (revoke accepts ?token=); _record logs each request without them.
    runner = web.AppRunner(create_app(config, clock=clock), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {host} port {port}: {exc.strerror or exc}",
            hint="choose another port",
        ) from exc
    bound_port = runner.addresses[0][1]
    shown = f"[{host}]" if ":" in host else host
    scheme = "https" if ssl_context is not None else "http"
    return runner, f"{scheme}://{shown}:{bound_port}"


@web.middleware
async def _check_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A DNS-rebinding page reaches us under its own host name: refuse it, so no
    web page can read the emulator's answers (its pending sign-ins, its tokens)."""
    if not _host_allowed(request):
        return web.Response(status=421, text="Misdirected request\n")
    return await handler(request)


def _host_allowed(request: web.Request) -> bool:
    # The header itself: request.host would fall back to this machine's name.
    host = request.headers.get(hdrs.HOST, "").lower()
    sockname = request.get_extra_info("sockname")
    port = sockname[1] if sockname else None
    allowed = {f"{name}:{port}" for name in LOOPBACK_NAMES}
    if port == 80:
        allowed.update(LOOPBACK_NAMES)
    issuer = request.app[STATE].config.issuer
    if issuer:
        # A configured issuer is the name its operator gave it (a proxy in front).
        allowed.add(urlsplit(issuer).netloc.lower())
    return host in allowed


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in REPLY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def _record(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Note every known request for tests, and log it without secrets.

    This is where each body is parsed: one that does not parse is refused here
    with a 400, so the rate limiter and the handlers only meet parsed ones.
    """
    endpoint = ENDPOINTS.get(request.path)
    if endpoint is None:
        return await handler(request)
    params = {k: v for k, v in request.query.items()}
    try:
        params.update((await form_of(request)).items())
    except MalformedBody as exc:
        logger.info("%s %s: unreadable body (%s)", request.method, request.path, exc)
        handler = _refuse_malformed_body  # recorded and logged like any other
    auth_method = (
        detect_auth_method(request.headers, params)
        if endpoint in JSON_ENDPOINTS
        else None
    )
    for name in SECRET_FIELDS:
        params.pop(name, None)
    scheme = request.headers.get("Authorization", "").partition(" ")[0] or None
    request.app[STATE].record(
        RecordedRequest(endpoint, request.method, params, auth_method, scheme)
    )
    response = await handler(request)
    logger.info(
        "%s %s -> %d%s",
        request.method,
        request.path,
        response.status,
        f" (grant_type={params['grant_type']})" if "grant_type" in params else "",
    )
    return response


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Rate limits and armed faults, for the endpoints RingCentral limits."""
    endpoint = ENDPOINTS.get(request.path)
    if endpoint not in GUARDED:
        return await handler(request)
    state, faults = request.app[STATE], request.app[FAULTS]
    params = dict(request.query)
    params.update((await form_of(request)).items())
    claimed = claimed_client_id(request.headers, params)
    # Clients it does not know share one count, so made-up ids cannot grow it.
    key = claimed if state.config.client(claimed) is not None else ""
    wait = state.limiter.check(key)
    if wait is not None:
        message = "Request rate exceeded"
        error = {"errorCode": "CMN-301", "message": message}
        return json_response(
            {**error, "errors": [error]},
            status=429,
            headers={"Retry-After": str(wait)},
        )
    delay = faults.take_delay(endpoint)
    if delay > 0:
        await asyncio.sleep(delay)
    fault = faults.take_answer(endpoint)
    if fault is None:
        return await handler(request)
    return await _answer_fault(request, fault)


async def _answer_fault(request: web.Request, fault: Fault) -> web.StreamResponse:
    if fault.kind == "fail":
        body = error_body(fault.error, fault.description, fault.error_code)
        return json_response(body, status=fault.status)
    if fault.kind == "raw":
        return web.Response(
            status=fault.status,
            body=fault.body,
            headers={"Content-Type": fault.content_type},
        )
    # "truncate": promise more than we send, then hang up mid-body.
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.content_length = 4096
    await response.prepare(request)
    await response.write(b'{"access_token": "')
    if request.transport is not None:
        request.transport.close()
    return response


async def _refuse_malformed_body(request: web.Request) -> web.StreamResponse:
    error = OAuthError.malformed_body()
    if ENDPOINTS.get(request.path) in JSON_ENDPOINTS:
        return error.response()
    return error_page(
        "This request can't be read", error.description, error.error, error.code
    )


@web.middleware
async def _oauth_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except OAuthError as exc:
        return exc.response()
