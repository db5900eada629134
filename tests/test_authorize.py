"""The authorization request and the checks on its callback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from loopback_login.errors import (
    AuthorizationError,
    IssuerMismatchError,
    StateMismatchError,
)
from loopback_login.protocol.authorize import (
    build_authorization_params,
    build_authorization_url,
    parse_callback,
)
from loopback_login.protocol.pkce import PkcePair
from loopback_login.protocol.provider import ProviderConfig

SERVER = "https://platform.ringcentral.com"


def provider(**kwargs: object) -> ProviderConfig:
    return ProviderConfig(server=SERVER, client_id="app-id", **kwargs)  # type: ignore[arg-type]


def test_params_carry_pkce_state_nonce_and_seed_fields() -> None:
    """Every seed parameter given is sent, next to the protocol ones."""
    pair = PkcePair.generate()
    config = provider(
        scope="openid ReadAccounts",
        authorize_params={
            "display": "popup",
            "prompt": "login consent",
            "ui_locales": "fr-FR",
            "locale_id": "fr-FR",
            "ui_options": "hide_logo",
            "login_hint": "a@b.c",
            "brand_id": "1210",
        },
    )
    params = build_authorization_params(
        config, redirect_uri="http://127.0.0.1:5/cb", state="S", nonce="N", pkce=pair
    )
    assert params["response_type"] == "code"
    assert params["client_id"] == "app-id"
    assert params["redirect_uri"] == "http://127.0.0.1:5/cb"
    assert params["state"] == "S"
    assert params["nonce"] == "N"
    assert params["code_challenge"] == pair.code_challenge
    assert params["code_challenge_method"] == "S256"
    assert params["scope"] == "openid ReadAccounts"
    assert params["brand_id"] == "1210"
    assert params["prompt"] == "login consent"
    assert pair.code_verifier not in params.values()


def test_method_is_sent_even_for_plain() -> None:
    """code_challenge_method is always explicit: RingCentral assumes plain without it."""
    params = build_authorization_params(
        provider(pkce_method="plain"),
        redirect_uri="http://127.0.0.1:5/cb",
        state="S",
        nonce="N",
        pkce=PkcePair.generate("plain"),
    )
    assert params["code_challenge_method"] == "plain"


def test_url_round_trips_the_params() -> None:
    """The GET URL is the endpoint with the params in its query, encoded."""
    url = build_authorization_url(
        f"{SERVER}/restapi/oauth/authorize", {"scope": "a b", "state": "x&y=z"}
    )
    parts = urlsplit(url)
    assert parts.path == "/restapi/oauth/authorize"
    assert parse_qs(parts.query) == {"scope": ["a b"], "state": ["x&y=z"]}


def test_callback_code() -> None:
    """A callback with our state yields its code."""
    assert (
        parse_callback(
            {"state": "s", "code": "c"}, expected_state="s", expected_issuer=None
        )
        == "c"
    )


@pytest.mark.parametrize(
    "query",
    [{"code": "c"}, {"state": "other", "code": "c"}, {"state": "", "code": "c"}],
)
def test_callback_state_mismatch(query: dict[str, str]) -> None:
    """A missing or wrong state is refused before anything else is read."""
    with pytest.raises(StateMismatchError):
        parse_callback(query, expected_state="s", expected_issuer=None)


def test_forged_error_does_not_end_the_login() -> None:
    """An error without our state is a state mismatch (the login keeps waiting)."""
    with pytest.raises(StateMismatchError):
        parse_callback(
            {"error": "access_denied"}, expected_state="s", expected_issuer=None
        )


def test_callback_error_fields() -> None:
    """The server's error, description and URI are kept; str() names them."""
    with pytest.raises(AuthorizationError) as info:
        parse_callback(
            {
                "state": "s",
                "error": "access_denied",
                "error_description": "No",
                "error_uri": "u",
            },
            expected_state="s",
            expected_issuer=None,
        )
    assert info.value.error == "access_denied"
    assert info.value.error_description == "No"
    assert info.value.error_uri == "u"
    assert str(info.value) == "access_denied: No"
    assert info.value.hint


def test_callback_without_code_or_error() -> None:
    """Our state with neither code nor error is an invalid request."""
    with pytest.raises(AuthorizationError, match="neither code nor error"):
        parse_callback({"state": "s"}, expected_state="s", expected_issuer=None)


def test_callback_issuer_checked_when_present() -> None:
    """RFC 9207: an iss that is not ours fails; ours, or none, passes."""
    with pytest.raises(IssuerMismatchError):
        parse_callback(
            {"state": "s", "code": "c", "iss": "https://evil.example"},
            expected_state="s",
            expected_issuer=SERVER,
        )
    query = {"state": "s", "code": "c", "iss": SERVER + "/"}
    assert parse_callback(query, expected_state="s", expected_issuer=SERVER) == "c"
    assert (
        parse_callback(
            {"state": "s", "code": "c"}, expected_state="s", expected_issuer=SERVER
        )
        == "c"
    )
