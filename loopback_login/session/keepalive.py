"""Keeping idle sessions alive between runs: the use case behind ``keepalive``.

RingCentral's refresh tokens die after about seven idle days and cannot be given
longer lives, but each refresh brings a new one with a fresh lifetime. So a run on
a schedule refreshes every session whose refresh token nears its end.

A refresh also ends, at once, the access token every running program holds. So a
session is refreshed early only when its refresh token is near its end; otherwise
only when its access token is inside its refresh margin (or expired), when the next
``token`` would refresh it anyway: keep-alive adds no invalidation of its own.

Each refresh is the one ``token`` does (:func:`refresh_entry` under the profile's
lock), so a run racing any number of ``token`` calls spends each refresh token once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from loopback_login.clock import Clock, Sleep, system_clock, system_sleep
from loopback_login.errors import (
    CorruptEntryError,
    LoopbackLoginError,
    RateLimitError,
    SessionExpiredError,
    login_hint,
)
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.wiring import DEFAULT_HTTP_TIMEOUT, Notify, Wiring
from loopback_login.session.entry import ProfileEntry, iso_utc, load_entry
from loopback_login.session.refresh import refresh_entry
from loopback_login.store.file_store import TokenStore

__all__ = [
    "DEFAULT_SPACING",
    "DEFAULT_WITHIN",
    "WARN_WITHIN",
    "Decision",
    "KeepAlive",
    "Outcome",
    "Report",
    "decide",
    "expiry_warning",
    "set_keepalive",
    "span",
]

DEFAULT_WITHIN = 2 * 86400.0
"""Refresh a session whose refresh token dies within two days: a schedule that
misses a day (a laptop closed over a weekend) still finds it alive."""

DEFAULT_SPACING = 15.0
"""Seconds between two refreshes of one run. RingCentral allows about five auth
requests a minute per app; four leave room for the programs using the sessions."""

WARN_WITHIN = 86400.0
"""``token`` and ``login`` warn when the refresh token has less than this left."""

# What happened to a profile in a run.
REFRESHED = "refreshed"
NOT_DUE = "not due"
SKIPPED = "skipped"
FAILED = "failed"
RATE_LIMITED = "rate limited"
NOT_TRIED = "not tried"


@dataclass(frozen=True)
class Decision:
    """Whether a profile is to be refreshed now; if not, whether that is fine."""

    refresh: bool
    ok: bool
    reason: str


def decide(entry: ProfileEntry | None, *, now: float, within: float) -> Decision:
    """What a keep-alive run does with ``entry`` at ``now``. Pure.

    Dead, logged-out, refresh-token-less and ended sessions are never revived;
    a session whose absolute end comes before its refresh token's is left alone,
    since no refresh can carry it further.
    """
    if entry is None:
        return Decision(False, False, "not logged in")
    tokens = entry.tokens
    if entry.dead:
        return Decision(False, False, f"the session has ended ({entry.dead})")
    if tokens.refresh_token is None:
        return Decision(False, False, "the server issued no refresh token")
    session_end = tokens.session_expires_at
    if session_end is not None and session_end <= now:
        return Decision(
            False, False, f"the session reached its absolute end {_when(session_end)}"
        )
    refresh_end = tokens.refresh_token_expires_at
    if refresh_end is not None and refresh_end <= now:
        return Decision(
            False, False, f"the refresh token expired {_ago(refresh_end, now)}"
        )
    in_margin = tokens.needs_refresh(now=now)
    if (
        session_end is not None
        and refresh_end is not None
        and refresh_end >= session_end
    ):
        # Even a due access token is left to the next `token`: for keeping the
        # session alive, a refresh here gains nothing and costs a request.
        return Decision(
            False,
            True,
            f"the session ends {_when(session_end)} (an absolute limit set by the "
            "organisation): a refresh cannot carry it further",
        )
    if refresh_end is not None and refresh_end - now <= within:
        return Decision(
            True, True, f"the refresh token expires in {span(refresh_end - now)}"
        )
    if in_margin:
        return Decision(True, True, "the access token is due for a refresh")
    until = f"until {iso_utc(refresh_end)}" if refresh_end else "for now"
    return Decision(False, True, f"the refresh token is good {until}")


@dataclass(frozen=True)
class Outcome:
    """One profile's line in a run's report."""

    profile: str
    status: str
    ok: bool
    detail: str
    refresh_expires_at: float | None = None
    session_expires_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "status": self.status,
            "ok": self.ok,
            "detail": self.detail,
            "refresh_expires_at": self.refresh_expires_at,
            "refresh_expires_at_utc": iso_utc(self.refresh_expires_at),
            "session_expires_at": self.session_expires_at,
            "session_expires_at_utc": iso_utc(self.session_expires_at),
        }


@dataclass(frozen=True)
class Report:
    """A whole run: ``ok`` when every profile that needed it was kept alive."""

    outcomes: tuple[Outcome, ...]
    stopped: RateLimitError | None = None

    @property
    def ok(self) -> bool:
        return self.stopped is None and all(o.ok for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


class KeepAlive:
    """Runs of keep-alive over one store.

    ``clock`` and ``sleep`` are the seams of the spacing between refreshes (tests
    pass a frozen clock and a sleep that moves it); ``spacing`` is the least time
    between two refreshes of a run.
    """

    def __init__(
        self,
        *,
        store: TokenStore,
        http: aiohttp.ClientSession | None = None,
        clock: Clock = system_clock,
        sleep: Sleep = system_sleep,
        within: float = DEFAULT_WITHIN,
        spacing: float = DEFAULT_SPACING,
        client_secret: str | None = None,
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
        notify: Notify | None = None,
    ) -> None:
        self._store = store
        self._wiring = Wiring(
            http, clock=clock, timeout=http_timeout, notify=notify, sleep=sleep
        )
        self._within = within
        self._spacing = spacing
        self._secret = client_secret
        self._last_request: float | None = None

    async def __aenter__(self) -> KeepAlive:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._wiring.aclose()

    async def run(self, profiles: Sequence[str] | None = None) -> Report:
        """Keep ``profiles`` alive, or, with None, every profile that opted in.

        Stops at the first rate limit: each request during RingCentral's penalty
        restarts it, so the rest are reported as not tried.
        """
        everyone = profiles is None
        names = self._store.profiles() if profiles is None else list(profiles)
        outcomes: list[Outcome] = []
        stopped: RateLimitError | None = None
        for name in names:
            if stopped is not None:
                outcomes.append(
                    Outcome(name, NOT_TRIED, False, "not tried: rate limited")
                )
                continue
            try:
                entry = load_entry(self._store, name)
            except CorruptEntryError as exc:
                outcomes.append(Outcome(name, SKIPPED, False, str(exc)))
                continue
            if everyone and (entry is None or not entry.keepalive):
                continue
            try:
                outcomes.append(await self._keep(name, entry))
            except RateLimitError as exc:
                stopped = exc
                outcomes.append(Outcome(name, RATE_LIMITED, False, _rate_text(exc)))
            except LoopbackLoginError as exc:  # the lock or the entry, not the server
                detail = f"{exc}; {exc.hint}" if exc.hint else str(exc)
                outcomes.append(Outcome(name, FAILED, False, detail))
        return Report(tuple(outcomes), stopped)

    async def _keep(self, name: str, entry: ProfileEntry | None) -> Outcome:
        decision = decide(entry, now=self._wiring.clock(), within=self._within)
        if not decision.refresh or entry is None:
            return _outcome(name, entry, decision)
        await self._space()
        lock = self._store.lock(name)
        await asyncio.to_thread(lock.__enter__)
        try:
            # Another process may have refreshed it while this one waited.
            entry = load_entry(self._store, name)
            decision = decide(entry, now=self._wiring.clock(), within=self._within)
            if not decision.refresh or entry is None:
                return _outcome(name, entry, decision)
            return await self._refresh(entry)
        finally:
            lock.__exit__(None, None, None)

    async def _refresh(self, entry: ProfileEntry) -> Outcome:
        name = entry.profile
        self._last_request = self._wiring.clock()
        try:
            provider = ProviderConfig.from_profile(
                entry.settings, client_secret=self._secret
            )
            fresh = await refresh_entry(
                entry,
                provider=provider,
                store=self._store,
                wiring=self._wiring,
                fallback=False,
            )
        except RateLimitError:
            raise
        except SessionExpiredError as exc:
            return Outcome(name, FAILED, False, f"{exc}; {login_hint(name)}")
        except LoopbackLoginError as exc:
            detail = f"{exc}; {exc.hint}" if exc.hint else str(exc)
            return Outcome(name, FAILED, False, detail)
        end = fresh.refresh_token_expires_at
        good = f"good until {iso_utc(end)}" if end is not None else "renewed"
        return Outcome(
            name,
            REFRESHED,
            True,
            f"the refresh token is {good}",
            end,
            fresh.session_expires_at,
        )

    async def _space(self) -> None:
        if self._last_request is None:
            return
        wait = self._last_request + self._spacing - self._wiring.clock()
        if wait > 0:
            await self._wiring.sleep(wait)


def _outcome(name: str, entry: ProfileEntry | None, decision: Decision) -> Outcome:
    tokens = entry.tokens if entry is not None else None
    status = NOT_DUE if decision.ok else SKIPPED
    detail = decision.reason
    if not decision.ok and entry is not None and entry.tokens.refresh_token is None:
        detail += (
            '; enable "Issue refresh tokens" in the app\'s settings, then '
            + login_hint(name)
        )
    elif not decision.ok:
        detail += f"; {login_hint(name)}"
    return Outcome(
        name,
        status,
        decision.ok,
        detail,
        tokens.refresh_token_expires_at if tokens else None,
        tokens.session_expires_at if tokens else None,
    )


def _rate_text(exc: RateLimitError) -> str:
    wait = f"{exc.retry_after:g} s" if exc.retry_after is not None else "a minute"
    return (
        f"rate limited by the server ({exc}); stopped here: run again after {wait} "
        "(each request meanwhile extends the wait)"
    )


async def set_keepalive(store: TokenStore, profile: str, on: bool) -> ProfileEntry:
    """Turn keep-alive on or off for ``profile``, under its lock: a refresh saving
    meanwhile must not be overwritten with the tokens it just spent."""
    from loopback_login.errors import NotLoggedInError

    lock = store.lock(profile)
    await asyncio.to_thread(lock.__enter__)
    try:
        entry = load_entry(store, profile)
        if entry is None:
            raise NotLoggedInError(
                f"profile {profile!r} is not logged in", hint=login_hint(profile)
            )
        if entry.keepalive != on:
            entry = entry.with_keepalive(on)
            store.save(profile, entry.to_json())
        return entry
    finally:
        lock.__exit__(None, None, None)


def expiry_warning(entry: ProfileEntry, *, now: float) -> str | None:
    """The warning ``token`` and ``login`` give when an idle session is about to
    die and keep-alive could save it; None when there is nothing to say."""
    tokens = entry.tokens
    end = tokens.refresh_token_expires_at
    if entry.dead or entry.keepalive or tokens.refresh_token is None or end is None:
        return None
    if not now < end <= now + WARN_WITHIN:
        return None
    session_end = tokens.session_expires_at
    if session_end is not None and session_end <= end:
        return None  # the organisation's limit comes first: nothing extends it
    name = entry.profile
    return (
        f"warning: the refresh token of profile {name!r} expires in {span(end - now)} "
        f"({iso_utc(end)}); unused until then, the session needs a new sign-in. "
        f"Keep it alive: loopback-login keepalive --enable --profile {name} "
        "&& loopback-login keepalive --install --write"
    )


def span(seconds: float) -> str:
    """``2 d 3 h``, ``5 h 10 min``, ``42 s``: a duration for people."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _when(epoch: float | None) -> str:
    return f"at {iso_utc(epoch)}" if epoch is not None else "at an unknown time"


def _ago(epoch: float, now: float) -> str:
    return f"{span(now - epoch)} ago ({iso_utc(epoch)})"
