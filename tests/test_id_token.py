"""validate_id_token, each numbered check passing and failing, with its message."""

from __future__ import annotations

import base64
import json
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from helpers import Emulator, EmulatorFactory, SessionFactory
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, RSAKey

from loopback_login.clock import FrozenClock
from loopback_login.emulator import STATE, EmulatorClient, load_clients_file
from loopback_login.errors import (
    ConfigError,
    DiscoveryError,
    IDTokenError,
    IssuerMismatchError,
    NonceMismatchError,
)
from loopback_login.loopback.http_browser import HttpBrowser
from loopback_login.protocol.id_token import UnknownKeyError, validate_id_token
from loopback_login.store.memory_store import MemoryTokenStore

NOW = 1_800_000_000
ISSUER = "https://platform.ringcentral.com"
CLIENT = "my-client"
SECRET = "a-client-secret-long-enough-for-hs256"


@pytest.fixture(scope="module")
def rsa() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})


@pytest.fixture(scope="module")
def ec() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


@pytest.fixture(scope="module")
def jwks(rsa: RSAKey, ec: ECKey) -> KeySet:
    """The provider's public keys, as fetched from its jwks_uri."""
    return KeySet.import_key_set(KeySet([ec, rsa]).as_dict(private=False))


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "sub": "101",
        "aud": CLIENT,
        "exp": NOW + 3600,
        "iat": NOW,
        "nonce": "n-1",
        "name": "Dana Demo",
        "email": "demo@example.com",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(
    key: Any, alg: str = "RS256", kid: str | None = "rsa-1", **changes: Any
) -> str:
    header = {"alg": alg, **({"kid": kid} if kid else {})}
    return jwt.encode(header, claims(**changes), key)


def check(raw: str, jwks: KeySet | None, **options: Any) -> Any:
    options.setdefault("nonce", "n-1")
    return validate_id_token(
        raw, keys=jwks, issuer=ISSUER, client_id=CLIENT, now=NOW, **options
    )


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_valid_rs256_token_passes(rsa: RSAKey, jwks: KeySet) -> None:
    """A token signed by the provider's key passes with the signature checked."""
    identity = check(sign(rsa), jwks)
    assert identity.signature_checked is True
    assert identity.subject == "101"
    assert identity.display_name == "Dana Demo <demo@example.com>"


def test_key_is_chosen_by_type_without_kid(
    rsa: RSAKey, ec: ECKey, jwks: KeySet
) -> None:
    """Without a kid, the key of the algorithm's type verifies (RSA or EC)."""
    assert check(sign(rsa, kid=None), jwks).signature_checked
    assert check(sign(ec, "ES256", kid=None), jwks).signature_checked
    assert check(sign(ec, "ES256", kid="ec-1"), jwks).signature_checked


def test_wrong_signature_fails(jwks: KeySet) -> None:
    """A token signed by another key under the provider's kid fails check 2."""
    forged = sign(RSAKey.generate_key(2048), kid="rsa-1")
    with pytest.raises(
        IDTokenError, match=r"check 2 failed: .*signature does not verify"
    ) as info:
        check(forged, jwks)
    assert "not issued by this server" in str(info.value)
    assert "--jwks-uri" in (info.value.hint or "")


@pytest.mark.parametrize("alg", ["none", "None", "HS512", None])
def test_algorithm_not_on_the_allow_list_fails(
    rsa: RSAKey, jwks: KeySet, alg: str | None
) -> None:
    """alg none (or any algorithm off the list) fails check 1 before anything else."""
    header = {"typ": "JWT"} if alg is None else {"alg": alg}
    unsigned = f"{b64(header)}.{b64(claims())}."
    with pytest.raises(
        IDTokenError, match=f"check 1 failed: .*algorithm {alg!r} is not allowed"
    ) as info:
        check(unsigned, jwks, client_secret=SECRET, trust_transport=True)
    assert "forged token" in str(info.value)


def test_hs256_with_the_client_secret() -> None:
    """HS256 verifies with the client secret; another secret fails check 2."""
    token = sign(OctKey.import_key(SECRET), "HS256", kid=None)
    assert check(token, None, client_secret=SECRET).signature_checked is True
    with pytest.raises(
        IDTokenError, match=r"check 2 failed: .*signature does not verify"
    ) as info:
        check(token, None, client_secret="another-secret-also-quite-long")
    assert "wrong client secret" in str(info.value)


