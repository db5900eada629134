"""The emulator's ID token signing key: RS256, made on first use, rotatable."""

from __future__ import annotations

import secrets
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

__all__ = ["SigningKeys"]


class SigningKeys:
    """One RSA key at a time; the JWKS serves only the current one.

    The key is generated lazily because 2048-bit RSA takes a noticeable moment and
    most test apps never issue an ID token.
    """

    def __init__(self) -> None:
        self._key: RSAKey | None = None

    @property
    def key(self) -> RSAKey:
        if self._key is None:
            self._key = RSAKey.generate_key(
                2048,
                parameters={
                    "kid": secrets.token_urlsafe(8),
                    "use": "sig",
                    "alg": "RS256",
                },
            )
        return self._key

    @property
    def kid(self) -> str:
        return str(self.key.kid)

    def rotate(self) -> str:
        """Replace the key with a new one; returns the new ``kid``."""
        self._key = None
        return self.kid

    def jwks(self) -> dict[str, Any]:
        """The public JWK set (RFC 7517 §5)."""
        return {"keys": [dict(self.key.as_dict(private=False))]}

    def sign(self, claims: dict[str, Any]) -> str:
        """A compact RS256 JWT carrying ``claims``, with our ``kid``."""
        return jwt.encode({"alg": "RS256", "kid": self.kid}, claims, self.key)
