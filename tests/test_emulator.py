"""The RingCentral OAuth emulator's own protocol behaviour, over real sockets."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import (
    REDIRECT,
    EmulatorDriver,
    basic,
    external_resources,
    inputs_of,
    pkce_pair,
    query_of,
)
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from loopback_login.clock import FrozenClock
from loopback_login.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CONFIDENTIAL_CLIENT_ID,
    DEMO_CONFIDENTIAL_SECRET,
    EmulatorClient,
    EmulatorConfig,
    create_app,
    load_clients_file,
    serve,
)
from loopback_login.errors import ConfigError

Start = Callable[..., Awaitable[EmulatorDriver]]


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def start(aiohttp_client: Any, frozen: FrozenClock) -> Start:
    async def go(**options: Any) -> EmulatorDriver:
        app = create_app(EmulatorConfig(**options), clock=frozen)
        return EmulatorDriver(await aiohttp_client(app), app)

    return go


@pytest.fixture
async def emu(start: Start) -> EmulatorDriver:
    return await start(auto_approve=True)


@pytest.fixture
async def people(start: Start) -> EmulatorDriver:
    """An emulator that asks a person to sign in and consent."""
    return await start()


def rc_error(error: str, description: str, code: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": description,
        "errors": [{"errorCode": code, "message": description}],
    }


# Discovery and keys ---------------------------------------------------------


async def test_discovery_lists_ringcentral_endpoints(emu: EmulatorDriver) -> None:
    """Discovery names RingCentral's paths under the request's own issuer."""
    response = await emu.client.get("/.well-known/openid-configuration")
    meta = await response.json()
    assert meta["issuer"] == emu.base
    assert meta["authorization_endpoint"] == f"{emu.base}/restapi/oauth/authorize"
    assert meta["token_endpoint"] == f"{emu.base}/restapi/oauth/token"
    assert meta["revocation_endpoint"] == f"{emu.base}/restapi/oauth/revoke"
    assert meta["userinfo_endpoint"] == f"{emu.base}/restapi/oauth/userinfo"
    assert meta["jwks_uri"] == f"{emu.base}/restapi/oauth/jwks"
    assert "none" in meta["token_endpoint_auth_methods_supported"]
    assert meta["code_challenge_methods_supported"] == ["plain", "S256"]
    assert meta["response_types_supported"] == ["code"]
    assert {"openid", "email", "profile"} <= set(meta["scopes_supported"])
    assert {"sub", "nonce", "account_id"} <= set(meta["claims_supported"])


async def test_configured_issuer_wins(start: Start) -> None:
    """A configured issuer replaces the one derived from the Host header."""
    emu = await start(issuer="https://platform.example.test")
    meta = await (await emu.client.get("/.well-known/openid-configuration")).json()
    assert meta["issuer"] == "https://platform.example.test"


async def test_jwks_serves_one_public_rsa_key(emu: EmulatorDriver) -> None:
    """The JWKS holds one public RS256 key with a kid and no private part."""
    keys = (await (await emu.client.get("/restapi/oauth/jwks")).json())["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"
    assert keys[0]["kid"]
    assert "d" not in keys[0]


async def test_rotating_the_key_replaces_it_in_the_jwks(emu: EmulatorDriver) -> None:
    """After rotate_signing_key the JWKS serves only the new kid."""
    before = (await (await emu.client.get("/restapi/oauth/jwks")).json())["keys"]
    new_kid = emu.state.rotate_signing_key()
    after = (await (await emu.client.get("/restapi/oauth/jwks")).json())["keys"]
    assert [k["kid"] for k in after] == [new_kid]
    assert new_kid != before[0]["kid"]


# Authorize: auto-approve, redirect URIs, parameter errors ---------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_auto_approve_redirects_with_code(
    emu: EmulatorDriver, method: str
) -> None:
    """GET and POST authorize both redirect with code, state and expires_in."""
    response = await emu.authorize(method, state="abc<&>")
    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    params = query_of(location)
    assert params["state"] == "abc<&>"
    assert params["expires_in"] == "60"
    assert len(params["code"]) >= 32
    assert "iss" not in params


async def test_send_iss_adds_the_issuer(start: Start) -> None:
    """With send_iss the redirect carries RFC 9207's iss."""
    emu = await start(auto_approve=True, send_iss=True)
    response = await emu.authorize()
    assert query_of(response.headers["Location"])["iss"] == emu.base


