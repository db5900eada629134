"""JWT-credential sessions through the library: LoginSession and get_token, against
the real emulator over real sockets."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Emulator, EmulatorFactory, SessionFactory, ThreadedEmulator

import loopback_login
from loopback_login.clock import FrozenClock
from loopback_login.emulator import (
    DEMO_CONFIDENTIAL_CLIENT_ID,
    DEMO_CONFIDENTIAL_SECRET,
    DEMO_JWT,
    JWT_BEARER,
    STATE,
    EmulatorClient,
)
from loopback_login.emulator.config import DEMO_USER
from loopback_login.errors import ConfigError, NotLoggedInError, SessionExpiredError
from loopback_login.loopback.browser import FailingBrowser
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.session.jwt_grant import check_jwt, jwt_from_environment
from loopback_login.store.file_store import FileTokenStore
from loopback_login.store.memory_store import MemoryTokenStore

JWT_OPTIONS = {
    "client_id": DEMO_CONFIDENTIAL_CLIENT_ID,
    "client_secret": DEMO_CONFIDENTIAL_SECRET,
    "grant": "jwt",
    "opener": FailingBrowser(),
}


def end_session(emulator: Emulator, access_token: str) -> None:
    state = emulator.app[STATE]
    state.revoke_session(state.session_by_any(access_token).session_id)


async def test_login_and_renewal(
    make_session: SessionFactory,
    emulator: Emulator,
    store: MemoryTokenStore,
    clock: FrozenClock,
) -> None:
    """A JWT login opens no browser; a dead session is renewed from the credential,
    and without it get_token says what to provide."""
    tokens = await make_session(jwt=DEMO_JWT, **JWT_OPTIONS).login()
    assert store.load("default")["settings"]["grant"] == "jwt"  # type: ignore[index]
    end_session(emulator, tokens.access_token)
    clock.advance(3590)
    later = {"client_secret": DEMO_CONFIDENTIAL_SECRET, "opener": FailingBrowser()}
    with pytest.raises(SessionExpiredError) as caught:
        await make_session(with_provider=False, **later).get_token()
    assert caught.value.hint is not None
    assert "LOOPBACK_LOGIN_JWT" in caught.value.hint
    renewed = await make_session(with_provider=False, jwt=DEMO_JWT, **later).get_token()
    assert renewed.access_token != tokens.access_token
    assert emulator.app[STATE].is_session_active(renewed.access_token)
    assert emulator.app[STATE].count("token", grant_type=JWT_BEARER) == 2


async def test_parallel_sessions_share_one_exchange(
    make_session: SessionFactory,
    emulator: Emulator,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    """Eight get_token calls in one program, each with its own session on one file
    store, meet a dead session: one exchange serves them all."""
    store = FileTokenStore(str(tmp_path / "home"))
    first = await make_session(jwt=DEMO_JWT, store=store, **JWT_OPTIONS).login()
    end_session(emulator, first.access_token)
    clock.advance(3590)
    sessions = [
        make_session(
            with_provider=False,
            store=store,
            jwt=DEMO_JWT,
            client_secret=DEMO_CONFIDENTIAL_SECRET,
            opener=FailingBrowser(),
        )
        for _ in range(8)
    ]
    got = await asyncio.gather(*(s.get_token() for s in sessions))
    assert len({t.access_token for t in got}) == 1
    assert emulator.app[STATE].count("token", grant_type=JWT_BEARER) == 2


def test_get_token_renews_from_the_argument_or_the_environment(
    threaded_emulator: Callable[..., ThreadedEmulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """loopback_login.get_token(jwt=...) renews a dead JWT session; so does
    LOOPBACK_LOGIN_JWT, which the library reads and leaves in place."""
    emu = threaded_emulator()
    home = str(tmp_path / "home")
    monkeypatch.setenv("LOOPBACK_LOGIN_CLIENT_SECRET", DEMO_CONFIDENTIAL_SECRET)
    provider = ProviderConfig(
        server=emu.url,
        client_id=DEMO_CONFIDENTIAL_CLIENT_ID,
        client_secret=DEMO_CONFIDENTIAL_SECRET,
        grant="jwt",
    )

    async def login() -> str:
        async with loopback_login.LoginSession(
            provider, store=FileTokenStore(home), jwt=DEMO_JWT
        ) as session:
            return (await session.login()).access_token

    def kill(access: str) -> None:
        def revoke() -> None:
            state = emu.app[STATE]  # type: ignore[index]
            state.revoke_session(state.session_by_any(access).session_id)

        emu.call(revoke)

    access = asyncio.run(login())
    kill(access)
    # The server refused the token (a 401): the refresh finds the session ended.
    with pytest.raises(SessionExpiredError):
        loopback_login.get_token(cache_dir=home, rejected=access)
    renewed = loopback_login.get_token(cache_dir=home, rejected=access, jwt=DEMO_JWT)
    assert renewed != access
    kill(renewed)
    monkeypatch.setenv("LOOPBACK_LOGIN_JWT", DEMO_JWT)
    again = loopback_login.get_token(cache_dir=home, rejected=renewed)
    assert again not in (access, renewed)
    assert os.environ["LOOPBACK_LOGIN_JWT"] == DEMO_JWT


def test_credential_checks_name_no_value() -> None:
    """Whitespace inside, oversize and emptiness are refused without echoing the
    value; the environment is read in order and taken only when asked."""
    for bad in ("", "abc def", "x" * 9000, "caf\u00e9"):
        with pytest.raises(ConfigError) as caught:
            check_jwt(bad, "in test")
        if bad:
            assert bad not in str(caught.value)
    assert check_jwt("  a.b.c\n", "in test") == "a.b.c"
    environ = {"RC_USER_JWT": "rc", "LOOPBACK_LOGIN_JWT": "ours"}
    assert jwt_from_environment(environ, take=False) == "ours"
    assert len(environ) == 2
    assert jwt_from_environment(environ, take=True) == "ours"
    assert environ == {}
    assert jwt_from_environment({"RC_USER_JWT": "rc"}, take=True) == "rc"


async def test_another_users_credential_is_named_on_renewal(
    start_emulator: EmulatorFactory, make_session: SessionFactory, clock: FrozenClock
) -> None:
    """Renewing with another user's credential works (the credential decides whose
    session it is) but says so: the profile now acts as someone else."""
    other = dataclasses.replace(
        DEMO_USER, username="ops@example.com", owner_id="202", given_name="Ola"
    )
    emu = await start_emulator(users=(DEMO_USER, other))
    said: list[str] = []
    options = {**JWT_OPTIONS, "server": emu.url, "notify": said.append}
    first = await make_session(jwt=DEMO_JWT, **options).login()
    end_session(emu, first.access_token)
    clock.advance(3590)
    theirs = emu.app[STATE].issue_jwt("ops@example.com")
    renewed = await make_session(jwt=theirs, **options).get_token()
    assert renewed.owner_id == "202"
    assert any("is another user's" in line and "extension 202" in line for line in said)


async def test_an_app_without_refresh_tokens_exchanges_again(
    start_emulator: EmulatorFactory, make_session: SessionFactory, clock: FrozenClock
) -> None:
    """An app that issues no refresh token: an expiring access token is replaced
    by a new exchange of the credential, and nothing is said about it; without
    the credential the error says what to provide (exit 1, not a dead session)."""
    app = EmulatorClient(
        client_id="no-refresh", client_secret="s", redirect_uris=(),
        auth_method="client_secret_basic", jwt_grant=True, issue_refresh_tokens=False,
    )  # fmt: skip
    emu = await start_emulator(clients=(app,))
    said: list[str] = []
    options = {**JWT_OPTIONS, "server": emu.url, "client_id": "no-refresh",
               "client_secret": "s", "notify": said.append}  # fmt: skip
    first = await make_session(jwt=DEMO_JWT, **options).login()
    assert first.refresh_token is None
    clock.advance(3590)
    with pytest.raises(NotLoggedInError) as caught:
        await make_session(**options).get_token()
    assert not isinstance(caught.value, SessionExpiredError)
    assert "LOOPBACK_LOGIN_JWT" in (caught.value.hint or "")
    again = await make_session(jwt=DEMO_JWT, **options).get_token()
    assert again.access_token != first.access_token
    assert emu.app[STATE].count("token", grant_type=JWT_BEARER) == 2
    assert said == []
