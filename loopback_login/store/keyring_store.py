"""Profiles that keep their refresh token in the OS keyring, the rest in their entry.

A profile logged in with ``--storage keyring`` keeps its settings, its access token
and that token's expiry in its 0600 entry, which is all the cached ``token`` path
reads; its refresh token, the secret that mints new access tokens for days, lives
in the OS keyring. The entry names the item: ``"keyring": {"backend": ..., "id":
"<profile>@<random>", "n": N}`` is the secret of user ``<id>/<N>`` under the service
``loopback-login``.

Write order, so that no crash loses a session: a new refresh token goes to a new
item, ``N + 1``, and is read back; then the entry is replaced to name it; then the
old item is removed. A crash between the first two steps leaves the entry naming
``N`` while the successor is in ``N + 1``: a reader looks for ``N + 1`` first, and
finds it. A token that did not change is never written again. A login starts a
new ``id``, so what one session left behind is never taken for another's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from typing import Any

from loopback_login.errors import (
    CorruptEntryError,
    NotLoggedInError,
    TokenStoreError,
    login_hint,
)
from loopback_login.store.file_store import EntryReservation, TokenStore
from loopback_login.store.os_keyring import SERVICE, OSKeyring
from loopback_login.store.valid import is_token

__all__ = ["STORAGES", "KeyringStore", "keyring_aware"]

STORAGES = ("file", "keyring")
_ID_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-@"
)


def _ref(value: object) -> dict[str, Any] | None:
    """The keyring reference an entry holds, if it is one we wrote."""
    if not isinstance(value, Mapping):
        return None
    ident, n, backend = value.get("id"), value.get("n"), value.get("backend")
    if not (isinstance(ident, str) and 0 < len(ident) <= 100) or set(ident) - _ID_CHARS:
        return None
    if type(n) is not int or not 0 < n < 2**53 or not isinstance(backend, str):
        return None
    return {"backend": backend, "id": ident, "n": n}


def _user(ref: Mapping[str, Any], step: int = 0) -> str:
    return f"{ref['id']}/{ref['n'] + step}"


class KeyringStore:
    """A token store that puts the refresh token of each ``storage: keyring``
    profile in the OS keyring and everything else in ``inner``.

    Profiles stored as files pass through unchanged. Reading an entry never
    touches the keyring: :meth:`read_refresh_token` does, when a refresh, a login
    or a logout needs the secret.
    """

    def __init__(self, inner: TokenStore, keyring: OSKeyring | None = None) -> None:
        self.inner = inner
        self._keyring = keyring
        # What each item holds, as last read or written here: saves compare with it
        # instead of reading the keyring again.
        self._known: dict[str, str] = {}

    @property
    def keyring(self) -> OSKeyring:
        if self._keyring is None:
            self._keyring = OSKeyring()
        return self._keyring

    # -- the TokenStore contract -----------------------------------------------------

    def load(self, profile: str) -> dict[str, Any] | None:
        return self.inner.load(profile)

    def save(self, profile: str, entry: dict[str, Any]) -> None:
        """Save ``entry``; for a keyring profile, its refresh token goes to the
        keyring first (only if it changed), and the entry names the item."""
        self._put(profile, entry, lambda data: self.inner.save(profile, data))

    def reserve(self, profile: str) -> EntryReservation:
        """The inner store's room for the successor; for a keyring profile, the
        keyring is also proven to take a write, before a refresh spends a token."""
        room = self.inner.reserve(profile)
        try:
            if self._ref_on_disk(profile) is not None:
                self.keyring.check()
        except BaseException:
            room.release()
            raise

        def commit(entry: dict[str, Any], keep_unsaved: bool) -> None:
            self._put(
                profile,
                entry,
                lambda data: room.commit(data, keep_unsaved=keep_unsaved),
            )

        return EntryReservation(commit, room.release, lambda: room.held)

    def delete(self, profile: str) -> bool:
        """Remove the keyring item, then the entry: if the keyring fails, the entry
        stays, so nothing is left that no one can find."""
        ref = self._ref_on_disk(profile)
        if ref is not None:
            self.keyring.delete(_user(ref, 1))  # a successor a crash left behind
            self.keyring.delete(_user(ref))
        return self.inner.delete(profile)

    def check_writable(self, profile: str) -> None:
        self.inner.check_writable(profile)

    def profiles(self) -> list[str]:
        return self.inner.profiles()

    def set_aside(self, profile: str, reason: str) -> CorruptEntryError:
        return self.inner.set_aside(profile, reason)

    def lock(
        self, profile: str, *, timeout: float = 300.0
    ) -> AbstractContextManager[None]:
        return self.inner.lock(profile, timeout=timeout)

    # -- the secret ----------------------------------------------------------------

    def check_keyring(self) -> str:
        """Raise KeyringError unless the keyring takes a secret now; its name."""
        return self.keyring.check()

    def read_refresh_token(
        self, profile: str, reference: object
    ) -> tuple[str, dict[str, Any]]:
        """The refresh token the entry's ``keyring`` reference names, and the
        reference of the item it was found in (a successor a crash left, if any).

        Raises NotLoggedInError if the item is gone (removed by hand), KeyringError
        if the keyring cannot be read.
        """
        ref = _ref(reference)
        if ref is None:
            raise self.inner.set_aside(profile, "its keyring reference is not valid")
        for step in (1, 0):
            user = _user(ref, step)
            value = self.keyring.get(user)
            if value is None:
                continue
            if not is_token(value):  # put there by someone else: not ours to send
                raise NotLoggedInError(
                    f"the OS keyring's item {SERVICE!r} / {user!r} of profile "
                    f"{profile!r} does not hold a refresh token",
                    hint=login_hint(profile),
                )
            self._known[user] = value
            return value, {**ref, "n": ref["n"] + step}
        raise NotLoggedInError(
            f"the refresh token of profile {profile!r} is missing from the OS keyring "
            f"({ref['backend']}): its item {SERVICE!r} / {_user(ref)!r} was removed",
            hint=login_hint(profile),
        )

    # -- steps ---------------------------------------------------------------------

    def _put(
        self,
        profile: str,
        entry: dict[str, Any],
        write: Callable[[dict[str, Any]], None],
    ) -> None:
        old = self._ref_on_disk(profile)
        given = _ref(entry.get("keyring"))
        settings = entry.get("settings")
        if not isinstance(settings, Mapping) or settings.get("storage") != "keyring":
            write({k: v for k, v in entry.items() if k != "keyring"})
            self._forget(old, given, keep=None)
            return
        tokens = dict(entry["tokens"])
        token = tokens.get("refresh_token")
        ref = given
        # A dead session's token is spent: nothing to keep, nothing to write.
        if (
            token is not None
            and not entry.get("dead")
            and (given is None or not self._holds(given, token))
        ):
            ref = self._write(profile, given, str(token))
        tokens["refresh_token"] = None
        write({**entry, "tokens": tokens, "keyring": ref})
        self._forget(old, given, keep=ref)

    def _ref_on_disk(self, profile: str) -> dict[str, Any] | None:
        try:
            current = self.inner.load(profile)
        except TokenStoreError:
            return None  # the save itself will say what is wrong with it
        return _ref(current.get("keyring")) if current else None

    def _holds(self, ref: Mapping[str, Any], token: str) -> bool:
        user = _user(ref)
        known = self._known.get(user)
        if known is None:
            known = self.keyring.get(user)
        return known == token

    def _write(
        self, profile: str, after: Mapping[str, Any] | None, token: str
    ) -> dict[str, Any]:
        ident = after["id"] if after else f"{profile}@{os.urandom(6).hex()}"
        n = after["n"] + 1 if after else 1
        ref = {"backend": "", "id": ident, "n": n}
        self.keyring.set(_user(ref), token)
        self._known[_user(ref)] = token
        ref["backend"] = self.keyring.name
        return ref

    def _forget(
        self, *refs: dict[str, Any] | None, keep: Mapping[str, Any] | None
    ) -> None:
        """Remove items no entry names any more. Best effort: what stays behind
        holds a token that was spent or revoked, and the entry is already saved."""
        for ref in refs:
            if ref is None or (keep is not None and _user(ref) == _user(keep)):
                continue
            with suppress(TokenStoreError):
                self.keyring.delete(_user(ref))
            self._known.pop(_user(ref), None)


def keyring_aware(store: TokenStore) -> KeyringStore:
    """``store``, able to keep refresh tokens in the OS keyring."""
    return store if isinstance(store, KeyringStore) else KeyringStore(store)