def test_hs256_with_a_short_secret_does_not_warn() -> None:
    """A short server-issued secret verifies without joserfc's SecurityWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        token = sign(OctKey.import_key("short"), "HS256", kid=None)
    # pytest turns warnings into errors: a SecurityWarning would fail this call.
    assert check(token, None, client_secret="short").signature_checked is True


def test_hs256_for_a_public_client_relies_on_tls() -> None:
    """Without a secret, HS256 passes unchecked only over TLS; its claims still count."""
    token = sign(
        OctKey.import_key("the-servers-own-secret-unknown-to-us"), "HS256", kid=None
    )
    identity = check(token, None, trust_transport=True)
    assert identity.signature_checked is False
    assert identity.subject == "101"
    with pytest.raises(
        IDTokenError, match=r"check 2 failed: .*without the client secret"
    ) as info:
        check(token, None, trust_transport=False)
    assert "https" in (info.value.hint or "")
    wrong_aud = sign(OctKey.import_key("x" * 32), "HS256", kid=None, aud="other")
    with pytest.raises(IDTokenError, match="check 4 failed"):
        check(wrong_aud, None, trust_transport=True)


def test_issuer_must_match(rsa: RSAKey, jwks: KeySet) -> None:
    """Another issuer fails check 3, naming both issuers and the likely cause."""
    with pytest.raises(IDTokenError, match="check 3 failed") as info:
        check(sign(rsa, iss="https://evil.example"), jwks)
    message = str(info.value)
    assert "'https://evil.example' is not 'https://platform.ringcentral.com'" in message
    assert "likely cause: a wrong issuer" in message
    assert "--issuer" in (info.value.hint or "")


def test_audience_must_contain_the_client(rsa: RSAKey, jwks: KeySet) -> None:
    """A token for another client fails check 4; a list containing us passes."""
    with pytest.raises(
        IDTokenError, match=r"check 4 failed: .*not client 'my-client'"
    ) as info:
        check(sign(rsa, aud="other-client"), jwks)
    assert "wrong --client-id" in str(info.value)
    assert check(sign(rsa, aud=[CLIENT]), jwks).subject == "101"


def test_several_audiences_need_azp(rsa: RSAKey, jwks: KeySet) -> None:
    """With several audiences azp must be present and be us; a foreign azp fails."""
    both = [CLIENT, "other-client"]
    assert check(sign(rsa, aud=both, azp=CLIENT), jwks).subject == "101"
    with pytest.raises(IDTokenError, match="check 4 failed: the ID token's azp None"):
        check(sign(rsa, aud=both), jwks)
    with pytest.raises(
        IDTokenError, match=r"check 4 failed: .*azp 'other-client'"
    ) as info:
        check(sign(rsa, aud=CLIENT, azp="other-client"), jwks)
    assert "another app" in str(info.value)


@pytest.mark.parametrize(
    ("exp", "ok"),
    [(NOW - 121, False), (NOW - 120, False), (NOW - 119, True), (NOW + 1, True)],
)
def test_expiry_with_leeway(rsa: RSAKey, jwks: KeySet, exp: int, ok: bool) -> None:
    """An expired token fails check 5 beyond the 120 s leeway and passes within it."""
    token = sign(rsa, exp=exp, iat=exp - 3600)
    if ok:
        assert check(token, jwks).subject == "101"
        return
    with pytest.raises(
        IDTokenError, match="check 5 failed: the ID token expired at "
    ) as info:
        check(token, jwks)
    assert "likely cause: clock skew" in str(info.value)
    assert "time zone" in (info.value.hint or "")


@pytest.mark.parametrize(
    ("iat", "ok"), [(NOW + 121, False), (NOW + 120, True), (NOW - 5, True)]
)
def test_issued_in_the_future(rsa: RSAKey, jwks: KeySet, iat: int, ok: bool) -> None:
    """iat beyond the leeway in the future fails check 6; within it passes."""
    token = sign(rsa, iat=iat)
    if ok:
        assert check(token, jwks).subject == "101"
        return
    with pytest.raises(
        IDTokenError, match=r"check 6 failed: .*121 s after this computer's time"
    ) as info:
        check(token, jwks)
    assert "clock skew" in str(info.value)


@pytest.mark.parametrize(
    ("claim", "number"), [("iss", 3), ("sub", 3), ("aud", 4), ("exp", 5), ("iat", 6)]
)
def test_required_claims(rsa: RSAKey, jwks: KeySet, claim: str, number: int) -> None:
    """A token lacking iss, sub, aud, exp or iat fails the check that needs it."""
    with pytest.raises(
        IDTokenError,
        match=f"check {number} failed: the ID token lacks its '{claim}' claim",
    ):
        check(sign(rsa, **{claim: None}), jwks)


@pytest.mark.parametrize(
    ("claim", "value", "number"), [("aud", 123, 4), ("exp", "soon", 5), ("sub", 7, 3)]
)
def test_malformed_claims(
    rsa: RSAKey, jwks: KeySet, claim: str, value: Any, number: int
) -> None:
    """A claim of the wrong type fails its check as malformed."""
    with pytest.raises(
        IDTokenError,
        match=f"check {number} failed: the ID token's '{claim}' claim is malformed",
    ):
        check(sign(rsa, **{claim: value}), jwks)


def test_nonce(rsa: RSAKey, jwks: KeySet) -> None:
    """Another or a missing nonce fails check 7 at login; None skips it (refresh)."""
    with pytest.raises(NonceMismatchError, match="check 7 failed") as info:
        check(sign(rsa, nonce="n-2"), jwks)
    assert "replayed or mixed-up" in str(info.value)
    with pytest.raises(NonceMismatchError):
        check(sign(rsa, nonce=None), jwks)
    assert check(sign(rsa, nonce="anything"), jwks, nonce=None).subject == "101"
    assert check(sign(rsa, nonce=None), jwks, nonce=None).subject == "101"


def test_unknown_key(rsa: RSAKey, ec: ECKey, jwks: KeySet) -> None:
    """An unknown kid, no keys at all, or no key of the type raise UnknownKeyError."""
    with pytest.raises(UnknownKeyError, match="check 2 failed: no key 'rsa-2'"):
        check(sign(rsa, kid="rsa-2"), jwks)
    with pytest.raises(UnknownKeyError, match="no signing keys"):
        check(sign(rsa), None)
    only_ec = KeySet.import_key_set(KeySet([ec]).as_dict(private=False))
    with pytest.raises(UnknownKeyError, match="no RSA key") as info:
        check(sign(rsa, kid=None), only_ec)
    assert "rotated" in (info.value.hint or "")


def test_not_a_jwt(jwks: KeySet) -> None:
    """Something that is not a JWT fails plainly."""
    with pytest.raises(IDTokenError, match="not a JWT"):
        check("not-a-token", jwks)


# At the session, against the emulator ----------------------------------------------


async def test_login_saves_a_checked_identity(
    make_session: SessionFactory, emulator: Emulator, store: MemoryTokenStore
) -> None:
    """An openid login saves who signed in, signature checked, and the JWKS used."""
    await make_session().login()
    entry = make_session().entry()
    assert entry is not None
    assert entry.identity is not None
    assert entry.identity["sub"] == "101"
    assert entry.identity["name"] == "Dana Demo <demo@example.com>"
    assert entry.identity["signature_checked"] is True
    assert entry.provider_keys is not None
    kid = emulator.app[STATE].keys.kid
    assert [k["kid"] for k in entry.provider_keys.jwks["keys"]] == [kid]


async def test_rotated_keys_are_fetched_once_at_refresh(
    make_session: SessionFactory, emulator: Emulator, clock: FrozenClock
) -> None:
    """Cached keys serve a refresh; after a rotation the JWKS is fetched once more."""
    state = emulator.app[STATE]
    await make_session().login()
    clock.advance(3500)
    await make_session(with_provider=False).get_token()
    assert state.count("jwks") == 1  # the cached JWKS verified the refreshed token
    new_kid = state.rotate_signing_key()
    clock.advance(3500)
    await make_session(with_provider=False).get_token()
    assert state.count("jwks") == 2
    entry = make_session().entry()
    assert entry is not None
    assert entry.provider_keys is not None
    assert [k["kid"] for k in entry.provider_keys.jwks["keys"]] == [new_kid]


async def test_unknown_kid_after_refetch_fails(
    make_session: SessionFactory,
    emulator: Emulator,
    aiohttp_server: Any,
    store: MemoryTokenStore,
) -> None:
    """A kid missing from a JWKS fetched twice fails the login; nothing is saved."""
    fetches: list[str] = []

    async def stale_jwks(request: web.Request) -> web.Response:
        fetches.append(request.path)
        other = RSAKey.generate_key(2048, parameters={"kid": "someone-else"})
        return web.json_response(KeySet([other]).as_dict(private=False))

    app = web.Application()
    app.router.add_get("/jwks", stale_jwks)
    keys_server = await aiohttp_server(app, host="127.0.0.1")
    jwks_uri = str(keys_server.make_url("/jwks"))
    with pytest.raises(UnknownKeyError, match="check 2 failed: no key"):
        await make_session(jwks_uri=jwks_uri).login()
    assert fetches == ["/jwks", "/jwks"]
    assert store.profiles() == []


async def test_wrong_issuer_fails_the_login(
    make_session: SessionFactory, emulator: Emulator, store: MemoryTokenStore
) -> None:
    """Another expected issuer fails the ID token's check 3 (or discovery); nothing is saved."""
    browser = HttpBrowser()
    jwks_uri = f"{emulator.url}/restapi/oauth/jwks"
    session = make_session(issuer=ISSUER, jwks_uri=jwks_uri, opener=browser)
    with pytest.raises(
        IDTokenError, match=r"check 3 failed: .*likely cause: a wrong issuer"
    ):
        await session.login()
    assert "Check 3 failed" in (await browser.finished()).text  # as a sentence
    with pytest.raises(DiscoveryError, match=f"names issuer '{emulator.url}'"):
        await make_session(issuer=ISSUER).login()
    assert store.profiles() == []


