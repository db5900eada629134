"""The OpenID Connect step of a token response: verify its ID token, fetching the
provider's keys only when the token's algorithm needs them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loopback_login.protocol.discovery import ProviderKeys, fetch_provider_keys
from loopback_login.protocol.id_token import (
    Identity,
    UnknownKeyError,
    token_algorithm,
    validate_id_token,
)
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.urls import is_loopback_url
from loopback_login.protocol.wiring import Wiring

__all__ = ["IdentityCheck", "check_id_token"]


@dataclass(frozen=True)
class IdentityCheck:
    """The keys to cache (fetched or still fresh) and who signed in, if known."""

    keys: ProviderKeys | None
    identity: dict[str, Any] | None


async def check_id_token(
    id_token: str | None,
    *,
    provider: ProviderConfig,
    wiring: Wiring,
    cached: ProviderKeys | None,
    nonce: str | None,
) -> IdentityCheck:
    """Validate ``id_token`` if there is one (OIDC Core §3.1.3.7).

    HS256 needs no keys: it is checked with the provider's client secret, or
    trusted to the transport. Otherwise the JWKS comes from the cache while fresh, and is fetched
    again once when no key fits, since the provider may have rotated its keys.
    """
    if id_token is None:
        return IdentityCheck(cached, None)
    now = wiring.clock()
    keys = cached if cached is not None and cached.is_fresh(now) else None
    needs_keys = token_algorithm(id_token) != "HS256"
    for attempt in (1, 2):
        if keys is None and needs_keys:
            keys = await fetch_provider_keys(wiring, provider)
        try:
            identity = validate_id_token(
                id_token,
                keys=keys.key_set() if keys is not None else None,
                issuer=provider.expected_issuer,
                client_id=provider.client_id,
                now=now,
                nonce=nonce,
                client_secret=provider.client_secret,
                trust_transport=_over_tls(provider.token_endpoint),
            )
        except UnknownKeyError:
            if attempt == 2:
                raise
            keys = None
            continue
        return IdentityCheck(keys, _record(identity))
    raise AssertionError("unreachable")


def _over_tls(url: str) -> bool:
    """HTTPS, or the loopback emulator (nothing crosses a network)."""
    return url.startswith("https://") or is_loopback_url(url)


def _record(identity: Identity) -> dict[str, Any]:
    return {
        "sub": identity.subject,
        "name": identity.display_name,
        "email": identity.claims.get("email"),
        "signature_checked": identity.signature_checked,
    }
