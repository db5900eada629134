"""How `login`'s options combine with what the profile remembers (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from loopback_login.cli.login_options import build_provider
from loopback_login.errors import ConfigError
from loopback_login.protocol.provider import AUTHORIZE_PARAMS, ProviderConfig
from loopback_login.protocol.tokens import TokenSet
from loopback_login.session.entry import ProfileEntry

KEYS = (
    "server", "client_id", "client_auth", "private_key", "key_id", "scope", "method",
    "pkce", "issuer", "jwks_uri", "endpoint_id", "access_token_ttl",
    "refresh_token_ttl", *AUTHORIZE_PARAMS,
)  # fmt: skip


def opts(**given: Any) -> dict[str, Any]:
    """What click hands the command: every option, None where not given."""
    return {key: None for key in KEYS} | given


def remembered(**settings: Any) -> ProfileEntry:
    provider = ProviderConfig(
        server="https://platform.ringcentral.biz",
        client_id="app-1",
        scope="openid ReadAccounts",
        method="post",
        authorize_params={"login_hint": "ann"},
        token_params={"endpoint_id": "e1"},
    )
    tokens = TokenSet(
        access_token="a", token_type="bearer", issued_at=0.0, expires_at=1.0
    )
    return ProfileEntry(
        profile="work",
        settings=provider.to_profile() | settings,
        tokens=tokens,
        saved_at=0.0,
    )


def test_the_profile_fills_in_what_is_not_given() -> None:
    provider = build_provider(opts(scope="ReadAccounts"), remembered(), None)
    assert provider.server == "https://platform.ringcentral.biz"
    assert provider.client_id == "app-1"
    assert provider.scope == "ReadAccounts"  # given now: wins
    assert provider.method == "post"
    assert dict(provider.authorize_params) == {"login_hint": "ann"}
    assert dict(provider.token_params) == {"endpoint_id": "e1"}


def test_another_client_id_forgets_the_old_apps_settings() -> None:
    provider = build_provider(opts(client_id="app-2"), remembered(), None)
    assert provider.client_id == "app-2"
    assert provider.server == "https://platform.ringcentral.biz"  # the server stays
    assert provider.scope is None
    assert provider.method == "get"
    assert dict(provider.authorize_params) == {}


def test_a_secret_given_to_a_public_profile_is_used() -> None:
    provider = build_provider(opts(), remembered(client_auth="none"), "s3cret")
    assert provider.auth_method == "client_secret_basic"
    assert provider.client_secret == "s3cret"


def test_authorize_and_token_parameters_add_to_the_remembered_ones() -> None:
    provider = build_provider(
        opts(prompt="login", access_token_ttl=600), remembered(), None
    )
    assert dict(provider.authorize_params) == {"login_hint": "ann", "prompt": "login"}
    assert dict(provider.token_params) == {
        "endpoint_id": "e1",
        "access_token_ttl": "600",
    }


def test_no_client_id_anywhere_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="no client id") as caught:
        build_provider(opts(), None, None)
    assert "--client-id" in (caught.value.hint or "")
    assert build_provider(opts(client_id="x"), None, None).server.startswith(
        "https://platform.ringcentral.com"
    )