async def test_clock_skew_fails_the_login(
    make_session: SessionFactory, clock: FrozenClock, store: MemoryTokenStore
) -> None:
    """A computer clock far ahead of the server's fails check 5 and names the cause."""
    ahead = FrozenClock(clock() + 3600 + 121)
    with pytest.raises(
        IDTokenError, match=r"check 5 failed: .*likely cause: clock skew"
    ):
        await make_session(clock=ahead).login()
    assert store.profiles() == []


@pytest.mark.parametrize("matching", [True, False])
async def test_callback_iss(
    start_emulator: EmulatorFactory,
    make_session: SessionFactory,
    store: MemoryTokenStore,
    matching: bool,
) -> None:
    """RFC 9207: the callback's iss must be the expected issuer, or nothing is redeemed."""
    emu = await start_emulator(send_iss=True)
    browser = HttpBrowser()
    issuer = emu.url if matching else ISSUER
    session = make_session(server=emu.url, issuer=issuer, opener=browser)
    if matching:
        await session.login()
        query = parse_qs(urlsplit((await browser.finished()).url).query)
        assert query["iss"] == [emu.url]
        assert store.profiles() == ["default"]
        return
    with pytest.raises(IssuerMismatchError, match=f"issuer '{emu.url}', expected"):
        await session.login()
    assert emu.app[STATE].count("token") == 0
    assert store.profiles() == []


