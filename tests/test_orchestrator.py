"""The whole flow, end to end, against the real emulator over real sockets."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from helpers import Emulator, EmulatorFactory, SessionFactory

from loopback_login.clock import FrozenClock
from loopback_login.emulator import (
    DEMO_CONFIDENTIAL_CLIENT_ID,
    DEMO_CONFIDENTIAL_SECRET,
    FAULTS,
    STATE,
    EmulatorClient,
)
from loopback_login.errors import (
    AuthorizationError,
    NetworkError,
    NotLoggedInError,
    SessionExpiredError,
    TokenEndpointError,
)
from loopback_login.loopback.browser import FailingBrowser
from loopback_login.loopback.http_browser import HttpBrowser
from loopback_login.store.memory_store import MemoryTokenStore


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("pkce", ["S256", "plain"])
async def test_login(
    make_session: SessionFactory, emulator: Emulator, method: str, pkce: str
) -> None:
    """GET and POST logins with either PKCE method end with a verified identity."""
    browser = HttpBrowser()
    session = make_session(method=method, pkce_method=pkce, opener=browser)
    tokens = await session.login()
    page = await browser.finished()
    state = emulator.app[STATE]
    assert state.last_authorize is not None
    assert state.last_authorize["code_challenge_method"] == pkce
    assert state.count("authorize") == 1
    authorize = [r for r in state.requests if r.endpoint == "authorize"]
    assert [r.method for r in authorize] == [method.upper()]
    assert state.is_session_active(tokens.access_token)
    assert "You are signed in" in page.text
    assert "Dana Demo" in page.text
    entry = session.entry()
    assert entry is not None
    assert entry.identity is not None
    assert entry.identity["sub"] == "101"
    assert entry.identity["signature_checked"] is True


async def test_cached_token_needs_no_request(
    make_session: SessionFactory, emulator: Emulator
) -> None:
    """A valid cached token is returned without a request or a browser."""
    await make_session().login()
    before = len(emulator.app[STATE].requests)
    tokens = await make_session(opener=FailingBrowser()).get_token()
    assert tokens.access_token
    assert len(emulator.app[STATE].requests) == before


async def test_refresh_rotates_and_saves(
    make_session: SessionFactory,
    emulator: Emulator,
    clock: FrozenClock,
    store: MemoryTokenStore,
) -> None:
    """Near expiry the token is refreshed once and the rotated refresh token saved."""
    first = await make_session().login()
    clock.advance(3500)
    session = make_session(with_provider=False, opener=FailingBrowser())
    second = await session.get_token()
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token
    assert emulator.app[STATE].count("token", grant_type="refresh_token") == 1
    saved = store.load("default")
    assert saved is not None
    assert saved["tokens"]["refresh_token"] == second.refresh_token
    # The spent refresh token is dead at the server: the saved one is the only way on.
    assert not emulator.app[STATE].is_session_active(first.access_token)


async def test_invalid_grant_marks_the_session_dead(
    make_session: SessionFactory, emulator: Emulator, clock: FrozenClock
) -> None:
    """invalid_grant ends the session; later calls answer at once without a request."""
    await make_session().login()
    clock.advance(4000)
    emulator.app[FAULTS].invalid_grant()
    session = make_session(with_provider=False)
    with pytest.raises(SessionExpiredError) as info:
        await session.get_token()
    assert info.value.exit_code == 2
    assert "loopback-login login --profile default" in (info.value.hint or "")
    requests = len(emulator.app[STATE].requests)
    with pytest.raises(SessionExpiredError):
        await session.get_token()
    assert len(emulator.app[STATE].requests) == requests


async def test_dead_session_with_login_runs_the_browser(
    make_session: SessionFactory, emulator: Emulator, clock: FrozenClock
) -> None:
    """get_token(login=True) replaces a dead session with a new login."""
    await make_session().login()
    clock.advance(4000)
    emulator.app[FAULTS].invalid_grant()
    with pytest.raises(SessionExpiredError):
        await make_session().get_token()
    tokens = await make_session().get_token(login=True)
    assert emulator.app[STATE].is_session_active(tokens.access_token)


async def test_network_failure_keeps_the_cache(
    make_session: SessionFactory,
    emulator: Emulator,
    clock: FrozenClock,
    store: MemoryTokenStore,
) -> None:
    """A 5xx during refresh changes nothing on disk; a still-valid token is used."""
    await make_session().login()
    saved = store.load("default")
    clock.advance(3400)  # inside the margin, not yet expired
    emulator.app[FAULTS].fail("token", status=503, error="server_error")
    warnings: list[str] = []
    tokens = await make_session(with_provider=False, notify=warnings.append).get_token()
    assert saved is not None
    assert tokens.access_token == saved["tokens"]["access_token"]
    assert any("could not refresh" in w for w in warnings)
    assert store.load("default") == saved
    clock.advance(400)  # now expired: the failure is an error
    emulator.app[FAULTS].fail("token", status=503, error="server_error")
    with pytest.raises(TokenEndpointError) as info:
        await make_session(with_provider=False).get_token()
    assert info.value.status == 503
    assert store.load("default") == saved


async def test_unreachable_server_keeps_the_cache(
    make_session: SessionFactory, clock: FrozenClock, store: MemoryTokenStore
) -> None:
    """Connection refused is a NetworkError and the entry stays as it was."""
    await make_session().login()
    saved = store.load("default")
    assert saved is not None
    saved["settings"]["server"] = "http://127.0.0.1:9"  # nothing listens on port 9
    store.save("default", saved)
    clock.advance(4000)
    with pytest.raises(NetworkError, match="cannot connect"):
        await make_session(with_provider=False).get_token()
    assert store.load("default") == saved


async def test_no_refresh_token_says_how_to_fix(
    start_emulator: EmulatorFactory, make_session: SessionFactory, clock: FrozenClock
) -> None:
    """A client without refresh tokens gets a clear message when its token expires."""
    emu = await start_emulator(
        clients=(
            EmulatorClient(
                client_id="no-refresh",
                redirect_uris=("http://127.0.0.1/callback",),
                issue_refresh_tokens=False,
            ),
        )
    )
    tokens = await make_session(server=emu.url, client_id="no-refresh").login()
    assert tokens.refresh_token is None
    clock.advance(3601)
    with pytest.raises(NotLoggedInError, match="no refresh token") as info:
        await make_session(with_provider=False).get_token()
    assert "Issue refresh tokens" in (info.value.hint or "")


async def test_not_logged_in(make_session: SessionFactory) -> None:
    """get_token on an empty profile says to log in, and opens no browser."""
    with pytest.raises(NotLoggedInError, match="not logged in"):
        await make_session(with_provider=False, opener=FailingBrowser()).get_token()


async def test_logout_revokes_at_the_server(
    make_session: SessionFactory, emulator: Emulator, store: MemoryTokenStore
) -> None:
    """logout revokes the whole session at the emulator, then deletes the entry."""
    tokens = await make_session().login()
    assert await make_session(with_provider=False).logout() is True
    assert not emulator.app[STATE].is_session_active(tokens.access_token)
    assert store.load("default") is None
    revoke = [r for r in emulator.app[STATE].requests if r.endpoint == "revoke"]
    assert revoke[-1].params["token"] == tokens.refresh_token
    assert await make_session(with_provider=False).logout() is False


async def test_failed_revocation_keeps_the_entry(
    make_session: SessionFactory, emulator: Emulator, store: MemoryTokenStore
) -> None:
    """A 5xx at revoke keeps the session on disk; local=True forgets it anyway."""
    tokens = await make_session().login()
    emulator.app[FAULTS].fail("revoke", status=500)
    with pytest.raises(TokenEndpointError):
        await make_session(with_provider=False).logout()
    assert store.load("default") is not None
    assert await make_session(with_provider=False).logout(local=True) is True
    assert store.load("default") is None
    assert emulator.app[STATE].is_session_active(tokens.access_token)


async def test_new_login_revokes_the_replaced_session(
    make_session: SessionFactory, emulator: Emulator
) -> None:
    """Logging in again stores the new session, then revokes the old one."""
    old = await make_session().login()
    new = await make_session().login()
    assert not emulator.app[STATE].is_session_active(old.access_token)
    assert emulator.app[STATE].is_session_active(new.access_token)


async def test_profiles_are_kept_apart(
    make_session: SessionFactory, emulator: Emulator, store: MemoryTokenStore
) -> None:
    """Two profiles hold two sessions; logging one out leaves the other."""
    work = await make_session(profile="work").login()
    home = await make_session(profile="home").login()
    assert store.profiles() == ["home", "work"]
    await make_session(profile="work", with_provider=False).logout()
    assert not emulator.app[STATE].is_session_active(work.access_token)
    assert emulator.app[STATE].is_session_active(home.access_token)


async def test_confidential_client_basic_auth(
    make_session: SessionFactory, emulator: Emulator, clock: FrozenClock
) -> None:
    """client_secret_basic logs in, refreshes and revokes; a wrong secret fails."""
    session = make_session(
        client_id=DEMO_CONFIDENTIAL_CLIENT_ID, client_secret=DEMO_CONFIDENTIAL_SECRET
    )
    tokens = await session.login()
    token_requests = [r for r in emulator.app[STATE].requests if r.endpoint == "token"]
    assert token_requests[-1].auth_method == "client_secret_basic"
    clock.advance(3500)
    refreshed = await make_session(
        with_provider=False, client_secret=DEMO_CONFIDENTIAL_SECRET
    ).get_token()
    assert refreshed.access_token != tokens.access_token
    with pytest.raises(TokenEndpointError) as info:
        await make_session(
            client_id=DEMO_CONFIDENTIAL_CLIENT_ID, client_secret="wrong"
        ).login()
    assert info.value.error == "invalid_client"
    assert info.value.status == 401


class DenyingBrowser:
    """Plays a person who presses Deny: the server redirects back with access_denied."""

    async def open(self, url: str) -> bool:
        # The short local URL redirects to the authorize URL, which we read.
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, allow_redirects=False) as response,
        ):
            url = response.headers["Location"]
        query = parse_qs(urlsplit(url).query)
        error = {"error": "access_denied", "state": query["state"][0]}
        return await HttpBrowser().open(
            f"{query['redirect_uri'][0]}?{urlencode(error)}"
        )


async def test_denied_consent(
    make_session: SessionFactory, store: MemoryTokenStore
) -> None:
    """access_denied from the server fails the login and saves nothing."""
    with pytest.raises(AuthorizationError) as info:
        await make_session(opener=DenyingBrowser()).login()
    assert info.value.error == "access_denied"
    assert store.profiles() == []


async def test_reminder_repeats_the_url(
    make_session: SessionFactory, clock: FrozenClock
) -> None:
    """Without a callback for a while, the URL is shown again with what to check;
    the login ends exactly at its timeout (time moved by hand, never waited for)."""
    from loopback_login.errors import AuthorizationTimeoutError
    from loopback_login.loopback.browser import NoBrowser
    from loopback_login.loopback.config import LoopbackConfig

    said: list[str] = []
    session = make_session(
        opener=NoBrowser(),
        notify=said.append,
        loopback=LoopbackConfig(timeout=300, reminder_after=30),
    )
    login = asyncio.create_task(session.login())
    await clock.until_sleepers()
    clock.advance(29.9)
    await asyncio.sleep(0)
    assert not [s for s in said if s.startswith("Still waiting")]
    clock.advance(0.1)
    await clock.until_sleepers()  # reminded, and waiting for the rest
    assert not login.done()
    clock.advance(270)
    with pytest.raises(AuthorizationTimeoutError):
        await login
    reminders = [s for s in said if s.startswith("Still waiting")]
    assert len(reminders) == 1
    assert "/restapi/oauth/authorize?" in reminders[0]
    assert any("No browser was opened" in s for s in said)


async def test_a_refresh_is_saved_under_the_profile_asked_for(
    make_session: SessionFactory, clock: FrozenClock, store: MemoryTokenStore
) -> None:
    """An entry copied to another profile refreshes into that profile's entry, not
    into the one named inside it."""
    await make_session().login()
    copied = store.load("default")
    assert copied is not None
    store.save("work", copied)
    clock.advance(3700)  # expired
    fresh = await make_session(with_provider=False, profile="work").get_token()
    work, default = store.load("work"), store.load("default")
    assert work is not None
    assert default is not None
    assert work["tokens"]["access_token"] == fresh.access_token
    assert default["tokens"] == copied["tokens"]
