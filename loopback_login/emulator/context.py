"""What every handler takes from the app: the typed app keys and the issuer."""

from __future__ import annotations

from aiohttp import web

from loopback_login.emulator.faults import Faults
from loopback_login.emulator.state import EmulatorState

__all__ = ["FAULTS", "STATE", "issuer_of"]

STATE = web.AppKey("STATE", EmulatorState)
FAULTS = web.AppKey("FAULTS", Faults)


def issuer_of(request: web.Request) -> str:
    """The configured issuer, else the scheme and host this request came to.

    Tests bind port 0 and learn the port afterwards, so a fixed issuer would be
    wrong for them; discovery, ID tokens and ``iss`` all use this one value.
    """
    configured = request.app[STATE].config.issuer
    return configured or f"{request.scheme}://{request.host}"