async def test_last_authorize_records_the_request(emu: EmulatorDriver) -> None:
    """The state keeps the last authorize parameters and counts requests."""
    _, challenge = pkce_pair()
    await emu.authorize(code_challenge=challenge, code_challenge_method="S256")
    await emu.authorize()
    assert emu.state.count("authorize") == 2
    assert emu.state.count("authorize", code_challenge_method="S256") == 1
    assert emu.state.last_authorize is not None
    assert "code_challenge" not in emu.state.last_authorize


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"client_id": "not-registered"}, "OAU-153"),
        ({"client_id": "<omit>"}, "OAU-101"),
        ({"redirect_uri": "http://evil.example/callback"}, "OAU-109"),
        ({"redirect_uri": "http://127.0.0.1:53682/other"}, "OAU-109"),
        ({"redirect_uri": "https://127.0.0.1:53682/callback"}, "OAU-109"),
        ({"redirect_uri": "http://localhost:9999/callback"}, "OAU-109"),
        ({"redirect_uri": "http://localhost/callback"}, "OAU-109"),
        ({"redirect_uri": "<omit>"}, "OAU-101"),
    ],
)
async def test_untrusted_client_or_redirect_gets_a_page(
    emu: EmulatorDriver, params: dict[str, str], code: str
) -> None:
    """Unknown clients and unregistered redirect URIs get a 400 page, not a redirect."""
    response = await emu.authorize(**params)
    assert response.status == 400
    assert "Location" not in response.headers
    assert response.content_type == "text/html"
    assert code in await response.text()


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:1/callback",
        "http://127.0.0.1:65000/callback",
        "http://127.0.0.1/callback",
        "http://[::1]:40000/callback",
        "http://localhost:8400/callback",
        "http://localhost:8401/callback",
    ],
)
async def test_loopback_literals_match_any_port(
    emu: EmulatorDriver, redirect_uri: str
) -> None:
    """127.0.0.1 and [::1] match on any port; localhost only on its own port."""
    response = await emu.authorize(redirect_uri=redirect_uri)
    assert response.status == 302
    assert response.headers["Location"].startswith(redirect_uri + "?")


async def test_single_registered_uri_is_the_default(start: Start) -> None:
    """Without redirect_uri, a client with one registered URI is sent there."""
    only = EmulatorClient(client_id="one", redirect_uris=("http://localhost:8400/cb",))
    emu = await start(auto_approve=True, clients=(only,))
    response = await emu.authorize(client_id="one", redirect_uri="<omit>")
    assert response.headers["Location"].startswith("http://localhost:8400/cb?code=")


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "<omit>"}, "invalid_request"),
        ({"display": "tv"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "select_account"}, "invalid_request"),
        ({"code_challenge_method": "S256"}, "invalid_request"),
        (
            {"code_challenge": "short", "code_challenge_method": "S256"},
            "invalid_request",
        ),
        (
            {"code_challenge": "a" * 43, "code_challenge_method": "S512"},
            "invalid_request",
        ),
    ],
)
async def test_bad_parameters_go_back_to_the_client(
    emu: EmulatorDriver, params: dict[str, str], error: str
) -> None:
    """Once client and redirect are trusted, errors return there with state."""
    response = await emu.authorize(**params)
    assert response.status == 302
    back = query_of(response.headers["Location"])
    assert back["error"] == error
    assert back["error_description"]
    assert back["state"] == "st-1"
    assert "code" not in back


async def test_duplicated_parameter_is_refused(emu: EmulatorDriver) -> None:
    """A parameter sent twice is refused: redirected, or a page for client_id."""
    url = "/restapi/oauth/authorize"
    base = f"?client_id={DEMO_CLIENT_ID}&response_type=code&redirect_uri={REDIRECT}"
    twice = await emu.client.get(url + base + "&scope=a&scope=b", allow_redirects=False)
    assert query_of(twice.headers["Location"])["error"] == "invalid_request"
    page = await emu.client.get(url + base + "&client_id=x", allow_redirects=False)
    assert page.status == 400
    assert "OAU-111" in await page.text()


# Sign-in and consent pages ---------------------------------------------------


async def test_sign_in_and_consent_by_form(people: EmulatorDriver) -> None:
    """A person signs in (after a typo), allows, and the app gets a working code."""
    first = await people.authorize(scope="openid ReadAccounts", login_hint="dana")
    page = await first.text()
    assert first.status == 200
    assert "Loopback Login demo" in page
    assert "for local testing and demos only" in page
    assert 'value="dana"' in page
    fields = inputs_of(page)
    wrong = await people.client.post(
        "/emulator/signin",
        data={**fields, "username": "demo@example.com", "password": "nope"},
        allow_redirects=False,
    )
    assert wrong.status == 200
    assert "Location" not in wrong.headers
    retry = await wrong.text()
    assert "incorrect" in retry
    assert inputs_of(retry)["txn"] != fields["txn"]
    consent = await people.client.post(
        "/emulator/signin",
        data={**inputs_of(retry), "username": "demo@example.com", "password": "demo"},
        allow_redirects=False,
    )
    consent_page = await consent.text()
    assert "Allow" in consent_page
    assert "ReadAccounts" in consent_page
    assert "Dana Demo" in consent_page
    done = await people.client.post(
        "/emulator/consent",
        data={**inputs_of(consent_page), "decision": "allow"},
        allow_redirects=False,
    )
    assert done.status == 302
    back = query_of(done.headers["Location"])
    assert back["state"] == "st-1"
    redeemed = await people.token(
        grant_type="authorization_code",
        code=back["code"],
        redirect_uri=REDIRECT,
        client_id=DEMO_CLIENT_ID,
    )
    assert (await redeemed.json())["owner_id"] == "101"