@pytest.mark.parametrize("confidential", [True, False])
async def test_hs256_id_tokens(
    start_emulator: EmulatorFactory,
    make_session: SessionFactory,
    clock: FrozenClock,
    confidential: bool,
) -> None:
    """HS256 verifies with a confidential client's secret; a public client over
    loopback accepts it unchecked, at login and at refresh."""
    client = EmulatorClient(
        client_id="hs-app",
        redirect_uris=("http://127.0.0.1/callback",),
        id_token_alg="HS256",
        **(
            {"auth_method": "client_secret_basic", "client_secret": SECRET}
            if confidential
            else {}
        ),
    )
    emu = await start_emulator(clients=(client,))
    secret = SECRET if confidential else None
    signer = SECRET if confidential else emu.app[STATE].keys.server_secret
    login = await make_session(
        server=emu.url, client_id="hs-app", client_secret=secret
    ).login()
    clock.advance(3500)
    later = make_session(with_provider=False, client_secret=secret)
    refreshed = await later.get_token()
    for tokens in (login, refreshed):
        decoded = jwt.decode(tokens.id_token or "", OctKey.import_key(signer))
        assert decoded.header["alg"] == "HS256"
    assert emu.app[STATE].count("token", grant_type="refresh_token") == 1
    entry = later.entry()
    assert entry is not None
    assert entry.identity is not None
    assert entry.identity["signature_checked"] is confidential
    assert entry.identity["name"] == "Dana Demo <demo@example.com>"


def test_emulator_id_token_alg_option(tmp_path: Path) -> None:
    """The emulator takes id_token_alg from code and clients files, and refuses others."""
    with pytest.raises(
        ConfigError, match="id_token_alg 'none' is not one of RS256, HS256"
    ):
        EmulatorClient(client_id="c", redirect_uris=(), id_token_alg="none")
    path = tmp_path / "clients.json"
    entry = {"client_id": "c", "redirect_uris": [], "id_token_alg": "HS256"}
    path.write_text(json.dumps({"clients": [entry]}))
    assert [c.id_token_alg for c in load_clients_file(path)] == ["HS256"]
