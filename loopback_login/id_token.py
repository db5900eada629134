"""ID token validation (OpenID Connect Core §3.1.3.7), on joserfc.

Numbered checks, each failing with a message that names the check and its likely
cause, as MSAL's ``oidc.py`` does.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, KeySet, OctKey

from .errors import IDTokenError, NonceMismatchError

__all__ = ["ALLOWED_ALGORITHMS", "Identity", "UnknownKeyError", "validate_id_token"]

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "HS256")
"""Never ``none``. RingCentral advertises RS256 and HS256."""

DEFAULT_LEEWAY = 120
"""Seconds of clock skew forgiven on ``exp``/``iat`` (MSAL's figure)."""


class UnknownKeyError(IDTokenError):
    """The token names a ``kid`` the JWKS does not have: fetch the JWKS again."""


@dataclass(frozen=True)
class Identity:
    """Who signed in, from a validated ID token."""

    claims: Mapping[str, Any]
    signature_checked: bool

    @property
    def subject(self) -> str:
        return str(self.claims.get("sub", ""))

    @property
    def display_name(self) -> str:
        """Name and e-mail where the token has them, else the subject."""
        given = self.claims.get("given_name") or ""
        family = self.claims.get("family_name") or ""
        name = str(self.claims.get("name") or f"{given} {family}").strip()
        email = str(self.claims.get("email") or "")
        if name and email:
            return f"{name} <{email}>"
        return name or email or f"user {self.subject}"


def _segment(raw: str, index: int) -> dict[str, Any]:
    try:
        part = raw.split(".")[index]
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise IDTokenError("the ID token is not a JWT") from exc
    if not isinstance(value, dict):
        raise IDTokenError("the ID token is not a JWT")
    return value


def validate_id_token(
    raw: str,
    *,
    keys: KeySet | None,
    issuer: str,
    client_id: str,
    now: float,
    nonce: str | None = None,
    client_secret: str | None = None,
    trust_transport: bool = False,
    leeway: int = DEFAULT_LEEWAY,
) -> Identity:
    """Validate ``raw`` and return who it names.

    ``keys`` is the provider's JWKS, for asymmetric algorithms. HS256 tokens are
    signed with the client secret; a public client has none, and OIDC Core §3.1.3.7
    (6) lets it rely on TLS instead when the token came straight from the token
    endpoint: pass ``trust_transport=True`` only in that case. ``nonce`` is checked
    on login and not on refresh, where RingCentral does not repeat it.

    Raises:
        UnknownKeyError: the ``kid`` is not in ``keys`` (refetch the JWKS once).
        NonceMismatchError: the nonce is not the one sent.
        IDTokenError: any other check, with the check named.
    """
    # 1. The algorithm, from the header, before trusting anything else.
    header = _segment(raw, 0)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise IDTokenError(
            f"check 1 failed: the ID token's algorithm {alg!r} is not allowed",
            hint="the server signed the token with an algorithm this tool refuses",
        )
    # 2. The signature.
    signature_checked = True
    try:
        if alg == "HS256":
            if client_secret:
                claims = jwt.decode(raw, OctKey.import_key(client_secret), [alg]).claims
            elif trust_transport:
                signature_checked = False
                claims = _segment(raw, 1)
            else:
                raise IDTokenError(
                    "check 2 failed: the HS256 ID token cannot be verified without "
                    "the client secret, and did not come over TLS",
                    hint="use https for --server, or give the client secret",
                )
        else:
            claims = jwt.decode(raw, _pick_key(keys, header, alg), [alg]).claims
    except BadSignatureError as exc:
        raise IDTokenError(
            "check 2 failed: the ID token's signature does not verify",
            hint="the token was not issued by this server, or its keys changed; "
            "check --server and --jwks-uri",
        ) from exc
    except JoseError as exc:
        raise IDTokenError(
            f"check 2 failed: the ID token is malformed ({exc})"
        ) from exc
    _check_claims(claims, issuer=issuer, client_id=client_id, now=now, leeway=leeway)
    # 7. The nonce ties the token to this login (OIDC Core §3.1.3.7 (11)).
    if nonce is not None and claims.get("nonce") != nonce:
        raise NonceMismatchError(
            "check 7 failed: the ID token's nonce is not the one this login sent",
            hint="the token belongs to another login; run the login again",
        )
    return Identity(claims=claims, signature_checked=signature_checked)


def _pick_key(keys: KeySet | None, header: Mapping[str, Any], alg: str) -> Key:
    if keys is None or not keys.keys:
        raise UnknownKeyError("check 2 failed: the provider published no signing keys")
    kid = header.get("kid")
    candidates = [k for k in keys.keys if kid is None or k.kid == kid]
    if not candidates:
        raise UnknownKeyError(f"check 2 failed: no key {kid!r} in the provider's JWKS")
    return candidates[0]


def _check_claims(
    claims: Mapping[str, Any], *, issuer: str, client_id: str, now: float, leeway: int
) -> None:
    registry = jwt.JWTClaimsRegistry(
        now=int(now),
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        aud={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(dict(claims))
    except ExpiredTokenError as exc:
        raise IDTokenError(
            "check 5 failed: the ID token has expired",
            hint="make sure this computer's clock and time zone are correct",
        ) from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        name = getattr(exc, "claim", "")
        if name == "iss":
            raise IDTokenError(
                f"check 3 failed: the ID token's issuer {claims.get('iss')!r} "
                f"is not {issuer!r}",
                hint="check --server or --issuer",
            ) from exc
        if name == "iat":
            raise IDTokenError(
                "check 5 failed: the ID token is issued in the future",
                hint="make sure this computer's clock and time zone are correct",
            ) from exc
        raise IDTokenError(
            f"check 3 failed: the ID token's {name or 'claims'} ({exc})"
        ) from exc
    # 4. The audience must name us; with several, azp must be us (§3.1.3.7 (3-5)).
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else list(aud)
    if client_id not in audiences:
        raise IDTokenError(
            "check 4 failed: the ID token was issued to another client",
            hint="check --client-id",
        )
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise IDTokenError("check 4 failed: the ID token's azp is not this client")
    # 6. iat not in the future beyond the leeway (joserfc checks iat's type only).
    if float(claims["iat"]) > now + leeway:
        raise IDTokenError(
            "check 6 failed: the ID token is issued in the future",
            hint="make sure this computer's clock and time zone are correct",
        )
