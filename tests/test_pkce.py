"""PKCE pairs, state and nonce."""

from __future__ import annotations

import re

import pkce as pkce_package
import pytest

from loopback_login.errors import ConfigError
from loopback_login.protocol.pkce import PkcePair, new_nonce, new_state

UNRESERVED = re.compile(r"^[A-Za-z0-9\-._~]+$")


def test_rfc7636_appendix_b_vector() -> None:
    """The pkce package computes RFC 7636 Appendix B's S256 challenge."""
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert (
        pkce_package.get_code_challenge(verifier)
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_s256_pair() -> None:
    """An S256 pair has a 128-character unreserved verifier and its hash as challenge."""
    pair = PkcePair.generate()
    assert pair.code_challenge_method == "S256"
    assert len(pair.code_verifier) == 128
    assert UNRESERVED.match(pair.code_verifier)
    assert pair.code_challenge == pkce_package.get_code_challenge(pair.code_verifier)
    assert pair.code_challenge != pair.code_verifier


def test_plain_pair() -> None:
    """A plain pair sends the verifier itself as the challenge."""
    pair = PkcePair.generate("plain")
    assert pair.code_challenge == pair.code_verifier
    assert pair.code_challenge_method == "plain"


def test_unknown_method_refused() -> None:
    """An unknown method is a configuration error, not a silent downgrade."""
    with pytest.raises(ConfigError, match="S256 or plain"):
        PkcePair.generate("S512")


def test_repr_hides_the_verifier() -> None:
    """The verifier never shows in a repr."""
    pair = PkcePair.generate()
    assert pair.code_verifier not in repr(pair)
    assert pair.code_challenge not in repr(pair)


def test_state_and_nonce_are_fresh_and_long() -> None:
    """Every login gets its own unguessable state and nonce."""
    states = {new_state() for _ in range(100)}
    nonces = {new_nonce() for _ in range(100)}
    assert len(states) == 100
    assert len(nonces) == 100
    assert all(len(s) >= 43 and UNRESERVED.match(s) for s in states | nonces)
