"""The people side of authorize: pending requests, sign-in cookies and consents.

A pending request lives server-side under a random transaction id that the page
carries in a hidden field. Each id works once: every form post takes it, and a
page that needs another round gets a fresh one. So the browser never supplies
``client_id`` or ``redirect_uri`` after they were checked, and a replayed form
does nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

from loopback_login.clock import Clock
from loopback_login.emulator.authorize import AuthorizeRequest
from loopback_login.emulator.config import EmulatorUser

__all__ = ["Interactions", "Pending", "SignIn"]

PENDING_TTL = 600.0
SIGN_IN_TTL = 12 * 3600.0


@dataclass(frozen=True)
class SignIn:
    user: EmulatorUser
    auth_time: int


@dataclass(frozen=True)
class Pending:
    """An authorization request waiting for the person; ``sign_in`` once known."""

    request: AuthorizeRequest
    expires_at: float
    sign_in: SignIn | None = None


class Interactions:
    def __init__(self, clock: Clock, max_pending: int) -> None:
        self._clock = clock
        self._max_pending = max_pending
        self._pending: dict[str, Pending] = {}
        self._browsers: dict[str, tuple[SignIn, float]] = {}
        self._consents: dict[tuple[str, str], frozenset[str]] = {}

    def park(self, request: AuthorizeRequest, sign_in: SignIn | None = None) -> str:
        """Keep ``request`` for the next form post; returns its transaction id."""
        return self._keep(Pending(request, self._clock() + PENDING_TTL, sign_in))

    def repark(self, pending: Pending, sign_in: SignIn | None = None) -> str:
        return self._keep(replace(pending, sign_in=sign_in or pending.sign_in))

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def _keep(self, pending: Pending) -> str:
        # Oldest first: a flood costs only the sign-ins abandoned longest ago, whose
        # pages then say they expired; a new login always gets its page.
        while len(self._pending) >= self._max_pending:
            del self._pending[next(iter(self._pending))]
        txn = secrets.token_urlsafe(24)
        self._pending[txn] = pending
        return txn

    def take(self, txn: str) -> Pending | None:
        """The pending request, removed; None if unknown, used or stale."""
        pending = self._pending.pop(txn, None)
        if pending is None or pending.expires_at <= self._clock():
            return None
        return pending

    def remember_browser(self, sign_in: SignIn) -> str:
        """A cookie value that stands for this sign-in for a while."""
        sid = secrets.token_urlsafe(24)
        self._browsers[sid] = (sign_in, self._clock() + SIGN_IN_TTL)
        return sid

    def browser(self, sid: str | None) -> SignIn | None:
        entry = self._browsers.get(sid or "")
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]

    def remember_consent(self, username: str, client_id: str, scope: str) -> None:
        key = (username, client_id)
        self._consents[key] = self._consents.get(key, frozenset()) | set(scope.split())

    def has_consent(self, username: str, client_id: str, scope: str) -> bool:
        granted = self._consents.get((username, client_id), frozenset())
        return set(scope.split()) <= granted