async def sign_in(emu: EmulatorDriver, **params: str) -> str:
    """Start an authorization and sign in as the demo user; returns the next page."""
    fields = inputs_of(await (await emu.authorize(**params)).text())
    response = await emu.client.post(
        "/emulator/signin",
        data={**fields, "username": "demo@example.com", "password": "demo"},
        allow_redirects=False,
    )
    return await response.text()


async def test_deny_sends_access_denied(people: EmulatorDriver) -> None:
    """Deny on the consent page returns error=access_denied with the state."""
    consent_page = await sign_in(people)
    response = await people.client.post(
        "/emulator/consent",
        data={**inputs_of(consent_page), "decision": "deny"},
        allow_redirects=False,
    )
    back = query_of(response.headers["Location"])
    assert back["error"] == "access_denied"
    assert back["state"] == "st-1"
    assert "code" not in back


async def test_a_form_cannot_be_replayed(people: EmulatorDriver) -> None:
    """The transaction id in a form works once; a replay gets an error page."""
    fields = inputs_of(await sign_in(people))
    first = await people.client.post(
        "/emulator/consent", data={**fields, "decision": "allow"}, allow_redirects=False
    )
    again = await people.client.post(
        "/emulator/consent", data={**fields, "decision": "allow"}, allow_redirects=False
    )
    assert first.status == 302
    assert again.status == 400
    assert "Location" not in again.headers


async def test_remembered_sign_in_and_consent(people: EmulatorDriver) -> None:
    """A signed-in browser skips both pages; prompt=login and prompt=consent don't."""
    consent_page = await sign_in(people)
    await people.client.post(
        "/emulator/consent",
        data={**inputs_of(consent_page), "decision": "allow"},
        allow_redirects=False,
    )
    again = await people.authorize()
    assert again.status == 302
    assert "code" in query_of(again.headers["Location"])
    forced_login = await (await people.authorize(prompt="login")).text()
    assert 'name="password"' in forced_login
    forced_consent = await (await people.authorize(prompt="consent")).text()
    assert 'value="allow"' in forced_consent
    silent = await people.authorize(prompt="none", scope="ReadAccounts SMS")
    assert query_of(silent.headers["Location"])["error"] == "consent_required"


async def test_prompt_none_without_sign_in(people: EmulatorDriver) -> None:
    """prompt=none with nobody signed in returns login_required."""
    response = await people.authorize(prompt="none")
    assert query_of(response.headers["Location"])["error"] == "login_required"


async def test_pages_escape_what_they_echo(people: EmulatorDriver) -> None:
    """login_hint, a typed username and a bad client_id appear escaped."""
    evil = "<script>alert(1)</script>"
    signin = await (await people.authorize(login_hint=evil)).text()
    assert evil not in signin
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in signin
    wrong = await people.client.post(
        "/emulator/signin",
        data={**inputs_of(signin), "username": evil, "password": "x"},
    )
    assert evil not in await wrong.text()
    error = await (await people.authorize(client_id=evil)).text()
    assert evil not in error
    assert "Invalid client: &lt;script&gt;" in error


async def test_pages_load_nothing_from_elsewhere(people: EmulatorDriver) -> None:
    """Sign-in, consent and error pages reference no outside resource or script."""
    signin = await people.authorize()
    assert signin.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in signin.headers["Content-Security-Policy"]
    pages = [await signin.text(), await sign_in(people)]
    pages.append(await (await people.authorize(client_id="nobody")).text())
    for page in pages:
        assert "<style>" in page
        assert external_resources(page) == []


# Token endpoint: codes and PKCE ----------------------------------------------


@pytest.mark.parametrize(
    ("method", "sent_method", "tamper", "status"),
    [
        ("S256", "S256", False, 200),
        ("S256", "S256", True, 400),
        ("plain", "plain", False, 200),
        ("plain", "plain", True, 400),
        ("plain", "<omit>", False, 200),
        ("plain", "<omit>", True, 400),
    ],
)
async def test_pkce_verifier_is_checked(
    emu: EmulatorDriver, method: str, sent_method: str, tamper: bool, status: int
) -> None:
    """S256 and plain verifiers are checked; a challenge with no method is plain."""
    verifier, challenge = pkce_pair(method)
    code = await emu.code(code_challenge=challenge, code_challenge_method=sent_method)
    response = await emu.token(
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        client_id=DEMO_CLIENT_ID,
        code_verifier=verifier + "x" if tamper else verifier,
    )
    assert response.status == status
    if tamper:
        assert (await response.json())["error"] == "invalid_grant"


