"""A token store in memory: the same contract as the file store, for tests and for
library users who want nothing on disk."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loopback_login.errors import CorruptEntryError, TokenStoreError, login_hint
from loopback_login.store.file_store import (
    EntryReservation,
    decode_entry,
    encode_entry,
    validate_profile_name,
)
from loopback_login.store.locking import ProfileLock

__all__ = ["MemoryTokenStore"]


class _ThreadHeld:
    def __init__(self, release: Callable[[], None]) -> None:
        self.release = release

    def hand_over(self) -> bool:
        self.release()
        return False


class MemoryTokenStore:
    """Entries in this process's memory; locks between its threads."""

    def __init__(self) -> None:
        self._entries: dict[str, bytes] = {}  # JSON, so callers never share our dicts
        self.set_apart: list[bytes] = []  # what set_aside() took out, for inspection
        self._guard = threading.Lock()
        self._new_lock = threading.Lock
        self._locks: dict[str, threading.Lock] = {}

    def load(self, profile: str) -> dict[str, Any] | None:
        with self._guard:
            data = self._entries.get(validate_profile_name(profile))
        return None if data is None else decode_entry(data)

    def set_aside(self, profile: str, reason: str) -> CorruptEntryError:
        name = validate_profile_name(profile)
        with self._guard:
            self.set_apart.append(self._entries.pop(name, b""))
        return CorruptEntryError(
            f"the entry of profile {name!r} is not valid ({reason}); it was set aside",
            hint=login_hint(name),
        )

    def save(self, profile: str, entry: dict[str, Any]) -> None:
        data = encode_entry(entry)
        with self._guard:
            self._entries[validate_profile_name(profile)] = data

    def check_writable(self, profile: str) -> None:
        validate_profile_name(profile)

    def reserve(self, profile: str) -> EntryReservation:
        name = validate_profile_name(profile)

        used: list[bool] = []

        def commit(entry: dict[str, Any], keep_unsaved: bool) -> None:
            self.save(name, entry)
            used.append(True)

        return EntryReservation(commit, lambda: None, lambda: not used)

    def delete(self, profile: str) -> bool:
        with self._guard:
            return self._entries.pop(validate_profile_name(profile), None) is not None

    def profiles(self) -> list[str]:
        with self._guard:
            return sorted(self._entries)

    def lock(self, profile: str, *, timeout: float = 300.0) -> ProfileLock:
        name = validate_profile_name(profile)

        def acquire() -> _ThreadHeld:
            with self._guard:
                held = self._locks.setdefault(name, self._new_lock())
            if not held.acquire(timeout=timeout if 0 <= timeout < 1e9 else -1):
                raise TokenStoreError(
                    f"another thread holds profile {name!r}: waited {timeout:g} s",
                    hint="release the other lock() first; it is not reentrant",
                )
            return _ThreadHeld(held.release)

        return ProfileLock(acquire)
