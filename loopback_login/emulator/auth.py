"""Client authentication at the token and revoke endpoints.

Four methods, as RingCentral lists them: ``none`` (a public client names itself
with ``client_id`` and sends no Authorization header), ``client_secret_basic``
(RFC 6749 §2.3.1), and the RFC 7523 §2.2 assertions ``client_secret_jwt`` and
``private_key_jwt``. RFC 6749 §2.3 forbids using more than one at a time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_plus

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet, OctKey

from loopback_login.emulator.config import EmulatorClient, EmulatorConfig
from loopback_login.emulator.oauth_errors import OAuthError
from loopback_login.emulator.state import EmulatorState

__all__ = [
    "ASSERTION_TYPE",
    "authenticate_client",
    "claimed_client_id",
    "detect_auth_method",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
HMAC_ALGS = ("HS256", "HS384", "HS512")
PUBLIC_KEY_ALGS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
# Clocks differ between a client and us; RFC 7523 allows "a reasonably small" leeway.
LEEWAY = 30


def detect_auth_method(
    headers: Mapping[str, str], params: Mapping[str, str]
) -> str | None:
    """Which method a request used, judged from its shape alone (for the record)."""
    if headers.get("Authorization", "").lower().startswith("basic "):
        return "client_secret_basic"
    if "client_assertion" in params or "client_assertion_type" in params:
        try:
            alg = jws.extract_compact(params.get("client_assertion", "").encode())
            return (
                "client_secret_jwt"
                if alg.headers().get("alg", "").startswith("HS")
                else "private_key_jwt"
            )
        except (JoseError, ValueError):
            return "private_key_jwt"
    if "client_id" in params:
        return "none"
    return None


def claimed_client_id(headers: Mapping[str, str], params: Mapping[str, str]) -> str:
    """The client a request says it is, unverified: the key for rate limiting."""
    scheme, _, encoded = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
            return unquote_plus(decoded.partition(":")[0])
        except (binascii.Error, UnicodeDecodeError):
            return ""
    if "client_assertion" in params:
        claims = _unverified_claims(params["client_assertion"]) or {}
        return str(claims.get("iss", ""))
    return params.get("client_id", "")


def authenticate_client(
    headers: Mapping[str, str],
    params: Mapping[str, str],
    state: EmulatorState,
    *,
    audiences: tuple[str, ...],
) -> EmulatorClient:
    """The client this request authenticates as, or :class:`OAuthError`.

    ``audiences`` are the ``aud`` values an assertion may carry: the endpoint's
    URL and the issuer.
    """
    config = state.config
    header = headers.get("Authorization")
    assertion = "client_assertion" in params or "client_assertion_type" in params
    if header is not None and assertion:
        raise OAuthError.bad_auth_header("Use one client authentication method only")
    if header is not None:
        client = _basic(header, config)
    elif assertion:
        client = _assertion(params, state, audiences)
    else:
        client = _public(params, config)
    body_id = params.get("client_id")
    if body_id is not None and body_id != client.client_id:
        raise OAuthError.unknown_client(body_id)
    return client


def _basic(header: str, config: EmulatorConfig) -> EmulatorClient:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise OAuthError.bad_auth_header()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError.bad_auth_header() from exc
    if ":" not in decoded:
        raise OAuthError.bad_auth_header()
    raw_id, _, raw_secret = decoded.partition(":")
    # RFC 6749 §2.3.1: both halves are form-urlencoded before base64.
    client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    client = config.client(client_id)
    if client is None:
        raise OAuthError.unknown_client(client_id)
    if client.auth_method != "client_secret_basic":
        # A public client sending Basic with an empty secret: RingCentral says
        # "invalid client" (ringcentral-js issue #182), so do we.
        raise OAuthError.unknown_client(client_id)
    expected = (client.client_secret or "").encode()
    if not hmac.compare_digest(secret.encode(), expected):
        raise OAuthError.bad_credentials()
    return client


def _public(params: Mapping[str, str], config: EmulatorConfig) -> EmulatorClient:
    client_id = params.get("client_id")
    if not client_id:
        raise OAuthError.client_auth_required()
    client = config.client(client_id)
    if client is None:
        raise OAuthError.unknown_client(client_id)
    if "client_secret" in params:
        raise OAuthError.bad_credentials("client_secret_post is not supported")
    if client.auth_method != "none":
        raise OAuthError.client_auth_required()
    return client


def _assertion(
    params: Mapping[str, str], state: EmulatorState, audiences: tuple[str, ...]
) -> EmulatorClient:
    if params.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError.bad_credentials("Unsupported client_assertion_type")
    raw = params.get("client_assertion", "")
    claims = _unverified_claims(raw)
    if claims is None:
        raise OAuthError.bad_credentials("Malformed client assertion")
    client_id = claims.get("iss")
    client = state.config.client(client_id) if isinstance(client_id, str) else None
    if client is None:
        raise OAuthError.unknown_client(str(client_id))
    if client.auth_method == "client_secret_jwt":
        with warnings.catch_warnings():
            # A short demo secret is the client's choice; joserfc would warn.
            warnings.simplefilter("ignore")
            key: Any = OctKey.import_key(client.client_secret or "")
        algorithms: tuple[str, ...] = HMAC_ALGS
        keys = [key]
    elif client.auth_method == "private_key_jwt":
        keys = _registered_keys(client.jwks or {}, raw)
        algorithms = PUBLIC_KEY_ALGS
    else:
        raise OAuthError.bad_credentials(
            f"Client {client.client_id} does not authenticate with assertions"
        )
    try:
        token = _decode(raw, keys, algorithms)
        jwt.JWTClaimsRegistry(
            now=lambda: int(state.clock()),
            leeway=LEEWAY,
            iss={"essential": True, "value": client.client_id},
            sub={"essential": True, "value": client.client_id},
            aud={"essential": True, "values": list(audiences)},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as exc:
        raise OAuthError.bad_credentials(f"Invalid client assertion: {exc}") from exc
    if not state.use_jti(client.client_id, token.claims["jti"], token.claims["exp"]):
        raise OAuthError.bad_credentials("Client assertion was already used")
    return client


_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def _registered_keys(jwks: dict[str, Any], raw: str) -> list[Any]:
    """The client's keys that may have signed ``raw``: the one its ``kid`` names,
    or without a ``kid`` every key of the algorithm's type (RFC 7523 needs no kid,
    and a client may register several keys while it rotates them)."""
    try:
        header = jws.extract_compact(raw.encode()).headers()
    except (JoseError, ValueError) as exc:
        raise OAuthError.bad_credentials("Malformed client assertion") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        registered = KeySet.import_key_set(jwks).keys  # type: ignore[arg-type]
    kid, alg = header.get("kid"), str(header.get("alg", ""))
    if alg not in PUBLIC_KEY_ALGS:
        raise OAuthError.bad_credentials(
            f"Invalid client assertion: algorithm {alg!r} is not allowed"
        )
    if kid is not None:
        keys = [k for k in registered if k.kid == kid]
    else:
        keys = [k for k in registered if k.key_type == _KEY_TYPES.get(alg[:2])]
    if not keys:
        raise OAuthError.bad_credentials(
            "Invalid client assertion: no registered key matches its kid or alg"
        )
    return keys


def _decode(raw: str, keys: list[Any], algorithms: tuple[str, ...]) -> jwt.Token:
    """The assertion verified with the first of ``keys`` whose signature matches."""
    for key in keys[:-1]:
        try:
            return jwt.decode(raw, key, algorithms=list(algorithms))
        except BadSignatureError:
            continue
    return jwt.decode(raw, keys[-1], algorithms=list(algorithms))


def _unverified_claims(raw: str) -> dict[str, Any] | None:
    """An assertion's claims before any check: only to learn whose key to use."""
    try:
        claims = json.loads(jws.extract_compact(raw.encode()).payload or b"")
    except (JoseError, ValueError):
        return None
    return claims if isinstance(claims, dict) else None
