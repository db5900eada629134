"""Keep-alive against the real emulator on a frozen clock: which sessions it
refreshes, which it leaves alone, how it spaces its requests, and that a session
left idle past its refresh token's life lives only when keep-alive ran."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from helpers import Emulator, EmulatorFactory, SessionFactory

from loopback_login.clock import FrozenClock
from loopback_login.emulator import STATE
from loopback_login.errors import SessionExpiredError
from loopback_login.protocol.tokens import TokenSet
from loopback_login.session.entry import describe, load_entry
from loopback_login.session.keepalive import (
    KeepAlive,
    Report,
    decide,
    expiry_warning,
    set_keepalive,
)
from loopback_login.store.memory_store import MemoryTokenStore

DAY = 86400.0
SHORT = {"refresh_token_ttl": str(int(DAY))}  # a refresh token inside --within


def refreshes(emulator: Emulator) -> list[str]:
    """The refresh tokens the emulator was asked to spend, in order."""
    state = emulator.app[STATE]
    return [
        r.params["refresh_token"]
        for r in state.requests
        if r.endpoint == "token" and r.params.get("grant_type") == "refresh_token"
    ]


class Sleeps:
    """A sleep that moves the frozen clock instead of waiting, and remembers."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def keepalive(
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
    **options: Any,
) -> KeepAlive:
    options.setdefault("sleep", Sleeps(clock))
    return KeepAlive(store=store, http=http, clock=clock, **options)


def statuses(report: Report) -> dict[str, str]:
    return {o.profile: o.status for o in report.outcomes}