async def test_s256_verifier_fails_against_a_plain_challenge(
    emu: EmulatorDriver,
) -> None:
    """Without a method the challenge is plain, so hashing the verifier won't match."""
    verifier, challenge = pkce_pair("S256")
    code = await emu.code(code_challenge=challenge)
    response = await emu.token(
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        client_id=DEMO_CLIENT_ID,
        code_verifier=verifier,
    )
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_grant"


@pytest.mark.parametrize("with_challenge", [True, False])
async def test_verifier_must_match_the_presence_of_a_challenge(
    emu: EmulatorDriver, with_challenge: bool
) -> None:
    """A missing verifier, or one without a challenge, is invalid_grant."""
    verifier, challenge = pkce_pair()
    extra = {"code_challenge": challenge} if with_challenge else {}
    code = await emu.code(**extra)
    form = {"code_verifier": verifier} if not with_challenge else {}
    response = await emu.token(
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        client_id=DEMO_CLIENT_ID,
        **form,
    )
    assert (await response.json())["error"] == "invalid_grant"


async def test_reused_code_fails_and_ends_its_session(emu: EmulatorDriver) -> None:
    """A second redemption gets OAU-106 and revokes what the first one bought."""
    code = await emu.code()
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": DEMO_CLIENT_ID,
    }
    tokens = await (await emu.token(**form)).json()
    again = await emu.token(**form)
    assert again.status == 403
    assert await again.json() == rc_error(
        "invalid_grant", "Invalid authorization code", "OAU-106"
    )
    assert not emu.state.is_session_active(tokens["access_token"])
    assert (await emu.me(tokens["access_token"])).status == 401


async def test_code_expires(emu: EmulatorDriver, frozen: FrozenClock) -> None:
    """A code redeemed after code_ttl gets OAU-108 with HTTP 403."""
    code = await emu.code()
    frozen.advance(61)
    response = await emu.token(
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        client_id=DEMO_CLIENT_ID,
    )
    assert response.status == 403
    assert (await response.json())["errors"][0]["errorCode"] == "OAU-108"


async def test_code_is_bound_to_redirect_uri_and_client(emu: EmulatorDriver) -> None:
    """Another redirect URI gets OAU-109; another client gets invalid_grant."""
    wrong_uri = await emu.token(
        grant_type="authorization_code",
        code=await emu.code(),
        redirect_uri="http://127.0.0.1:1/callback",
        client_id=DEMO_CLIENT_ID,
    )
    assert wrong_uri.status == 403
    assert (await wrong_uri.json())["errors"][0]["errorCode"] == "OAU-109"
    other_client = await emu.token(
        basic(DEMO_CONFIDENTIAL_CLIENT_ID, DEMO_CONFIDENTIAL_SECRET),
        grant_type="authorization_code",
        code=await emu.code(),
        redirect_uri=REDIRECT,
    )
    assert (await other_client.json())["error"] == "invalid_grant"


async def test_token_info_fields_and_ttls(emu: EmulatorDriver) -> None:
    """TokenInfo carries RingCentral's fields and honours requested lifetimes."""
    response = await emu.token(
        grant_type="authorization_code",
        code=await emu.code(),
        redirect_uri=REDIRECT,
        client_id=DEMO_CLIENT_ID,
        endpoint_id="my-endpoint",
        access_token_ttl="900",
        refresh_token_ttl="7200",
    )
    body = await response.json()
    assert response.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token_expires_in"] == 7200
    assert body["scope"] == "ReadAccounts"
    assert body["owner_id"] == "101"
    assert body["endpoint_id"] == "my-endpoint"
    assert body["session_id"]
    assert "id_token" not in body


@pytest.mark.parametrize("ttl", ["599", "3601", "soon"])
async def test_out_of_range_ttl_is_refused(emu: EmulatorDriver, ttl: str) -> None:
    """access_token_ttl outside 600-3600 is invalid_request."""
    response = await emu.token(
        grant_type="authorization_code",
        code=await emu.code(),
        redirect_uri=REDIRECT,
        client_id=DEMO_CLIENT_ID,
        access_token_ttl=ttl,
    )
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


async def test_unsupported_grant_type(emu: EmulatorDriver) -> None:
    """A grant the emulator doesn't speak is unsupported_grant_type."""
    response = await emu.token(grant_type="password", client_id=DEMO_CLIENT_ID)
    assert (await response.json())["error"] == "unsupported_grant_type"


async def test_duplicated_token_parameter(emu: EmulatorDriver) -> None:
    """A form field sent twice is OAU-111."""
    response = await emu.client.post(
        "/restapi/oauth/token",
        data=[
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
            ("client_id", DEMO_CLIENT_ID),
        ],
    )
    assert response.status == 400
    assert (await response.json())["errors"][0]["errorCode"] == "OAU-111"


