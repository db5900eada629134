"""What one profile's cache entry holds, how it is read from the store, and how it
reads as a status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from loopback_login.errors import CorruptEntryError
from loopback_login.protocol.discovery import ProviderKeys
from loopback_login.protocol.tokens import TokenSet
from loopback_login.store.file_store import TokenStore
from loopback_login.store.valid import entry_problem

__all__ = ["KEEPALIVE", "ProfileEntry", "describe", "iso_utc", "load_entry"]

KEEPALIVE = "keepalive"
"""The setting that opts a profile in to ``keepalive --all``: a choice of the
person's, so a new login of the profile keeps it."""


@dataclass(frozen=True, repr=False)
class ProfileEntry:
    """A session and everything needed to keep it alive without the login's flags.

    ``settings`` is :meth:`ProviderConfig.to_profile` plus the redirect URIs: never a
    secret. ``dead`` holds the reason once the server has ended the session, so later
    calls answer at once instead of spending a request on it.
    """

    profile: str
    settings: Mapping[str, Any]
    tokens: TokenSet
    saved_at: float
    identity: Mapping[str, Any] | None = None
    provider_keys: ProviderKeys | None = None
    dead: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            # Written for earlier versions, which require it; never read back: the
            # name is where the entry is stored (a copied file is its new profile).
            "profile": self.profile,
            "settings": dict(self.settings),
            "tokens": self.tokens.to_json(),
            "saved_at": self.saved_at,
            "identity": None if self.identity is None else dict(self.identity),
            "provider_keys": None
            if self.provider_keys is None
            else self.provider_keys.to_json(),
            "dead": self.dead,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], profile: str) -> ProfileEntry:
        """The entry stored under ``profile``: the name comes from the store.

        CorruptEntryError for what :func:`entry_problem` refuses: the cached
        ``token`` path applies the same rule, so both read an entry alike.
        """
        if (problem := entry_problem(data)) is not None:
            raise CorruptEntryError(problem)
        try:
            return cls(
                profile=profile,
                settings=dict(data["settings"]),
                tokens=TokenSet.from_json(data["tokens"]),
                saved_at=float(data.get("saved_at") or 0.0),
                identity=_mapping_or_none(data.get("identity")),
                provider_keys=ProviderKeys.from_json(data.get("provider_keys")),
                dead=None if data.get("dead") is None else str(data["dead"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise CorruptEntryError(f"missing or bad field {exc}") from exc

    def mark_dead(self, reason: str) -> ProfileEntry:
        return replace(self, dead=reason)

    @property
    def keepalive(self) -> bool:
        """Whether ``keepalive --all`` keeps this session alive."""
        return self.settings.get(KEEPALIVE) is True

    def kept_settings(self) -> dict[str, Any]:
        """The settings a new login of this profile keeps."""
        return {KEEPALIVE: True} if self.keepalive else {}

    def with_keepalive(self, on: bool) -> ProfileEntry:
        settings = {k: v for k, v in self.settings.items() if k != KEEPALIVE}
        if on:
            settings[KEEPALIVE] = True
        return replace(self, settings=settings)

    @property
    def account(self) -> str | None:
        """Who signed in, as a person would name them: the ID token's name, else
        the extension the token belongs to."""
        name = (self.identity or {}).get("name")
        if name:
            return str(name)
        if self.tokens.owner_id:
            return f"extension {self.tokens.owner_id}"
        return None

    def __repr__(self) -> str:
        return f"ProfileEntry(profile={self.profile!r}, tokens={self.tokens!r})"


def _mapping_or_none(value: Any) -> Mapping[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise TypeError("identity is not an object")


def load_entry(
    store: TokenStore, profile: str, *, quiet: bool = False
) -> ProfileEntry | None:
    """``profile``'s entry, dead or alive, or None if there is none.

    A damaged entry is moved aside and CorruptEntryError raised, saying where it
    went; with ``quiet`` (a login, which is the cure) it only counts as none.
    """
    try:
        raw = store.load(profile)
    except CorruptEntryError:
        if quiet:  # moved aside already
            return None
        raise
    if raw is None:
        return None
    try:
        return ProfileEntry.from_json(raw, profile)
    except CorruptEntryError as exc:
        aside = store.set_aside(profile, str(exc))
        if quiet:
            return None
        raise aside from exc


def describe(entry: ProfileEntry, *, now: float) -> dict[str, Any]:
    """The status of a profile, for people and for ``status --json``. Never a token."""
    tokens = entry.tokens
    ended = tokens.session_expires_at is not None and tokens.session_expires_at <= now
    if entry.dead or ended:
        state = "needs login"
    elif not tokens.is_expired(now=now) and not tokens.needs_refresh(now=now):
        state = "valid"
    elif not tokens.refresh_expired(now=now):
        state = "refresh needed"
    elif not tokens.is_expired(now=now):
        state = "valid"  # inside the margin, but nothing can refresh it
    else:
        state = "expired" if tokens.refresh_token is None else "needs login"
    identity = dict(entry.identity or {})
    return {
        "profile": entry.profile,
        "state": state,
        "server": entry.settings.get("server"),
        "client_id": entry.settings.get("client_id"),
        "client_auth": entry.settings.get("client_auth"),
        "owner_id": tokens.owner_id,
        "endpoint_id": tokens.endpoint_id,
        "session_id": tokens.session_id,
        "scope": tokens.scope,
        "access_expires_at": tokens.expires_at,
        "refresh_expires_at": tokens.refresh_token_expires_at,
        "has_refresh_token": tokens.refresh_token is not None,
        "identity": identity or None,
        "account": entry.account,
        "dead": entry.dead,
        "session_expires_at": tokens.session_expires_at,
        "keepalive": entry.keepalive,
        # The same moments for people and for tools that do not count seconds.
        "access_expires_at_utc": iso_utc(tokens.expires_at),
        "refresh_expires_at_utc": iso_utc(tokens.refresh_token_expires_at),
        "session_expires_at_utc": iso_utc(tokens.session_expires_at),
    }


def iso_utc(epoch: float | None) -> str | None:
    """``2027-01-15T08:00:00Z`` for an epoch time; None stays None."""
    if epoch is None:
        return None
    stamp = datetime.fromtimestamp(epoch, tz=UTC).replace(microsecond=0)
    return stamp.isoformat().replace("+00:00", "Z")
