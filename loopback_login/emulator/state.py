"""Everything the emulator remembers: codes, sessions, tokens and what it was asked.

Pure bookkeeping with an injected clock, no HTTP: the handlers decide, this keeps.
Tests read it through ``app[STATE]`` to assert on what a client really sent.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass

from loopback_login.clock import Clock
from loopback_login.emulator.config import EmulatorConfig, EmulatorUser
from loopback_login.emulator.interaction import Interactions
from loopback_login.emulator.ratelimit import RateLimiter
from loopback_login.emulator.signing import SigningKeys

__all__ = ["AuthCode", "EmulatorState", "RecordedRequest", "Session", "new_secret"]

# The request record keeps the most recent ones only, so a long-running emulator
# under a flood stays the same size; tests make far fewer.
MAX_RECORDED = 10_000
# Redeemed codes remembered, to revoke what a replayed one bought (RFC 6749 §4.1.2).
MAX_SPENT_CODES = 10_000


REPLACED_MEMORY = 10.0
"""Seconds a replaced access token is answered "corrupted" before "not found"."""


def new_secret() -> str:
    """An opaque, unguessable value for codes, tokens and ids."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator saw it (the sign-in password is left out)."""

    endpoint: str
    method: str
    params: dict[str, str]
    auth_method: str | None = None
    auth_scheme: str | None = None
    """The ``Authorization`` header's scheme (``Basic``…), never its credentials."""


@dataclass(frozen=True)
class AuthCode:
    """What an authorization code stands for until it is redeemed."""

    client_id: str
    redirect_uri: str
    redirect_uri_given: bool
    user: EmulatorUser
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float


@dataclass
class Session:
    """An OAuth session: one live access token and at most one live refresh token."""

    session_id: str
    client_id: str
    user: EmulatorUser
    scope: str
    auth_time: int
    endpoint_id: str
    access_token: str = ""
    access_expires_at: float = 0.0
    refresh_token: str | None = None
    refresh_expires_at: float | None = None
    revoked: bool = False
    ends_at: float | None = None
    """The absolute end an organisation's session timeout sets, if any."""