FORM = "application/x-www-form-urlencoded"
UNREADABLE_BODIES = [
    pytest.param(FORM, b"\xff\xfe=1", id="not-utf-8"),
    pytest.param(f"{FORM}; charset=bogus", b"a=1", id="unknown-charset"),
    pytest.param("multipart/form-data", b"abc", id="multipart-without-boundary"),
    pytest.param("multipart/form-data; boundary=x", b"--x\r\nabc", id="bad-part"),
]


@pytest.mark.parametrize("path", ["/restapi/oauth/token", "/restapi/oauth/revoke"])
@pytest.mark.parametrize(("content_type", "body"), UNREADABLE_BODIES)
async def test_unreadable_body_is_invalid_request(
    emu: EmulatorDriver, path: str, content_type: str, body: bytes
) -> None:
    """A body that doesn't parse is RingCentral's 400 invalid_request, not a 500."""
    response = await emu.client.post(
        path, data=body, headers={"Content-Type": content_type}
    )
    assert response.status == 400
    assert await response.json() == rc_error(
        "invalid_request", "Request body cannot be parsed", "OAU-101"
    )
    assert emu.state.requests[-1].endpoint == path.rsplit("/", 1)[1]


@pytest.mark.parametrize(
    "path", ["/restapi/oauth/authorize", "/emulator/signin", "/emulator/consent"]
)
@pytest.mark.parametrize(("content_type", "body"), UNREADABLE_BODIES)
async def test_unreadable_body_gets_the_error_page(
    emu: EmulatorDriver, path: str, content_type: str, body: bytes
) -> None:
    """The browser's endpoints show the 400 error page for a body that doesn't parse."""
    response = await emu.client.post(
        path, data=body, headers={"Content-Type": content_type}, allow_redirects=False
    )
    assert response.status == 400
    assert response.content_type == "text/html"
    page = await response.text()
    assert "OAU-101" in page
    assert "Traceback" not in page


# Refresh ---------------------------------------------------------------------


