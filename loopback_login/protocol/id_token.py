"""ID token validation (OpenID Connect Core §3.1.3.7), on joserfc.

Numbered checks, each failing with a message that names the check, the value at
fault and its likely cause, as MSAL's ``oidc.py`` does:

1. the algorithm is on the allow-list (never ``none``);
2. the signature: RS/PS/ES through the provider's JWKS, HS256 with the client secret
   (or, for a public client that got the token straight from the token endpoint
   over TLS, no signature check at all);
3. ``iss`` is the expected issuer, and ``sub`` is there;
4. ``aud`` contains the client id, and ``azp`` is the client id when present (and
   it must be present with several audiences);
5. ``exp`` has not passed (with a small leeway);
6. ``iat`` (and ``nbf``) are not in the future (with the same leeway);
7. ``nonce`` is the one this login sent (at login only).
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, ExpiredTokenError, JoseError
from joserfc.jwk import Key, KeySet, OctKey

from loopback_login.environment import CLIENT_SECRET_ENV
from loopback_login.errors import IDTokenError, NonceMismatchError, printable

__all__ = [
    "ALLOWED_ALGORITHMS",
    "Identity",
    "UnknownKeyError",
    "token_algorithm",
    "validate_id_token",
]

ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256", "HS256")
"""Never ``none``. RingCentral advertises RS256 and HS256."""

DEFAULT_LEEWAY = 120
"""Seconds of clock skew forgiven on ``exp``/``iat`` (MSAL's figure)."""

_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
_CLOCK_HINT = "make sure this computer's time and time zone are correct"
# Which numbered check each registered claim belongs to.
_CLAIM_CHECKS = (("iss", 3), ("sub", 3), ("aud", 4), ("exp", 5), ("iat", 6), ("nbf", 6))


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
        UnknownKeyError: no key in ``keys`` can have signed it (refetch the JWKS once).
        NonceMismatchError: the nonce is not the one sent.
        IDTokenError: any other check, with the check named.
    """
    header = _segment(raw, 0)
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise IDTokenError(
            f"check 1 failed: the ID token's algorithm {_q(alg)} is not allowed "
            f"(allowed: {', '.join(ALLOWED_ALGORITHMS)}); likely cause: a forged "
            "token, or a server that does not sign its tokens",
            hint="check --server: a RingCentral server signs with RS256 or HS256",
        )
    claims, checked = _verify(
        raw, header, str(alg), keys, client_secret, trust_transport
    )
    _check_claims(claims, issuer=issuer, client_id=client_id, now=now, leeway=leeway)
    if nonce is not None and claims.get("nonce") != nonce:
        raise NonceMismatchError(
            "check 7 failed: the ID token's nonce is not the one this login sent; "
            "likely cause: a replayed or mixed-up sign-in response",
            hint="run the login again",
        )
    return Identity(claims=claims, signature_checked=checked)


def token_algorithm(raw: str) -> str | None:
    """The ``alg`` of a JWT's header, read without trusting anything else in it."""
    alg = _segment(raw, 0).get("alg")
    return alg if isinstance(alg, str) else None


def _segment(raw: str, index: int) -> dict[str, Any]:
    try:
        part = raw.split(".")[index]
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise IDTokenError("the ID token is not a JWT") from exc
    if not isinstance(value, dict):
        raise IDTokenError("the ID token is not a JWT")
    return value


def _verify(
    raw: str,
    header: Mapping[str, Any],
    alg: str,
    keys: KeySet | None,
    client_secret: str | None,
    trust_transport: bool,
) -> tuple[dict[str, Any], bool]:
    """Check 2: the claims and whether their signature was verified."""
    if alg == "HS256":
        if not client_secret:
            if trust_transport:
                return _segment(raw, 1), False
            raise IDTokenError(
                "check 2 failed: the HS256 ID token cannot be verified without the "
                "client secret, and it did not come over TLS",
                hint="use https for --server, or give the client secret",
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a short secret is the server's choice
            candidates: list[Key] = [OctKey.import_key(client_secret)]
        cause = "a wrong client secret"
        hint = f"check {CLIENT_SECRET_ENV} or --client-secret-file"
    else:
        candidates = _candidates(keys, header, alg)
        cause = "a token not issued by this server, or keys that changed"
        hint = "check --server and --jwks-uri"
    failure: BadSignatureError | None = None
    for key in candidates:
        try:
            return dict(jwt.decode(raw, key, [alg]).claims), True
        except BadSignatureError as exc:
            failure = exc
        except (JoseError, ValueError) as exc:
            raise IDTokenError(
                f"check 2 failed: the ID token is malformed ({exc})"
            ) from exc
    raise IDTokenError(
        f"check 2 failed: the ID token's signature does not verify; likely cause: {cause}",
        hint=hint,
    ) from failure


def _candidates(keys: KeySet | None, header: Mapping[str, Any], alg: str) -> list[Key]:
    """The JWKS keys that may have signed the token: its ``kid``'s, else every key
    of the algorithm's type."""
    hint = (
        "the provider may have rotated its keys, or --jwks-uri names another server's"
    )
    if keys is None or not keys.keys:
        raise UnknownKeyError(
            "check 2 failed: the provider published no signing keys", hint=hint
        )
    kid, kty = header.get("kid"), _KEY_TYPES[alg[:2]]
    found = [k for k in keys.keys if k.key_type == kty and kid in (None, k.kid)]
    if not found:
        what = f"key {_q(kid)}" if kid is not None else f"{kty} key"
        raise UnknownKeyError(
            f"check 2 failed: no {what} in the provider's JWKS", hint=hint
        )
    return found


def _check_claims(
    claims: Mapping[str, Any], *, issuer: str, client_id: str, now: float, leeway: int
) -> None:
    """Checks 3 to 6, in that order, through joserfc's claim validators."""
    registry = jwt.JWTClaimsRegistry(now=int(now), leeway=leeway, iss={"value": issuer})
    for name, number in _CLAIM_CHECKS:
        if name not in claims:
            if name == "nbf":
                continue
            raise IDTokenError(
                f"check {number} failed: the ID token lacks its {name!r} claim; "
                "likely cause: a server that does not follow OpenID Connect",
                hint="check --server",
            )
        value = claims[name]
        try:
            getattr(registry, f"validate_{name}")(value)
        except ExpiredTokenError as exc:
            raise IDTokenError(
                f"check 5 failed: the ID token expired at {_utc(value)}, "
                f"{int(now - value)} s before this computer's time (leeway {leeway} s); "
                "likely cause: clock skew, this computer's clock is wrong",
                hint=_CLOCK_HINT,
            ) from exc
        except JoseError as exc:
            raise _claim_error(name, number, value, issuer, now, leeway) from exc
        if name == "aud":
            _check_audience(claims, client_id)


def _claim_error(
    name: str, number: int, value: Any, issuer: str, now: float, leeway: int
) -> IDTokenError:
    if name == "iss" and isinstance(value, str):
        return IDTokenError(
            f"check 3 failed: the ID token's issuer {_q(value)} is not {issuer!r}; "
            "likely cause: a wrong issuer (--server or --issuer)",
            hint="check --server, or pass --issuer with the server's issuer",
        )
    if name in ("iat", "nbf") and isinstance(value, int | float):
        return IDTokenError(
            f"check 6 failed: the ID token is issued at {_utc(value)}, "
            f"{int(value - now)} s after this computer's time (leeway {leeway} s); "
            "likely cause: clock skew, this computer's clock is behind",
            hint=_CLOCK_HINT,
        )
    return IDTokenError(
        f"check {number} failed: the ID token's {name!r} claim is malformed; "
        "likely cause: a server that does not follow OpenID Connect",
        hint="check --server",
    )


def _check_audience(claims: Mapping[str, Any], client_id: str) -> None:
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else list(aud)
    if client_id not in audiences:
        raise IDTokenError(
            f"check 4 failed: the ID token is for {_q(audiences)}, not client "
            f"{client_id!r}; likely cause: a wrong --client-id",
            hint="check --client-id",
        )
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IDTokenError(
            f"check 4 failed: the ID token's azp {_q(azp)} is not client {client_id!r} "
            f"(audiences {_q(audiences)}); likely cause: a token issued to another app",
            hint="check --client-id",
        )


def _q(value: Any) -> str:
    """A claim from the token, quoted as it may be shown: short and printable."""
    return printable(repr(value))


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))
