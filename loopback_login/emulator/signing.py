"""The emulator's ID token signing: RS256 with a rotatable key, or HS256.

RingCentral signs ID tokens with RS256 (verifiable through the JWKS) or HS256
with the client secret. A client without a secret cannot check an HS256 token;
the emulator then signs with a secret of its own, which no client knows.
"""

from __future__ import annotations

import secrets
import warnings
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

__all__ = ["ID_TOKEN_ALGS", "SigningKeys"]

ID_TOKEN_ALGS = ("RS256", "HS256")


class SigningKeys:
    """One RSA key at a time; the JWKS serves only the current one.

    The key is generated lazily because 2048-bit RSA takes a noticeable moment and
    most test apps never issue an ID token.
    """

    def __init__(self) -> None:
        self._key: RSAKey | None = None
        self.server_secret = secrets.token_urlsafe(32)
        """Signs HS256 ID tokens of clients that have no secret."""

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

    def sign(
        self, claims: dict[str, Any], *, alg: str = "RS256", secret: str | None = None
    ) -> str:
        """A compact JWT carrying ``claims``: RS256 with our ``kid``, or HS256 with
        ``secret`` (the client's), else our own secret."""
        if alg == "HS256":
            with warnings.catch_warnings():
                # A short demo secret is the client's choice; joserfc would warn.
                warnings.simplefilter("ignore")
                key = OctKey.import_key(secret or self.server_secret)
            return jwt.encode({"alg": "HS256"}, claims, key)
        return jwt.encode({"alg": "RS256", "kid": self.kid}, claims, self.key)
