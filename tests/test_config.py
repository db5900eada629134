"""Configuration: servers, client authentication, redirect URIs."""

from __future__ import annotations

import pytest

from loopback_login.errors import ConfigError
from loopback_login.loopback.config import LoopbackConfig, RedirectTarget
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.urls import resolve_server


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("production", "https://platform.ringcentral.com"),
        ("partner", "https://platform.ringcentral.biz"),
        ("https://platform.ringcentral.com/", "https://platform.ringcentral.com"),
        ("http://127.0.0.1:8790", "http://127.0.0.1:8790"),
        ("http://localhost:8790/", "http://localhost:8790"),
    ],
)
def test_resolve_server(given: str, expected: str) -> None:
    """Aliases expand; trailing slashes go."""
    assert resolve_server(given) == expected


@pytest.mark.parametrize(
    "bad", ["http://platform.ringcentral.com", "ftp://x", "nonsense", "https://x/?a=1"]
)
def test_resolve_server_refuses(bad: str) -> None:
    """Plain http off loopback, other schemes and non-URLs are refused."""
    with pytest.raises(ConfigError):
        resolve_server(bad)


def test_endpoints_are_ringcentral_paths() -> None:
    """The three endpoints hang off the server's /restapi/oauth."""
    config = ProviderConfig(server="production", client_id="id")
    assert (
        config.authorization_endpoint
        == "https://platform.ringcentral.com/restapi/oauth/authorize"
    )
    assert config.token_endpoint.endswith("/restapi/oauth/token")
    assert config.revocation_endpoint.endswith("/restapi/oauth/revoke")
    assert config.expected_issuer == "https://platform.ringcentral.com"


def test_auth_method_inferred() -> None:
    """A secret means client_secret_basic, a key private_key_jwt, nothing none."""
    base = {"server": "production", "client_id": "id"}
    assert ProviderConfig(**base).auth_method == "none"  # type: ignore[arg-type]
    assert (
        ProviderConfig(**base, client_secret="s").auth_method == "client_secret_basic"
    )  # type: ignore[arg-type]
    assert (
        ProviderConfig(**base, private_key_path="/k.pem").auth_method
        == "private_key_jwt"
    )  # type: ignore[arg-type]
    explicit = ProviderConfig(
        **base, client_secret="s", client_auth="client_secret_jwt"
    )  # type: ignore[arg-type]
    assert explicit.auth_method == "client_secret_jwt"


def test_profile_round_trip_keeps_no_secret() -> None:
    """A profile remembers everything but the secret."""
    config = ProviderConfig(
        server="partner",
        client_id="id",
        client_secret="top-secret",
        scope="openid",
        method="post",
        authorize_params={"brand_id": "1210"},
        token_params={"endpoint_id": "e1"},
    )
    data = config.to_profile()
    assert "top-secret" not in repr(data)
    assert "top-secret" not in repr(config)
    back = ProviderConfig.from_profile(data, client_secret="again")
    assert back.server == "https://platform.ringcentral.biz"
    assert back.method == "post"
    assert back.authorize_params == {"brand_id": "1210"}
    assert back.token_params == {"endpoint_id": "e1"}
    assert back.auth_method == "client_secret_basic"
    assert back.client_secret == "again"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"client_id": " "}, "client id"),
        ({"client_id": "x", "method": "put"}, "get or post"),
        ({"client_id": "x", "client_auth": "magic"}, "unknown"),
        ({"client_id": "x", "authorize_params": {"evil": "1"}}, "unknown authorize"),
    ],
)
def test_provider_validation(kwargs: dict[str, object], match: str) -> None:
    """Bad settings fail at once with a message naming the setting."""
    with pytest.raises(ConfigError, match=match):
        ProviderConfig(server="production", **kwargs)  # type: ignore[arg-type]


def test_redirect_targets() -> None:
    """Loopback URIs parse; localhost binds both address families."""
    target = RedirectTarget.parse("http://localhost:8400/callback")
    assert (target.host, target.port, target.path) == ("localhost", 8400, "/callback")
    assert target.bind_hosts == ("127.0.0.1", "::1")
    assert RedirectTarget.parse("http://[::1]/cb").with_port(9) == "http://[::1]:9/cb"
    assert LoopbackConfig().targets[0].uri == "http://127.0.0.1/callback"


@pytest.mark.parametrize(
    "bad",
    [
        "https://127.0.0.1/cb",
        "http://example.com:80/cb",
        "http://0.0.0.0:80/cb",
        "http://localhost/cb",
        "http://127.0.0.1:5/cb?x=1",
        "http://127.0.0.1:5/cb#f",
    ],
)
def test_redirect_uri_refused(bad: str) -> None:
    """Only plain http loopback URIs, with a port for localhost, are accepted."""
    with pytest.raises(ConfigError):
        LoopbackConfig(redirect_uris=(bad,))
