"""Client authentication: the four methods against the emulator's token and revoke
endpoints (login, refresh, logout), the assertions' claims, and every refusal."""

from __future__ import annotations

import base64
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import EmulatorFactory, SessionFactory
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from loopback_login.clock import FrozenClock
from loopback_login.emulator import STATE, EmulatorClient
from loopback_login.errors import ConfigError, TokenEndpointError
from loopback_login.protocol.client_auth import ASSERTION_TYPE, client_auth
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.store.memory_store import MemoryTokenStore

REDIRECTS = ("http://127.0.0.1/callback",)
SECRET = "s3cret"  # short on purpose: joserfc's SecurityWarning must not escape
NOW = 1_800_000_000.0


def pem_file(tmp_path: Path, key: RSAKey | ECKey, name: str = "key") -> str:
    path = tmp_path / f"{name}.pem"
    path.write_bytes(key.as_pem(private=True))
    return str(path)


def public_jwks(*keys: RSAKey | ECKey) -> dict[str, Any]:
    return dict(KeySet(list(keys)).as_dict(private=False))


def unverified(assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An assertion's header and claims, read without a key."""
    token = jws.extract_compact(assertion.encode())
    return dict(token.headers()), json.loads(token.payload)


def signing_key(case: Case) -> Any:
    """The key the case's client signs with: its secret, or its PEM file's key."""
    if case.alg == "HS256":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return OctKey.import_key(SECRET)
    pem = Path(case.provider["private_key_path"]).read_bytes()
    return RSAKey.import_key(pem) if case.alg == "RS256" else ECKey.import_key(pem)


@dataclass
class Case:
    """One way for a client to authenticate: the emulator's view and ours."""

    method: str
    client: EmulatorClient
    provider: dict[str, Any] = field(default_factory=dict)
    alg: str | None = None
    kid: str | None = None

    @property
    def secret(self) -> str | None:
        return self.provider.get("client_secret")


CASES = ["none", "basic", "secret_jwt", "rsa", "rsa_kid", "ec", "ec_kid"]


def make_case(name: str, tmp_path: Path) -> Case:
    """The client registration and the session options for one case of CASES."""
    base = {"client_id": f"app-{name}", "redirect_uris": REDIRECTS}
    if name == "none":
        return Case("none", EmulatorClient(**base))
    if name in ("basic", "secret_jwt"):
        method = "client_secret_basic" if name == "basic" else "client_secret_jwt"
        client = EmulatorClient(**base, auth_method=method, client_secret=SECRET)
        provider = {"client_auth": method, "client_secret": SECRET}
        return Case(method, client, provider, "HS256" if name == "secret_jwt" else None)
    key: RSAKey | ECKey = (
        RSAKey.generate_key(2048)
        if name.startswith("rsa")
        else ECKey.generate_key("P-256")
    )
    # Other keys first: without a kid, the emulator must try each key of the type.
    jwks = public_jwks(ECKey.generate_key("P-256"), RSAKey.generate_key(2048), key)
    kid = str(key.kid) if name.endswith("_kid") else None
    client = EmulatorClient(**base, auth_method="private_key_jwt", jwks=jwks)
    provider = {"private_key_path": pem_file(tmp_path, key), "key_id": kid}
    alg = "RS256" if name.startswith("rsa") else "ES256"
    return Case("private_key_jwt", client, provider, alg, kid)


@pytest.mark.parametrize("name", CASES)
async def test_login_refresh_logout(
    name: str,
    tmp_path: Path,
    start_emulator: EmulatorFactory,
    make_session: SessionFactory,
    clock: FrozenClock,
    store: MemoryTokenStore,
) -> None:
    """Each method authenticates the code exchange, the refresh and the revocation."""
    case = make_case(name, tmp_path)
    emu = await start_emulator(clients=(case.client,))
    state = emu.app[STATE]
    first = await make_session(
        server=emu.url, client_id=case.client.client_id, **case.provider
    ).login()
    saved = store.load("default")
    assert saved is not None
    assert saved["settings"]["client_auth"] == case.method
    assert saved["settings"]["private_key_path"] == case.provider.get(
        "private_key_path"
    )
    assert saved["settings"]["key_id"] == case.kid
    assert SECRET not in json.dumps(saved)
    clock.advance(3500)
    later = make_session(with_provider=False, client_secret=case.secret)
    second = await later.get_token()
    assert second.access_token != first.access_token
    assert await later.logout() is True
    assert not state.is_session_active(second.access_token)

    calls = [r for r in state.requests if r.endpoint in ("token", "revoke")]
    assert [(r.endpoint, r.params.get("grant_type")) for r in calls] == [
        ("token", "authorization_code"),
        ("token", "refresh_token"),
        ("revoke", None),
    ]
    assert {r.auth_method for r in calls} == {case.method}
    jtis = set()
    for request in calls:
        params = request.params
        assert "client_secret" not in params
        assert SECRET not in json.dumps(params)
        if case.method == "none":
            assert request.auth_scheme is None
            assert params["client_id"] == case.client.client_id
            assert "client_assertion" not in params
        elif case.method == "client_secret_basic":
            assert request.auth_scheme == "Basic"
            assert "client_id" not in params
        else:
            assert request.auth_scheme is None
            assert params["client_assertion_type"] == ASSERTION_TYPE
            header, claims = unverified(params["client_assertion"])
            assert header["alg"] == case.alg
            assert header.get("kid") == case.kid
            assert claims["iss"] == claims["sub"] == case.client.client_id
            assert claims["aud"] == f"{emu.url}/restapi/oauth/{request.endpoint}"
            jtis.add(claims["jti"])
    assert len(jtis) == (3 if case.alg else 0)


@pytest.mark.parametrize("name", ["secret_jwt", "rsa_kid", "ec"])
def test_assertion_claims(name: str, tmp_path: Path) -> None:
    """Assertions verify with the client's key and carry RFC 7523's claims."""
    case = make_case(name, tmp_path)
    config = ProviderConfig(
        server="https://platform.ringcentral.com",
        client_id="app",
        **case.provider,
    )
    url = config.token_endpoint
    headers, fields = client_auth(config, url, now=NOW)
    assert headers == {}
    assert fields["client_id"] == "app"
    assert fields["client_assertion_type"] == ASSERTION_TYPE
    key = signing_key(case)
    token = jwt.decode(fields["client_assertion"], key, algorithms=[case.alg or ""])
    assert token.header.get("kid") == case.kid
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "app"
    assert claims["aud"] == url
    assert claims["iat"] == int(NOW)
    assert 60 <= claims["exp"] - claims["iat"] <= 300
    assert len(claims["jti"]) >= 16
    again = unverified(client_auth(config, url, now=NOW)[1]["client_assertion"])[1]
    assert again["jti"] != claims["jti"]


def test_none_and_basic_fields() -> None:
    """none sends only client_id; Basic form-encodes both halves (RFC 6749 §2.3.1)."""
    server = "https://platform.ringcentral.com"
    public = ProviderConfig(server=server, client_id="app")
    assert client_auth(public, public.token_endpoint, now=NOW) == (
        {},
        {"client_id": "app"},
    )
    odd = ProviderConfig(server=server, client_id="a:b", client_secret="x y+z")
    headers, fields = client_auth(odd, odd.token_endpoint, now=NOW)
    assert fields == {}
    assert (
        base64.b64decode(headers["Authorization"].removeprefix("Basic "))
        == b"a%3Ab:x+y%2Bz"
    )


def test_key_file_problems(tmp_path: Path) -> None:
    """Missing secrets and unusable key files are ConfigErrors that say what to do."""
    server = "https://platform.ringcentral.com"

    def auth(**options: Any) -> Any:
        config = ProviderConfig(server=server, client_id="app", **options)
        return client_auth(config, config.token_endpoint, now=NOW)

    for method in ("client_secret_basic", "client_secret_jwt"):
        with pytest.raises(ConfigError, match=f"{method} needs the client secret"):
            auth(client_auth=method)
    with pytest.raises(ConfigError, match="needs a private key"):
        auth(client_auth="private_key_jwt")
    with pytest.raises(ConfigError, match="cannot read the private key"):
        auth(private_key_path=str(tmp_path / "missing.pem"))
    public = tmp_path / "public.pem"
    public.write_bytes(RSAKey.generate_key(2048).as_pem(private=False))
    (tmp_path / "junk.pem").write_text("not a key")
    for path in (public, tmp_path / "junk.pem"):
        with pytest.raises(
            ConfigError, match="is not a PEM private RSA or P-256 EC key"
        ):
            auth(private_key_path=str(path))
    with pytest.raises(ConfigError, match="EC key on P-384; ES256 needs P-256"):
        auth(private_key_path=pem_file(tmp_path, ECKey.generate_key("P-384")))


def test_replaced_key_file_is_read_again(tmp_path: Path) -> None:
    """A key file replaced on disk signs the next assertion (no stale cache)."""
    first, second = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    path = pem_file(tmp_path, first)
    config = ProviderConfig(
        server="https://x.example", client_id="a", private_key_path=path
    )
    before = client_auth(config, "u", now=NOW)[1]["client_assertion"]
    assert jwt.decode(before, first).claims["iss"] == "a"
    pem_file(tmp_path, second)
    after = client_auth(config, "u", now=NOW)[1]["client_assertion"]
    assert jwt.decode(after, second).claims["iss"] == "a"


# Refusals at the emulator ---------------------------------------------------------


async def post(
    http: aiohttp.ClientSession, url: str, fields: dict[str, str], **form: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(url, data={**form, **fields}) as response:
        body = await response.json(content_type=None) if await response.read() else {}
        return response.status, body


@pytest.mark.parametrize("name", ["secret_jwt", "rsa", "ec_kid"])
async def test_emulator_refuses_bad_assertions(
    name: str,
    tmp_path: Path,
    start_emulator: EmulatorFactory,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """A replayed jti, another endpoint's or a wrong aud, an expired assertion, alg
    none, another algorithm and iss≠sub are all invalid_client."""
    case = make_case(name, tmp_path)
    emu = await start_emulator(clients=(case.client,))
    config = ProviderConfig(
        server=emu.url, client_id=case.client.client_id, **case.provider
    )
    revoke = config.revocation_endpoint

    def signed(url: str = revoke, now: float | None = None) -> dict[str, str]:
        return client_auth(config, url, now=clock() if now is None else now)[1]

    fields = signed()
    assert await post(http, revoke, fields, token="unknown") == (200, {})
    status, body = await post(http, revoke, fields, token="unknown")
    assert (status, body["error"]) == (401, "invalid_client")
    assert "already used" in body["error_description"]
    token_url, grant = config.token_endpoint, {"grant_type": "refresh_token"}
    status, body = await post(http, token_url, signed(), refresh_token="x", **grant)
    assert (status, body["error"]) == (401, "invalid_client")  # aud is revoke's
    status, body = await post(
        http, token_url, signed(token_url), refresh_token="x", **grant
    )
    assert (status, body["error"]) == (400, "invalid_grant")  # client accepted

    header, claims = unverified(signed()["client_assertion"])
    other_alg = (
        jwt.encode({"alg": "RS256"}, claims, RSAKey.generate_key(2048))
        if case.alg == "HS256"
        else _resign(case, {"alg": "HS256"}, claims, OctKey.import_key("k" * 32))
    )
    none = f"{_b64({'alg': 'none'})}.{_b64(claims)}."
    forged = {
        "wrong aud": (signed("https://platform.ringcentral.com/oauth"), "'aud'"),
        "expired": (signed(now=clock() - 400), "expired"),
        "alg none": ({**fields, "client_assertion": none}, "'none' is not allowed"),
        "other alg": ({**fields, "client_assertion": other_alg}, "is not allowed"),
        "iss≠sub": (
            {
                **fields,
                "client_assertion": _resign(case, header, {**claims, "sub": "x"}),
            },
            "'sub'",
        ),
    }
    for why, (bad, cause) in forged.items():
        status, body = await post(http, revoke, bad, token="unknown")
        assert (status, body.get("error")) == (401, "invalid_client"), why
        assert "Invalid client assertion" in body["error_description"], why
        assert cause in body["error_description"], why


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _resign(
    case: Case, header: dict[str, Any], claims: dict[str, Any], key: Any = None
) -> str:
    """Sign ``claims`` (with the case's own key by default), as a buggy client would."""
    return jwt.encode(header, claims, key or signing_key(case))


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("basic", {"client_secret": "wrong"}),
        ("secret_jwt", {"client_secret": "wrong"}),
        ("rsa", {"private_key": RSAKey}),
        ("ec", {"private_key": ECKey}),
        ("rsa_kid", {"key_id": "not-registered"}),
        ("ec", {"client_auth": "client_secret_basic", "client_secret": SECRET}),
    ],
)
async def test_wrong_credentials_fail_the_login(
    name: str,
    change: dict[str, Any],
    tmp_path: Path,
    start_emulator: EmulatorFactory,
    make_session: SessionFactory,
    store: MemoryTokenStore,
) -> None:
    """A wrong secret, an unregistered key or kid, or another method: invalid_client."""
    case = make_case(name, tmp_path)
    emu = await start_emulator(clients=(case.client,))
    provider = {**case.provider, **change}
    if "private_key" in provider:
        other = provider.pop("private_key")
        new = (
            other.generate_key(2048) if other is RSAKey else other.generate_key("P-256")
        )
        provider["private_key_path"] = pem_file(tmp_path, new, "other")
    with pytest.raises(TokenEndpointError) as info:
        await make_session(
            server=emu.url, client_id=case.client.client_id, **provider
        ).login()
    assert (info.value.error, info.value.status) == ("invalid_client", 401)
    assert "--client-auth" in (info.value.hint or "")
    assert store.profiles() == []
