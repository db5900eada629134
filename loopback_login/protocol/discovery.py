"""The provider's OpenID metadata and signing keys, fetched and cached.

RingCentral publishes ``/.well-known/openid-configuration`` and ``/restapi/oauth/jwks``.
A server without a discovery document still works: the JWKS then comes from
``--jwks-uri`` or RingCentral's path. Both are kept in the profile's cache entry for a
day, so ``token`` does not fetch them on each refresh.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from loopback_login.errors import ConfigError, DiscoveryError, NetworkError, printable
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.urls import check_url
from loopback_login.protocol.wiring import Wiring

__all__ = [
    "KEYS_TTL",
    "MAX_DISCOVERY_BYTES",
    "MAX_JWKS_BYTES",
    "ProviderKeys",
    "fetch_provider_keys",
]

logger = logging.getLogger(__name__)

KEYS_TTL = 24 * 3600.0


@dataclass(frozen=True)
class ProviderKeys:
    """The issuer and JWKS as fetched at ``fetched_at``."""

    issuer: str
    jwks_uri: str
    jwks: Mapping[str, Any]
    fetched_at: float

    def key_set(self) -> KeySet:
        try:
            return KeySet.import_key_set(dict(self.jwks))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise DiscoveryError(
                f"the provider's JWKS at {printable(self.jwks_uri, 200)} is malformed",
                hint="check --jwks-uri",
            ) from exc

    def is_fresh(self, now: float) -> bool:
        return 0 <= now - self.fetched_at < KEYS_TTL

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "jwks": dict(self.jwks),
            "fetched_at": self.fetched_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ProviderKeys | None:
        if not data:
            return None
        try:
            return cls(
                issuer=str(data["issuer"]),
                jwks_uri=str(data["jwks_uri"]),
                jwks=dict(data["jwks"]),
                fetched_at=float(data["fetched_at"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError):
            return None  # a damaged copy costs only a refetch


MAX_DISCOVERY_BYTES = 256 * 1024
"""A discovery document is a few KiB; RingCentral's is under 4."""
MAX_JWKS_BYTES = 1024 * 1024
"""A key set of a thousand RSA keys still fits."""


async def _get_json(
    wiring: Wiring, url: str, limit: int, what: str
) -> dict[str, Any] | None:
    """GET ``url`` as JSON, at most ``limit`` bytes; ``None`` for a 404.

    The URL must pass the URL policy even when the server published it, and a
    redirect is an error: it could lead anywhere, over anything.
    """
    try:
        check_url(url, what)
    except ConfigError as exc:
        raise DiscoveryError(
            f"not fetched: {exc.message}", hint="check --server and --jwks-uri"
        ) from exc
    shown = printable(url, 200)  # how the URL is quoted in messages
    try:
        async with wiring.http.get(
            url,
            headers={"Accept": "application/json"},
            allow_redirects=False,
            timeout=wiring.request_timeout(),
        ) as response:
            if response.status == 404:
                return None
            if 300 <= response.status < 400:
                raise DiscoveryError(
                    f"{shown} answered HTTP {response.status}, a redirect; redirects "
                    "are not followed",
                    hint="give the URL the server redirects to, if you trust it",
                )
            if response.status != 200:
                raise DiscoveryError(f"{shown} answered HTTP {response.status}")
            raw = await _read_capped(response, shown, limit)
        body = json.loads(raw)
    except NetworkError:
        raise  # a TLS or proxy failure, already named with its fix
    except (aiohttp.ClientError, TimeoutError, ValueError, RecursionError) as exc:
        raise DiscoveryError(
            f"cannot fetch {shown}: {type(exc).__name__}",
            hint="check the network, --server and --jwks-uri",
        ) from exc
    if not isinstance(body, dict):
        raise DiscoveryError(f"{shown} did not return a JSON object")
    return body


async def _read_capped(response: aiohttp.ClientResponse, url: str, limit: int) -> bytes:
    """The body, refused as soon as it passes ``limit`` bytes (never buffered whole)."""
    too_big = DiscoveryError(
        f"{url} answered more than {limit // 1024} KiB; that is no discovery "
        "document or key set",
        hint="check --server and --jwks-uri",
    )
    if (response.content_length or 0) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch_provider_keys(wiring: Wiring, config: ProviderConfig) -> ProviderKeys:
    """Discovery (when published), then the JWKS.

    The discovery document's ``issuer`` must be the one we expect (OpenID Discovery
    §4.3), or a mix-up could pass another server's tokens as this one's.
    """
    now = wiring.clock()
    issuer = config.expected_issuer
    jwks_uri = config.jwks_uri
    if jwks_uri is None:
        metadata = await _get_json(
            wiring, config.discovery_url, MAX_DISCOVERY_BYTES, "the discovery URL"
        )
        if metadata is not None:
            published = str(metadata.get("issuer", "")).rstrip("/")
            if published != issuer:
                raise DiscoveryError(
                    "the server's discovery document names issuer "
                    f"{printable(published, 200)!r}, expected {issuer!r}",
                    hint="check --server, or pass --issuer if the server is right",
                )
            jwks_uri = metadata.get("jwks_uri")
            if jwks_uri is not None and not isinstance(jwks_uri, str):
                raise DiscoveryError(
                    "the server's discovery document has a jwks_uri that is not text",
                    hint="pass --jwks-uri with the provider's key set",
                )
        jwks_uri = jwks_uri or f"{config.server}/restapi/oauth/jwks"
    jwks = await _get_json(wiring, jwks_uri, MAX_JWKS_BYTES, "the JWKS URL (jwks_uri)")
    if jwks is None or not isinstance(jwks.get("keys"), list):
        raise DiscoveryError(
            f"no JWKS at {jwks_uri}", hint="pass --jwks-uri with the provider's key set"
        )
    logger.debug("fetched %d signing keys from %s", len(jwks["keys"]), jwks_uri)
    return ProviderKeys(
        issuer=issuer, jwks_uri=str(jwks_uri), jwks=jwks, fetched_at=now
    )