async def test_refresh_rotates_and_spends(emu: EmulatorDriver) -> None:
    """A refresh returns a new pair; the old refresh token is then invalid_grant."""
    first = await emu.login()
    second = await (await emu.refresh(first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["session_id"] == first["session_id"]
    assert (await emu.me(first["access_token"])).status == 401
    assert (await emu.me(second["access_token"])).status == 200
    spent = await emu.refresh(first["refresh_token"])
    assert spent.status == 400
    assert await spent.json() == rc_error("invalid_grant", "Token not found", "OAU-210")
    assert emu.state.count("token", grant_type="refresh_token") == 2


async def test_refresh_token_expires(emu: EmulatorDriver, frozen: FrozenClock) -> None:
    """A refresh token past its lifetime is invalid_grant 'Token expired'."""
    tokens = await emu.login()
    frozen.advance(604800 + 1)
    response = await emu.refresh(tokens["refresh_token"])
    assert await response.json() == rc_error(
        "invalid_grant", "Token expired", "OAU-210"
    )


async def test_client_without_refresh_tokens_gets_none(start: Start) -> None:
    """issue_refresh_tokens=False leaves refresh_token out of TokenInfo."""
    client = EmulatorClient(
        client_id="no-refresh", redirect_uris=(REDIRECT,), issue_refresh_tokens=False
    )
    emu = await start(auto_approve=True, clients=(client,))
    response = await emu.token(
        grant_type="authorization_code",
        code=await emu.code(client_id="no-refresh"),
        redirect_uri=REDIRECT,
        client_id="no-refresh",
    )
    body = await response.json()
    assert "access_token" in body
    assert "refresh_token" not in body
    assert "refresh_token_expires_in" not in body


# Client authentication -------------------------------------------------------


async def confidential_code(emu: EmulatorDriver) -> str:
    return await emu.code(client_id=DEMO_CONFIDENTIAL_CLIENT_ID)


async def test_client_secret_basic(emu: EmulatorDriver) -> None:
    """The confidential demo client authenticates with HTTP Basic."""
    response = await emu.token(
        basic(DEMO_CONFIDENTIAL_CLIENT_ID, DEMO_CONFIDENTIAL_SECRET),
        grant_type="authorization_code",
        code=await confidential_code(emu),
        redirect_uri=REDIRECT,
    )
    assert response.status == 200
    assert emu.state.requests[-1].auth_method == "client_secret_basic"


async def test_basic_credentials_are_form_decoded(start: Start) -> None:
    """Id and secret are form-urlencoded inside Basic (RFC 6749 §2.3.1)."""
    secret = "a b+c:d%é"
    client = EmulatorClient(
        client_id="odd:id",
        client_secret=secret,
        redirect_uris=(REDIRECT,),
        auth_method="client_secret_basic",
    )
    emu = await start(auto_approve=True, clients=(client,))
    response = await emu.token(
        basic("odd:id", secret),
        grant_type="authorization_code",
        code=await emu.code(client_id="odd:id"),
        redirect_uri=REDIRECT,
    )
    assert response.status == 200


@pytest.mark.parametrize(
    ("headers", "form", "code"),
    [
        (basic(DEMO_CONFIDENTIAL_CLIENT_ID, "wrong"), {}, "OAU-146"),
        ({}, {"client_id": DEMO_CONFIDENTIAL_CLIENT_ID}, "OAU-123"),
        ({"Authorization": "Basic !!!"}, {}, "OAU-123"),
        ({"Authorization": "Bearer abc"}, {}, "OAU-123"),
        (basic(DEMO_CLIENT_ID, ""), {}, "OAU-153"),
        ({}, {"client_id": "nobody"}, "OAU-153"),
        ({}, {}, "OAU-123"),
    ],
)
async def test_bad_client_authentication_is_invalid_client(
    emu: EmulatorDriver, headers: dict[str, str], form: dict[str, str], code: str
) -> None:
    """Wrong, missing or malformed credentials get invalid_client with 401."""
    response = await emu.token(
        headers,
        grant_type="authorization_code",
        code="whatever",
        redirect_uri=REDIRECT,
        **form,
    )
    body = await response.json()
    assert response.status == 401
    assert body["error"] == "invalid_client"
    assert body["errors"][0]["errorCode"] == code


def assertion(key: Any, alg: str, aud: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "jwt-client",
        "sub": "jwt-client",
        "aud": aud,
        "exp": now + 60,
        "iat": now,
        "jti": "jti-1",
        **claims,
    }
    return jwt.encode({"alg": alg}, payload, key)


@pytest.fixture
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048, auto_kid=True)


@pytest.mark.parametrize("method", ["private_key_jwt", "client_secret_jwt"])
async def test_jwt_client_assertions(
    aiohttp_client: Any, rsa_key: RSAKey, method: str
) -> None:
    """Signed assertions authenticate; a replayed jti or a wrong aud does not."""
    secret = "a-long-enough-shared-secret-for-hs256"
    client = EmulatorClient(
        client_id="jwt-client",
        redirect_uris=(REDIRECT,),
        auth_method=method,
        client_secret=secret if method == "client_secret_jwt" else None,
        jwks=dict(KeySet([rsa_key]).as_dict()) if method == "private_key_jwt" else None,
    )
    app = create_app(EmulatorConfig(auto_approve=True, clients=(client,)))
    emu = EmulatorDriver(await aiohttp_client(app), app)
    key: Any = rsa_key if method == "private_key_jwt" else OctKey.import_key(secret)
    alg = "RS256" if method == "private_key_jwt" else "HS256"
    url = f"{emu.base}/restapi/oauth/token"

    async def redeem(signed: str) -> aiohttp.ClientResponse:
        return await emu.token(
            grant_type="authorization_code",
            code=await emu.code(client_id="jwt-client"),
            redirect_uri=REDIRECT,
            client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            client_assertion=signed,
        )

    good = assertion(key, alg, url)
    assert (await redeem(good)).status == 200
    assert emu.state.requests[-1].auth_method == method
    replay = await redeem(good)
    assert replay.status == 401
    assert "already used" in (await replay.json())["error_description"]
    wrong_aud = await redeem(assertion(key, alg, "https://elsewhere", jti="j2"))
    assert (await wrong_aud.json())["error"] == "invalid_client"
    by_issuer = await redeem(assertion(key, alg, emu.base, jti="j3"))
    assert by_issuer.status == 200


# Revoke and the protected endpoints ------------------------------------------


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
async def test_revoke_ends_the_whole_session(emu: EmulatorDriver, which: str) -> None:
    """Revoking either token ends both: refresh fails and the API says 401."""
    tokens = await emu.login()
    response = await emu.client.post(
        "/restapi/oauth/revoke",
        data={"token": tokens[which], "client_id": DEMO_CLIENT_ID},
    )
    assert response.status == 200
    assert await response.read() == b""
    assert not emu.state.is_session_active(tokens["refresh_token"])
    assert (await emu.refresh(tokens["refresh_token"])).status == 400
    userinfo = await emu.client.get(
        "/restapi/oauth/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert userinfo.status == 401


async def test_revoke_by_query_and_unknown_tokens(emu: EmulatorDriver) -> None:
    """The token may ride in the query; unknown tokens still get 200."""
    tokens = await emu.login()
    by_query = await emu.client.post(
        "/restapi/oauth/revoke",
        params={"token": tokens["access_token"]},
        data={"client_id": DEMO_CLIENT_ID},
    )
    assert by_query.status == 200
    assert not emu.state.is_session_active(tokens["access_token"])
    unknown = await emu.client.post(
        "/restapi/oauth/revoke", data={"token": "nope", "client_id": DEMO_CLIENT_ID}
    )
    assert unknown.status == 200


async def test_revoke_query_and_body_must_agree(emu: EmulatorDriver) -> None:
    """Different tokens in query and body are OAU-150."""
    response = await emu.client.post(
        "/restapi/oauth/revoke",
        params={"token": "a"},
        data={"token": "b", "client_id": DEMO_CLIENT_ID},
    )
    assert response.status == 400
    assert (await response.json())["errors"][0]["errorCode"] == "OAU-150"


async def test_revoke_requires_client_authentication(emu: EmulatorDriver) -> None:
    """The confidential client must authenticate to revoke, as at the token endpoint."""
    response = await emu.client.post(
        "/restapi/oauth/revoke",
        data={"token": "x", "client_id": DEMO_CONFIDENTIAL_CLIENT_ID},
    )
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"


async def test_userinfo_and_extension(emu: EmulatorDriver, frozen: FrozenClock) -> None:
    """A live token reads the user; none or an expired one gets 401."""
    tokens = await emu.login()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = await (
        await emu.client.get("/restapi/oauth/userinfo", headers=bearer)
    ).json()
    assert info["sub"] == "101"
    assert info["email"] == "demo@example.com"
    me = await (await emu.me(tokens["access_token"])).json()
    assert me["id"] == 101
    assert me["name"] == "Dana Demo"
    assert me["contact"]["email"] == "demo@example.com"
    assert me["account"]["id"] == "100"
    missing = await emu.client.get("/restapi/oauth/userinfo")
    assert missing.status == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    frozen.advance(3601)
    expired = await emu.me(tokens["access_token"])
    assert expired.status == 401


# ID tokens -------------------------------------------------------------------


async def test_id_token_verifies_against_jwks(emu: EmulatorDriver) -> None:
    """The ID token is RS256, verifies with the JWKS, and carries the nonce."""
    tokens = await emu.login(scope="openid email profile", nonce="n-0S6_WzA2Mj")
    jwks = await (await emu.client.get("/restapi/oauth/jwks")).json()
    decoded = jwt.decode(tokens["id_token"], KeySet.import_key_set(jwks))
    claims = decoded.claims
    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] == jwks["keys"][0]["kid"]
    assert claims["iss"] == emu.base
    assert claims["aud"] == DEMO_CLIENT_ID
    assert claims["sub"] == "101"
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["account_id"] == "100"
    assert claims["email"] == "demo@example.com"
    assert claims["given_name"] == "Dana"
    assert claims["exp"] - claims["iat"] == 3600
    refreshed = await (await emu.refresh(tokens["refresh_token"])).json()
    again = jwt.decode(refreshed["id_token"], KeySet.import_key_set(jwks)).claims
    assert "nonce" not in again
    assert again["auth_time"] == claims["auth_time"]


async def test_id_token_after_key_rotation_uses_the_new_key(
    emu: EmulatorDriver,
) -> None:
    """After rotation the old JWKS no longer verifies new ID tokens."""
    old = await (await emu.client.get("/restapi/oauth/jwks")).json()
    emu.state.rotate_signing_key()
    tokens = await emu.login(scope="openid")
    new = await (await emu.client.get("/restapi/oauth/jwks")).json()
    jwt.decode(tokens["id_token"], KeySet.import_key_set(new))
    with pytest.raises(Exception, match="kid"):
        jwt.decode(tokens["id_token"], KeySet.import_key_set(old))


# Rate limit and faults ---------------------------------------------------------


async def test_rate_limit_penalty_restarts(start: Start, frozen: FrozenClock) -> None:
    """Over the limit is 429 CMN-301 with Retry-After; retries extend the penalty."""
    emu = await start(auto_approve=True, rate_limit=2)
    form = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "c"}
    assert (await emu.token(**form)).status == 401
    assert (await emu.token(**form)).status == 401
    limited = await emu.token(**form)
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "60"
    assert (await limited.json())["errorCode"] == "CMN-301"
    frozen.advance(45)
    assert (await emu.token(**form)).status == 429
    frozen.advance(45)
    assert (await emu.token(**form)).status == 429
    frozen.advance(61)
    assert (await emu.token(**form)).status == 401
    other = {**form, "client_id": "someone-else"}
    assert (await emu.token(**other)).status == 401


