"""A local emulator of RingCentral's OAuth 2.0 / OpenID Connect endpoints, for
local testing and demos only.

It serves authorize (with a real sign-in and consent page), token, revoke,
userinfo, discovery and JWKS on RingCentral's paths, with RingCentral's fields and
error bodies, so a whole loopback login runs offline. Nothing here is secure
enough to guard anything real.

::

    app = create_app(EmulatorConfig(auto_approve=True), clock=frozen_clock)
    server = await aiohttp_server(app)
    app[FAULTS].fail("token", status=503)
    assert app[STATE].count("token", grant_type="refresh_token") == 1
"""

from __future__ import annotations

from loopback_login.emulator.app import create_app, serve
from loopback_login.emulator.clients_file import load_clients_file
from loopback_login.emulator.config import (
    DEMO_CLIENT_ID,
    DEMO_CONFIDENTIAL_CLIENT_ID,
    DEMO_CONFIDENTIAL_SECRET,
    DEMO_JWT_KEY,
    EmulatorClient,
    EmulatorConfig,
    EmulatorUser,
)
from loopback_login.emulator.context import FAULTS, STATE
from loopback_login.emulator.faults import Faults
from loopback_login.emulator.jwt_credentials import DEMO_JWT, JWT_BEARER, issue_jwt
from loopback_login.emulator.state import EmulatorState, RecordedRequest

__all__ = [
    "DEMO_CLIENT_ID",
    "DEMO_CONFIDENTIAL_CLIENT_ID",
    "DEMO_CONFIDENTIAL_SECRET",
    "DEMO_JWT",
    "DEMO_JWT_KEY",
    "FAULTS",
    "JWT_BEARER",
    "STATE",
    "EmulatorClient",
    "EmulatorConfig",
    "EmulatorState",
    "EmulatorUser",
    "Faults",
    "RecordedRequest",
    "create_app",
    "issue_jwt",
    "load_clients_file",
    "serve",
]