async def test_near_end_is_refreshed_far_is_not(
    make_session: SessionFactory,
    emulator: Emulator,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """A refresh token within --within is renewed; a far one costs no request."""
    await make_session(profile="near", token_params=SHORT).login()
    await make_session(profile="far").login()
    near_before = load_entry(store, "near")
    far_before = load_entry(store, "far")
    far_saved = store.load("far")
    assert near_before is not None
    assert far_before is not None
    clock.advance(600)  # the access tokens stay far from their margin

    report = await keepalive(store, http, clock).run(["near", "far"])

    assert statuses(report) == {"near": "refreshed", "far": "not due"}
    assert report.ok
    assert refreshes(emulator) == [near_before.tokens.refresh_token]
    near_after = load_entry(store, "near")
    assert near_after is not None
    assert near_after.tokens.refresh_token != near_before.tokens.refresh_token
    assert near_after.tokens.refresh_token_expires_at == clock() + DAY
    assert store.load("far") == far_saved


async def test_far_refresh_token_waits_for_the_access_margin(
    make_session: SessionFactory,
    emulator: Emulator,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """Far from its end, a session is refreshed only once its access token is
    inside the margin, when a program would refresh it anyway."""
    await make_session(profile="far").login()
    runner = keepalive(store, http, clock)
    clock.advance(3600 - 400)  # margin of a 1 h token: 300 s
    assert statuses(await runner.run(["far"])) == {"far": "not due"}
    assert refreshes(emulator) == []
    clock.advance(200)
    assert statuses(await runner.run(["far"])) == {"far": "refreshed"}
    assert len(refreshes(emulator)) == 1
    # Run again at once: nothing more to do (idempotent).
    assert statuses(await runner.run(["far"])) == {"far": "not due"}
    assert len(refreshes(emulator)) == 1


async def test_dead_logged_out_refreshless_and_disabled_are_untouched(
    make_session: SessionFactory,
    emulator: Emulator,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """Named and skipped, never revived; profiles that did not opt in are not
    even looked at by --all."""
    for name in ("dead", "gone", "bare", "off"):
        await make_session(profile=name, token_params=SHORT).login()
    for name in ("dead", "gone", "bare"):
        await set_keepalive(store, name, True)
    dead = load_entry(store, "dead")
    bare = load_entry(store, "bare")
    assert dead is not None
    assert bare is not None
    store.save("dead", dead.mark_dead("Token is revoked").to_json())
    no_refresh = TokenSet(
        access_token=bare.tokens.access_token,
        token_type="bearer",
        issued_at=bare.tokens.issued_at,
        expires_at=bare.tokens.expires_at,
    )
    store.save("bare", type(bare)(**{**bare.__dict__, "tokens": no_refresh}).to_json())
    await make_session(profile="gone").logout()
    saved = {name: store.load(name) for name in store.profiles()}

    report = await keepalive(store, http, clock).run()

    assert statuses(report) == {"bare": "skipped", "dead": "skipped"}
    assert not report.ok
    details = {o.profile: o.detail for o in report.outcomes}
    assert "Token is revoked" in details["dead"]
    assert "login --profile dead" in details["dead"]
    assert "no refresh token" in details["bare"]
    named = await keepalive(store, http, clock).run(["gone"])
    assert statuses(named) == {"gone": "skipped"}
    assert "not logged in" in named.outcomes[0].detail
    assert refreshes(emulator) == []
    assert {name: store.load(name) for name in store.profiles()} == saved


async def test_refreshes_are_spaced_under_the_rate_limit(
    start_emulator: EmulatorFactory,
    make_session: SessionFactory,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """Seven sessions due at once against RingCentral's 5 a minute: all kept,
    at least 15 s apart, none rate limited."""
    emulator = await start_emulator(rate_limit=5)
    names = [f"p{i}" for i in range(7)]
    for name in names:
        await make_session(
            profile=name, server=emulator.url, token_params=SHORT
        ).login()
        await set_keepalive(store, name, True)
        clock.advance(30)  # two requests per login: stay under the limit
    clock.advance(60)
    sleeps = Sleeps(clock)

    report = await keepalive(store, http, clock, sleep=sleeps).run()

    assert statuses(report) == dict.fromkeys(names, "refreshed")
    assert report.ok
    assert sleeps.waits == [15.0] * 6
    assert len(refreshes(emulator)) == 7


async def test_a_429_stops_the_run(
    start_emulator: EmulatorFactory,
    make_session: SessionFactory,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """The first rate limit ends the run: no request during the penalty, the
    rest named as not tried, and the report is a failure."""
    emulator = await start_emulator(rate_limit=2)
    names = ["a", "b", "c", "d"]
    for name in names:
        await make_session(
            profile=name, server=emulator.url, token_params=SHORT
        ).login()
        clock.advance(61)

    report = await keepalive(store, http, clock, spacing=0).run(names)

    assert statuses(report) == {
        "a": "refreshed",
        "b": "refreshed",
        "c": "rate limited",
        "d": "not tried",
    }
    assert not report.ok
    assert report.stopped is not None
    assert report.stopped.retry_after == 60
    assert "run again after 60 s" in report.outcomes[2].detail
    assert len(refreshes(emulator)) == 3
    # The session that met the limit keeps its tokens (and the server its session).
    c = load_entry(store, "c")
    assert c is not None
    assert not c.dead
    assert emulator.app[STATE].is_session_active(c.tokens.refresh_token or "")


async def test_the_sessions_absolute_end_is_respected(
    start_emulator: EmulatorFactory,
    make_session: SessionFactory,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """Run every 12 h for 12 days against a 10-day session timeout: refreshes stop
    once the refresh token reaches the session's end, none is tried past it, and
    status shows the end."""
    emulator = await start_emulator(session_ttl=int(10 * DAY))
    await make_session(profile="s", server=emulator.url, token_params=SHORT).login()
    await set_keepalive(store, "s", True)
    start = clock()
    end = start + 10 * DAY
    entry = load_entry(store, "s")
    assert entry is not None
    assert entry.tokens.session_expires_at == end
    assert entry.tokens.extra["session_expiration_time"].endswith("Z")
    runner = keepalive(store, http, clock)
    seen: list[tuple[float, str]] = []
    capped_at: float | None = None
    for _ in range(24):
        clock.advance(DAY / 2)
        report = await runner.run()
        seen.append((clock() - start, report.outcomes[0].status))
        now_entry = load_entry(store, "s")
        assert now_entry is not None
        assert (now_entry.tokens.refresh_token_expires_at or 0) <= end
        if capped_at is None and now_entry.tokens.refresh_token_expires_at == end:
            capped_at = clock() - start
    entry = load_entry(store, "s")
    assert entry is not None
    # Never extended past the end, and no request once nothing could be gained.
    assert entry.tokens.refresh_token_expires_at == end
    assert entry.tokens.session_expires_at == end
    assert capped_at is not None
    statuses_after_cap = [s for t, s in seen if t > capped_at]
    assert statuses_after_cap
    assert "refreshed" not in statuses_after_cap
    assert seen[-1][1] == "skipped"
    assert "absolute end" in report.outcomes[0].detail
    assert describe(entry, now=clock())["state"] == "needs login"
    assert (
        describe(entry, now=start)["session_expires_at_utc"] == "2027-01-25T08:00:00Z"
    )
    times = len(refreshes(emulator))
    assert 0 < times <= 19
    with pytest.raises(SessionExpiredError):
        await make_session(profile="s", with_provider=False).get_token()


@pytest.mark.parametrize("kept_alive", [True, False])
async def test_an_idle_session_lives_only_with_keepalive(
    start_emulator: EmulatorFactory,
    make_session: SessionFactory,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
    kept_alive: bool,
) -> None:
    """Idle three times its refresh token's (shortened) life: alive when the
    schedule ran keep-alive every 30 min, dead without it."""
    emulator = await start_emulator(access_token_ttl=600, refresh_token_ttl=7200)
    await make_session(profile="idle", server=emulator.url).login()
    if kept_alive:
        await set_keepalive(store, "idle", True)
    runner = keepalive(store, http, clock, within=3600)
    for _ in range(12):  # six hours
        clock.advance(1800)
        assert (await runner.run()).ok
    session = make_session(profile="idle", with_provider=False)
    if kept_alive:
        tokens = await session.get_token()
        assert emulator.app[STATE].is_session_active(tokens.access_token)
    else:
        with pytest.raises(SessionExpiredError):
            await session.get_token()


async def test_keepalive_setting_survives_refresh_and_login(
    make_session: SessionFactory,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """The opt-in is the profile's: a refresh and a new login keep it; off removes it."""
    await make_session(profile="p", token_params=SHORT).login()
    assert not load_entry(store, "p").keepalive  # type: ignore[union-attr]
    await set_keepalive(store, "p", True)
    await keepalive(store, http, clock).run(["p"])
    assert load_entry(store, "p").keepalive  # type: ignore[union-attr]
    await make_session(profile="p").login()
    entry = load_entry(store, "p")
    assert entry is not None
    assert entry.keepalive
    assert describe(entry, now=clock())["keepalive"] is True
    await set_keepalive(store, "p", False)
    assert "keepalive" not in load_entry(store, "p").settings  # type: ignore[union-attr]


async def test_expiry_warning(
    make_session: SessionFactory, store: MemoryTokenStore, clock: FrozenClock
) -> None:
    """Under a day left and keep-alive off: one warning naming the cure; none
    with keep-alive on, with more time, or when the session's end comes first."""
    await make_session(profile="w", token_params=SHORT).login()
    entry = load_entry(store, "w")
    assert entry is not None
    assert expiry_warning(entry, now=clock() - 3600) is None  # 25 h left
    warning = expiry_warning(entry, now=clock() + 3600)
    assert warning is not None
    assert "expires in 23 h" in warning
    assert "loopback-login keepalive --enable --profile w" in warning
    assert entry.tokens.refresh_token not in warning  # type: ignore[operator]
    assert expiry_warning(entry.with_keepalive(True), now=clock() + 3600) is None
    assert expiry_warning(entry, now=clock() + DAY + 1) is None  # already over


def test_decide_is_pure_and_explains() -> None:
    """The pitfall rule in one place: refresh early only near the end."""
    now = 1_800_000_000.0

    def entry(**tokens: Any) -> Any:
        from loopback_login.session.entry import ProfileEntry

        base = {
            "access_token": "a",
            "token_type": "bearer",
            "issued_at": now - 600,
            "expires_at": now + 3000,
            "refresh_token": "r",
            "refresh_token_expires_at": now + 5 * DAY,
        }
        return ProfileEntry("p", {}, TokenSet(**{**base, **tokens}), now)

    assert not decide(entry(), now=now, within=2 * DAY).refresh
    assert decide(entry(), now=now, within=6 * DAY).refresh
    assert decide(entry(expires_at=now + 30), now=now, within=2 * DAY).refresh
    capped = entry(refresh_token_expires_at=now + DAY, session_expires_at=now + DAY)
    assert not decide(capped, now=now, within=2 * DAY).refresh
    assert decide(capped, now=now, within=2 * DAY).ok
    assert not decide(entry(session_expires_at=now - 1), now=now, within=DAY).ok
    assert not decide(entry(refresh_token_expires_at=now - 1), now=now, within=DAY).ok


async def test_a_damaged_entry_is_named_and_the_run_goes_on(
    make_session: SessionFactory,
    emulator: Emulator,
    store: MemoryTokenStore,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    await make_session(profile="good", token_params=SHORT).login()
    store.save("bad", {"settings": {}, "tokens": {"access_token": 5}})

    report = await keepalive(store, http, clock).run(["bad", "good"])

    assert statuses(report) == {"bad": "skipped", "good": "refreshed"}
    assert "set aside" in report.outcomes[0].detail
    assert not report.ok
    assert len(refreshes(emulator)) == 1