class EmulatorState:
    """The emulator's memory, one per app."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.requests: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED)
        self.last_authorize: dict[str, str] | None = None
        self.keys = SigningKeys()
        self.limiter = RateLimiter(config.rate_limit, clock)
        self.ui = Interactions(clock, config.max_pending_authorizations)
        self._codes: dict[str, AuthCode] = {}
        self._spent_codes: dict[str, str | None] = {}
        self._sessions: dict[str, Session] = {}
        self._by_access: dict[str, str] = {}
        self._by_refresh: dict[str, str] = {}
        self._jti: dict[tuple[str, str], float] = {}
        self._replaced: dict[str, float] = {}  # access token -> when a refresh did

    # What was asked -------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        self.requests.append(request)
        if request.endpoint == "authorize":
            self.last_authorize = dict(request.params)

    def count(self, endpoint: str, **param_filters: str) -> int:
        """How many ``endpoint`` requests carried all of ``param_filters``."""
        return sum(
            1
            for r in self.requests
            if r.endpoint == endpoint
            and all(r.params.get(k) == v for k, v in param_filters.items())
        )

    # Codes -----------------------------------------------------------------

    @property
    def pending_authorizations(self) -> int:
        """Sign-ins waiting for the person plus codes waiting to be redeemed."""
        return self.ui.pending_count + len(self._codes)

    def issue_code(self, grant: AuthCode) -> str:
        # Past the bound the oldest code goes: redeeming it is then an unknown
        # code's invalid_grant, as after it expired.
        while len(self._codes) >= self.config.max_pending_authorizations:
            del self._codes[next(iter(self._codes))]
        code = new_secret()
        self._codes[code] = grant
        return code

    def take_code(self, code: str) -> AuthCode | None:
        """Remove and return the code's grant; a second call finds nothing."""
        grant = self._codes.pop(code, None)
        if grant is not None:
            while len(self._spent_codes) >= MAX_SPENT_CODES:
                del self._spent_codes[next(iter(self._spent_codes))]
            self._spent_codes[code] = None
        return grant

    def note_code_session(self, code: str, session_id: str) -> None:
        self._spent_codes[code] = session_id

    def session_of_spent_code(self, code: str) -> str | None:
        """The session a code already bought, if it was redeemed successfully."""
        return self._spent_codes.get(code)

    # Sessions and tokens ---------------------------------------------------

    def start_session(
        self,
        *,
        client_id: str,
        user: EmulatorUser,
        scope: str,
        auth_time: int,
        endpoint_id: str | None,
    ) -> Session:
        session = Session(
            session_id=new_secret(),
            client_id=client_id,
            user=user,
            scope=scope,
            auth_time=auth_time,
            endpoint_id=endpoint_id or secrets.token_hex(8),
        )
        if self.config.session_ttl is not None:
            session.ends_at = self.clock() + self.config.session_ttl
        self._sessions[session.session_id] = session
        return session

    def issue_tokens(
        self, session: Session, *, access_ttl: int, refresh_ttl: int | None
    ) -> None:
        """Give ``session`` a fresh token pair; the previous pair stops working.

        Neither token outlives the session's absolute end, if it has one.
        """
        self._by_access.pop(session.access_token, None)
        if session.refresh_token is not None:
            self._by_refresh.pop(session.refresh_token, None)
        now = self.clock()
        self._note_replaced(session.access_token, now)
        ends = session.ends_at if session.ends_at is not None else float("inf")
        session.access_token = new_secret()
        session.access_expires_at = min(now + access_ttl, ends)
        self._by_access[session.access_token] = session.session_id
        if refresh_ttl is None:
            session.refresh_token = session.refresh_expires_at = None
        else:
            session.refresh_token = new_secret()
            session.refresh_expires_at = min(now + refresh_ttl, ends)
            self._by_refresh[session.refresh_token] = session.session_id

    def recently_replaced(self, token: str) -> bool:
        """True for about 10 s after a refresh replaced this access token."""
        when = self._replaced.get(token)
        return when is not None and self.clock() - when < REPLACED_MEMORY

    def _note_replaced(self, token: str, now: float) -> None:
        if not token:
            return
        for old, when in list(self._replaced.items()):
            if now - when >= REPLACED_MEMORY:
                del self._replaced[old]
        self._replaced[token] = now

    def session_by_access(self, token: str) -> Session | None:
        """The live session whose current access token this is, if unexpired."""
        session = self._session(self._by_access.get(token))
        if session is None or session.access_expires_at <= self.clock():
            return None
        return session

    def session_by_refresh(self, token: str) -> Session | None:
        """The live session whose current refresh token this is (expired or not)."""
        return self._session(self._by_refresh.get(token))

    def session_by_any(self, token: str) -> Session | None:
        """The live session of a current access or refresh token, or a session id."""
        sid = self._by_access.get(token) or self._by_refresh.get(token) or token
        return self._session(sid)

    def revoke_session(self, session_id: str) -> None:
        """End the whole session: its access and refresh tokens stop working."""
        session = self._sessions.get(session_id)
        if session is None:
            return
        session.revoked = True
        self._by_access.pop(session.access_token, None)
        if session.refresh_token is not None:
            self._by_refresh.pop(session.refresh_token, None)

    def is_session_active(self, token: str) -> bool:
        """True while ``token`` (access, refresh or session id) has a live session.

        Live means not revoked, not replaced by a refresh, and not past the later
        of its access and refresh expiry.
        """
        session = self.session_by_any(token)
        if session is None:
            return False
        ends = max(session.access_expires_at, session.refresh_expires_at or 0.0)
        return ends > self.clock()

    @property
    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def _session(self, session_id: str | None) -> Session | None:
        session = self._sessions.get(session_id) if session_id else None
        return None if session is None or session.revoked else session

    # Keys and assertions ---------------------------------------------------

    def rotate_signing_key(self) -> str:
        """Sign with a new key from now on; the JWKS serves only the new one."""
        return self.keys.rotate()

    def use_jti(self, client_id: str, jti: str, expires_at: float) -> bool:
        """Remember an assertion's ``jti``; False if already seen (RFC 7523 §3)."""
        now = self.clock()
        seen = self._jti
        for key in [k for k, exp in seen.items() if exp < now]:
            del seen[key]
        if (client_id, jti) in seen:
            return False
        seen[(client_id, jti)] = expires_at
        return True
