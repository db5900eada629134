"""A profile's refresh token, read from the OS keyring when it lives there, and the
check that a login asking for the keyring can have it.

The keyring is touched only here and in the store's saves: a refresh, a login and a
logout need the secret, nothing else does. Its calls block (each bounded by the
keyring's timeout), so they run off the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from loopback_login.errors import ConfigError, LoopbackLoginError, TokenStoreError
from loopback_login.protocol.wiring import Notify
from loopback_login.session.entry import ProfileEntry
from loopback_login.store.keyring_store import STORAGES, KeyringStore

__all__ = ["check_storage", "storage_for", "with_refresh_token"]


def storage_for(asked: str | None, previous: ProfileEntry | None) -> str:
    """Where a login keeps the refresh token: as asked, else as the profile did."""
    storage = asked or (previous.storage if previous is not None else "file")
    if storage not in STORAGES:
        raise ConfigError(
            f"unknown storage {storage!r}",
            hint="use --storage file or --storage keyring",
        )
    return storage


async def check_storage(store: KeyringStore, profile: str, asked: str | None) -> None:
    """KeyringError now, before any browser opens, if the login is to keep its
    refresh token in a keyring that cannot take it."""
    storage = asked
    if storage is None:  # the profile's own choice; reading the entry changes nothing
        try:
            raw: dict[str, Any] | None = store.load(profile)
        except TokenStoreError:
            raw = None
        settings = raw.get("settings") if raw else None
        storage = settings.get("storage") if isinstance(settings, dict) else None
    if storage == "keyring":
        await asyncio.to_thread(store.check_keyring)


async def with_refresh_token(
    store: KeyringStore,
    entry: ProfileEntry,
    *,
    lenient: bool = False,
    notify: Notify | None = None,
) -> ProfileEntry:
    """``entry`` with its refresh token, read from the keyring if it is there.

    Raises NotLoggedInError if the keyring item is gone and KeyringError if the
    keyring cannot be read; ``lenient`` (a session about to be replaced or ended)
    returns the entry as it is instead, after saying why.
    """
    if entry.keyring is None or entry.tokens.refresh_token is not None:
        return entry
    try:
        token, ref = await asyncio.to_thread(
            store.read_refresh_token, entry.profile, entry.keyring
        )
    except LoopbackLoginError as exc:
        if not lenient:
            raise
        if notify is not None:
            notify(f"warning: {exc}")
        return entry
    return replace(
        entry, tokens=replace(entry.tokens, refresh_token=token), keyring=ref
    )