async def test_fail_fault(emu: EmulatorDriver) -> None:
    """fail answers a RingCentral JSON error with the chosen status, times times."""
    emu.faults.fail(
        "token", status=503, error="server_error", description="down", times=2
    )
    tokens = [await emu.refresh("x") for _ in range(3)]
    assert [t.status for t in tokens] == [503, 503, 400]
    assert (await tokens[0].json())["error_description"] == "down"


async def test_raw_fault(emu: EmulatorDriver) -> None:
    """raw answers the given bytes, e.g. a proxy's HTML error page."""
    emu.faults.raw("revoke", status=502, body=b"<html>Bad gateway</html>")
    response = await emu.client.post("/restapi/oauth/revoke", data={"token": "x"})
    assert response.status == 502
    assert response.content_type == "text/html"
    assert await response.read() == b"<html>Bad gateway</html>"


async def test_truncate_fault(emu: EmulatorDriver) -> None:
    """truncate sends a short body under a long Content-Length and hangs up."""
    emu.faults.truncate("token")
    response = await emu.refresh("x")
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    assert (await emu.refresh("x")).status == 400


async def test_delay_fault(emu: EmulatorDriver) -> None:
    """delay holds the answer back long enough for a client timeout."""
    emu.faults.delay("token", 0.5)
    with pytest.raises(TimeoutError):
        await emu.client.post(
            "/restapi/oauth/token",
            data={"grant_type": "refresh_token"},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    assert (await emu.refresh("x")).status == 400


async def test_authorize_fault(emu: EmulatorDriver) -> None:
    """Faults also hit authorize, here as a 500 instead of the redirect."""
    emu.faults.fail("authorize")
    assert (await emu.authorize()).status == 500
    assert (await emu.authorize()).status == 302


async def test_invalid_grant_fault(emu: EmulatorDriver) -> None:
    """invalid_grant refuses the next refresh only, and keeps the session."""
    tokens = await emu.login()
    emu.faults.invalid_grant()
    refused = await emu.refresh(tokens["refresh_token"])
    assert (await refused.json())["error"] == "invalid_grant"
    assert (await emu.refresh(tokens["refresh_token"])).status == 200


def test_faults_refuse_unknown_endpoints() -> None:
    """Arming a fault for an endpoint that has none is a mistake caught early."""
    app = create_app()
    from loopback_login.emulator import FAULTS

    with pytest.raises(ValueError, match="endpoint"):
        app[FAULTS].fail("userinfo")  # type: ignore[arg-type]


# Configuration, clients file and serve ----------------------------------------


def test_clients_file_round_trip(tmp_path: Path) -> None:
    """A clients file yields EmulatorClient objects with the given fields."""
    path = tmp_path / "clients.json"
    path.write_text(
        json.dumps(
            {
                "clients": [
                    {
                        "client_id": "app",
                        "client_secret": "s",
                        "auth_method": "client_secret_basic",
                        "redirect_uris": ["http://localhost:8400/callback"],
                        "issue_refresh_tokens": False,
                    }
                ]
            }
        )
    )
    (client,) = load_clients_file(path)
    assert client.client_id == "app"
    assert client.redirect_uris == ("http://localhost:8400/callback",)
    assert client.issue_refresh_tokens is False


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{nope", "not valid JSON"),
        ('{"clients": {}}', '"clients" list'),
        ('{"clients": [{"client_id": "a"}]}', "lacks 'redirect_uris'"),
        ('{"clients": [{"client_id": "a", "redirect_uris": ["x"]}]}', "absolute"),
        (
            '{"clients": [{"client_id": "a", "redirect_uris": [], "colour": 1}]}',
            "unknown field",
        ),
        (
            '{"clients": [{"client_id": "a", "redirect_uris": [], '
            '"auth_method": "client_secret_basic"}]}',
            "needs a client_secret",
        ),
        (
            '{"clients": [{"client_id": "a", "redirect_uris": [], '
            '"auth_method": "magic"}]}',
            "not one of",
        ),
    ],
)
def test_clients_file_errors(tmp_path: Path, content: str, message: str) -> None:
    """A bad clients file raises ConfigError naming what is wrong."""
    path = tmp_path / "clients.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_clients_file(path)


