"""Per-login secrets: PKCE (RFC 7636), ``state`` and ``nonce``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

import pkce as _pkce

from loopback_login.errors import ConfigError

__all__ = ["PkceMethod", "PkcePair", "new_nonce", "new_state"]

PkceMethod = Literal["S256", "plain"]


def new_state() -> str:
    """A fresh, unguessable ``state`` (RFC 6749 §10.12): 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_nonce() -> str:
    """A fresh ``nonce`` for the ID token (OIDC Core §3.1.2.1)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, repr=False)
class PkcePair:
    """A ``code_verifier`` and the ``code_challenge`` sent with it."""

    code_verifier: str
    code_challenge: str
    code_challenge_method: PkceMethod

    @classmethod
    def generate(cls, method: str = "S256") -> PkcePair:
        """Make a 128-character verifier (RFC 7636 §4.1) and its challenge.

        ``S256`` is the default; ``plain`` only where a server cannot hash. The method
        is always sent, because RingCentral assumes ``plain`` when it is missing.
        """
        verifier = _pkce.generate_code_verifier(128)
        if method == "S256":
            return cls(verifier, _pkce.get_code_challenge(verifier), "S256")
        if method == "plain":
            return cls(verifier, verifier, "plain")
        raise ConfigError(f"unknown PKCE method {method!r}; use S256 or plain")

    def __repr__(self) -> str:
        # The verifier is a secret: it must never reach a log line or a traceback.
        return f"PkcePair(code_challenge_method={self.code_challenge_method!r})"
