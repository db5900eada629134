"""Token responses, expiry and the refresh margin."""

from __future__ import annotations

import pytest

from loopback_login.errors import TokenEndpointError
from loopback_login.protocol.tokens import TokenSet
from loopback_login.store.expiry import MAX_MARGIN, default_margin, needs_refresh

RINGCENTRAL_BODY = {
    "access_token": "AT",
    "token_type": "bearer",
    "expires_in": 3600,
    "refresh_token": "RT",
    "refresh_token_expires_in": 604800,
    "scope": "ReadAccounts",
    "owner_id": "101",
    "endpoint_id": "ep",
    "session_id": "s1",
    "session_expires_in": 7200,
    "session_idle_timeout": 900,
    "id_token": "h.p.s",
}


def test_ringcentral_token_info() -> None:
    """Every TokenInfo field is kept; lifetimes become absolute times."""
    tokens = TokenSet.from_response(RINGCENTRAL_BODY, now=1000.0)
    assert tokens.access_token == "AT"
    assert tokens.expires_at == 4600.0
    assert tokens.refresh_token_expires_at == 1000.0 + 604800
    assert tokens.session_expires_at == 8200.0
    assert (tokens.owner_id, tokens.endpoint_id, tokens.session_id) == (
        "101",
        "ep",
        "s1",
    )
    assert tokens.extra == {"session_idle_timeout": 900}
    assert TokenSet.from_json(tokens.to_json()) == tokens


def test_minimal_rfc6749_response() -> None:
    """Other servers send less: only access_token is required."""
    tokens = TokenSet.from_response({"access_token": "x"}, now=0.0)
    assert tokens.expires_at == 3600.0
    assert tokens.refresh_token is None
    assert tokens.refresh_expired(now=0.0)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"access_token": ""},
        {"access_token": "x", "token_type": "mac"},
        {"access_token": "x", "expires_in": "soon"},
        {"access_token": "x", "expires_in": -5},
    ],
)
def test_bad_responses(body: dict[str, object]) -> None:
    """A response we cannot use is an error, not a half-filled token set."""
    with pytest.raises(TokenEndpointError):
        TokenSet.from_response(body, now=0.0)


def test_repr_hides_tokens() -> None:
    """No token appears in a repr."""
    text = repr(TokenSet.from_response(RINGCENTRAL_BODY, now=0.0))
    assert "AT" not in text
    assert "RT" not in text
    assert "h.p.s" not in text


def test_margin_scales_with_lifetime() -> None:
    """A tenth of the lifetime, capped at five minutes."""
    assert default_margin(3600) == MAX_MARGIN
    assert default_margin(600) == 60
    assert default_margin(60) == 6


def test_short_tokens_do_not_refresh_every_call() -> None:
    """A 10-minute token is handed out for 9 minutes, then refreshed."""
    assert not needs_refresh(600, 0, now=539)
    assert needs_refresh(600, 0, now=541)


def test_min_valid_overrides() -> None:
    """--min-valid asks for a token that lives at least that long."""
    assert needs_refresh(3600, 0, now=0, min_valid=3600)
    assert not needs_refresh(3600, 0, now=3000, min_valid=0)
    assert needs_refresh(3600, 0, now=3600, min_valid=0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("access_token", "abc\r\nX-Injected: 1"),
        ("access_token", "abc\x1b]0;pwned\x07"),
        ("access_token", "abc def"),
        ("access_token", "abc=def"),
        ("access_token", "abcé"),
        ("access_token", "a" * (64 * 1024 + 1)),
        ("refresh_token", "rt\r\nX: y"),
        ("refresh_token", "rt with space"),
        ("refresh_token", 12345),
        ("id_token", "h.p.s\x1b[2K"),
        ("id_token", ["h", "p", "s"]),
    ],
)
def test_tokens_with_foreign_characters_are_refused(field: str, value: object) -> None:
    """An access token outside RFC 6750's b64token characters, or another token
    with spaces, controls or non-ASCII, refuses the whole response, and the message
    never quotes it."""
    with pytest.raises(TokenEndpointError) as caught:
        TokenSet.from_response({**RINGCENTRAL_BODY, field: value}, now=0.0)
    message = str(caught.value)
    assert caught.value.error == "invalid_response"
    assert field in message
    assert str(value)[:3] not in message.replace(field, "")
    assert message.isprintable()


def test_rfc6750_token_characters_pass() -> None:
    """Every b64token character, with trailing '=' padding, is accepted as is."""
    token = "AZaz09-._~+/=="
    tokens = TokenSet.from_response(
        {**RINGCENTRAL_BODY, "access_token": token, "id_token": "!#$%&'()*.~"},
        now=0.0,
    )
    assert tokens.access_token == token


@pytest.mark.parametrize("expires_in", [0, -5, True, False, "nan", float("inf"), 1e12])
def test_expires_in_must_be_a_positive_finite_number(expires_in: object) -> None:
    """expires_in of 0, a boolean, NaN or infinity is an invalid response."""
    with pytest.raises(TokenEndpointError, match="expires_in"):
        TokenSet.from_response({**RINGCENTRAL_BODY, "expires_in": expires_in}, now=0.0)


def test_a_min_valid_past_the_lifetime_is_met_by_a_fresh_token() -> None:
    """No token can live longer than the server makes them: one in the first tenth
    of its life satisfies any --min-valid; an older one is refreshed."""
    tokens = TokenSet.from_response({**RINGCENTRAL_BODY, "expires_in": 600}, now=0.0)
    assert tokens.lifetime == 600
    assert not tokens.needs_refresh(now=30, min_valid=3600)
    assert not tokens.needs_refresh(now=59, min_valid=600)
    assert tokens.needs_refresh(now=61, min_valid=3600)
    assert tokens.needs_refresh(now=100, min_valid=510)  # a fresh one would do
    assert not tokens.needs_refresh(now=100, min_valid=490)