def test_missing_clients_file(tmp_path: Path) -> None:
    """A clients file that isn't there is a ConfigError with its path."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_clients_file(tmp_path / "absent.json")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "localhost", "::"])
async def test_serve_refuses_non_loopback_hosts(host: str) -> None:
    """serve binds only loopback IP addresses."""
    with pytest.raises(ConfigError, match="loopback"):
        await serve(EmulatorConfig(), host=host)


async def test_serve_on_loopback() -> None:
    """serve returns a runner and the base URL of a working emulator."""
    runner, base = await serve(EmulatorConfig())
    try:
        assert base.startswith("http://127.0.0.1:")
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{base}/.well-known/openid-configuration") as response,
        ):
            assert (await response.json())["issuer"] == base
    finally:
        await runner.cleanup()


def test_demo_defaults() -> None:
    """The default config holds both demo clients and the demo user."""
    config = EmulatorConfig()
    public = config.client(DEMO_CLIENT_ID)
    confidential = config.client(DEMO_CONFIDENTIAL_CLIENT_ID)
    assert public is not None
    assert public.auth_method == "none"
    assert confidential is not None
    assert confidential.client_secret == "demo-secret"
    assert "http://[::1]/callback" in public.redirect_uris
    assert config.users[0].username == "demo@example.com"


def test_basic_helper_is_rfc_shaped() -> None:
    """The test helper encodes like RFC 6749 §2.3.1, so the tests above mean it."""
    header = basic("a b", "c:d")["Authorization"].split()[1]
    assert base64.b64decode(header) == b"a+b:c%3Ad"
