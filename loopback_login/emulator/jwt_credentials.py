"""JWT credentials, as a RingCentral user creates them in the developer console for
scripts and servers, and what the token endpoint checks before it exchanges one
(``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``, RFC 7523 §2.1).

What RingCentral's credential carries is not public, and the client treats it as
opaque. The emulator's are HS256 JWTs signed with its own key: the user's extension
id as ``sub``, an optional ``exp``, a ``jti`` it can revoke, and optionally the
apps it is restricted to (the console's "only specific apps" choice).

The default key is public and fixed, so the credentials it signs survive a restart
of the emulator and ``loopback-login emulator --issue-jwt`` works beside a running
one. Nothing signed with it guards anything real.
"""

from __future__ import annotations

import json
import secrets
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from loopback_login.emulator.config import DEMO_JWT_KEY, DEMO_USER, EmulatorUser
from loopback_login.emulator.oauth_errors import OAuthError

__all__ = [
    "DEMO_JWT",
    "DEMO_JWT_KEY",
    "JWT_BEARER",
    "JwtCredential",
    "issue_jwt",
    "jti_of",
    "read_jwt",
]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_ISSUER = "loopback-login-emulator"
# Clocks differ between the console that made a credential and us.
_LEEWAY = 30


def _key(secret: str) -> OctKey:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short key is the emulator's choice
        return OctKey.import_key(secret)


def issue_jwt(
    user: EmulatorUser,
    *,
    key: str = DEMO_JWT_KEY,
    now: float,
    ttl: float | None = None,
    client_ids: Iterable[str] | None = None,
    jti: str | None = None,
) -> str:
    """A JWT credential for ``user``: no expiry unless ``ttl``, every app unless
    ``client_ids`` names the only ones that may exchange it."""
    claims: dict[str, Any] = {
        "iss": _ISSUER,
        "sub": user.owner_id,
        "iat": int(now),
        "jti": jti or secrets.token_urlsafe(16),
    }
    if ttl is not None:
        claims["exp"] = int(now + ttl)
    if client_ids is not None:
        claims["client_ids"] = sorted(client_ids)
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, claims, _key(key))


DEMO_JWT = issue_jwt(DEMO_USER, now=1767225600, jti="demo")
"""The demo user's credential: no expiry, any app, signed with the public key."""


@dataclass(frozen=True)
class JwtCredential:
    """A credential that passed every check: whose it is, and its id."""

    user: EmulatorUser
    jti: str


def read_jwt(
    raw: str,
    *,
    key: str,
    users: Iterable[EmulatorUser],
    client_id: str,
    revoked: Iterable[str],
    now: float,
) -> JwtCredential:
    """The credential ``raw`` stands for, if ``client_id`` may exchange it now.

    RingCentral documents no error code for a refused credential: OAU-213 ("not
    found") stands for one that is malformed, forged, unknown or revoked, OAU-210
    for one that has expired, as they do for its other tokens.
    """
    try:
        token = jwt.decode(raw, _key(key), algorithms=["HS256"])
    except (JoseError, ValueError) as exc:
        raise _refused("Invalid JWT token") from exc
    claims = token.claims
    jti, sub = claims.get("jti"), claims.get("sub")
    if claims.get("iss") != _ISSUER or not isinstance(jti, str):
        raise _refused("Invalid JWT token")
    if jti in set(revoked):
        raise _refused("JWT token is revoked")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int) or exp + _LEEWAY <= now):
        raise OAuthError("invalid_grant", "JWT token is expired", code="OAU-210")
    allowed = claims.get("client_ids")
    if allowed is not None and client_id not in allowed:
        raise _refused("JWT token is not issued for this application")
    user = next((u for u in users if u.owner_id == sub), None)
    if user is None:
        raise _refused("JWT token owner not found")
    return JwtCredential(user=user, jti=jti)


def jti_of(raw: str) -> str:
    """The id of one of our credentials, read without checking it."""
    payload = jws.extract_compact(raw.encode()).payload or b"{}"
    return str(json.loads(payload).get("jti", ""))


def _refused(why: str) -> OAuthError:
    return OAuthError("invalid_grant", why, code="OAU-213")
