"""Token cache: one JSON file per profile, private to you, replaced atomically.

Readers take no lock: ``os.replace`` means they see a whole old or a whole new entry.
Whoever reads, refreshes and writes holds ``lock(profile)``, a separate ``.lock`` file
(``locking.py``), so two processes never both spend a single-use refresh token.
"""

from __future__ import annotations

# `token` runs many times a day, so only modules that cost next to nothing load here;
# typing, json, contextlib and platformdirs would each add a sizeable share of
# the interpreter's own start-up.
import os
import sys

from loopback_login.environment import HOME_ENV
from loopback_login.errors import (
    ConfigError,
    CorruptEntryError,
    NewerEntryError,
    TokenStoreError,
    login_hint,
)
from loopback_login.store import private_files as files
from loopback_login.store import quickjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from contextlib import AbstractContextManager
    from typing import Any, Protocol

    from loopback_login.store.locking import Held, ProfileLock
else:  # the protocol serves type checkers; at run time it is a plain base class
    Protocol = object

__all__ = [
    "FORMAT_VERSION",
    "EntryReservation",
    "FileTokenStore",
    "TokenStore",
    "decode_entry",
    "default_store_dir",
    "encode_entry",
    "refuse_newer",
    "validate_profile_name",
]

FORMAT_VERSION = 1
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _ALNUM | frozenset("._-")


class TokenStore(Protocol):
    """Where token entries (JSON objects) live, one per profile."""

    def load(self, profile: str) -> dict[str, Any] | None: ...  # None: no entry
    def save(self, profile: str, entry: dict[str, Any]) -> None: ...
    def delete(self, profile: str) -> bool: ...  # True if something was removed
    # Raises TokenStoreError if the entry could not be replaced or removed now
    # (a read-only store, an immutable file); writes nothing.
    def check_writable(self, profile: str) -> None: ...
    # Room for the entry's successor, proven and set aside (under the lock) before
    # a single-use token is spent; TokenStoreError if the save would fail.
    def reserve(self, profile: str) -> EntryReservation: ...
    def profiles(self) -> list[str]: ...  # sorted names of profiles with an entry
    # Moves a damaged entry out of the way (never deletes it); the error says where.
    def set_aside(self, profile: str, reason: str) -> CorruptEntryError: ...

    # Not reentrant; raises TokenStoreError when `timeout` passes.
    def lock(
        self, profile: str, *, timeout: float = 300.0
    ) -> AbstractContextManager[None]: ...


class EntryReservation:
    """Room for one profile's next entry, set aside by :meth:`TokenStore.reserve`;
    a ``with`` block gives it back unless it was used."""

    def __init__(
        self,
        commit: Callable[[dict[str, Any], bool], None],
        release: Callable[[], None],
        held: Callable[[], bool],
    ) -> None:
        self._commit, self._release, self._held = commit, release, held

    @property
    def held(self) -> bool:
        """True until the room is used or given back: another commit may try."""
        return self._held()

    def commit(self, entry: dict[str, Any], *, keep_unsaved: bool = True) -> None:
        """Save ``entry`` into the room set aside; TokenStoreError if that fails.

        A failed write leaves the room held (a smaller entry may still fit). If
        only the final step fails, the entry is kept in a private file the error
        names, unless ``keep_unsaved`` is false (it holds nothing worth keeping).
        """
        self._commit(entry, keep_unsaved)

    def release(self) -> None:
        self._release()

    def __enter__(self) -> EntryReservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release()


def _is_profile_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= 64
        and name[0] in _ALNUM
        and set(name) <= _NAME_CHARS
    )


def validate_profile_name(name: str) -> str:
    """Return ``name`` if it matches ``[A-Za-z0-9][A-Za-z0-9._-]{0,63}``.

    Raises ConfigError otherwise: the name becomes a file name.
    """
    if _is_profile_name(name):
        return name
    raise ConfigError(
        f"invalid profile name {str(name)[:80]!r}: use 1 to 64 letters, digits, "
        "'.', '_' or '-', starting with a letter or digit",
        hint="for example: --profile work",
    )


def default_store_dir(environ: Mapping[str, str] = os.environ) -> str:
    """``$LOOPBACK_LOGIN_HOME``, else the user state folder (cache cleaners skip it)."""
    if home := environ.get(HOME_ENV):
        return os.path.abspath(os.path.expanduser(home))
    if sys.platform == "linux" and not hasattr(sys, "getandroidapilevel"):
        # What platformdirs.user_state_path answers, without its ~30 ms import.
        base = environ.get("XDG_STATE_HOME", "")
        if not base.startswith("/"):
            user_home = environ.get("HOME", "")
            if not user_home.startswith("/"):
                import pwd

                user_home = pwd.getpwuid(os.getuid()).pw_dir
            base = user_home.rstrip("/") + "/.local/state"
        return os.path.join(base, "loopback-login")
    import platformdirs

    return str(platformdirs.user_state_path("loopback-login", appauthor=False))


def encode_entry(entry: dict[str, Any]) -> bytes:
    """The entry's bytes; TokenStoreError if it is too big to be read back."""
    if not isinstance(entry, dict):
        raise TypeError(f"a token entry must be a dict, not {type(entry).__name__}")
    data = {"format": FORMAT_VERSION, **entry}
    data["format"] = FORMAT_VERSION  # this code wrote it, whatever the caller passed
    import json  # writers only: readers use quickjson, which spares `token` `re`

    raw = json.dumps(data, separators=(",", ":")).encode()
    if len(raw) > files.MAX_ENTRY_BYTES:
        raise TokenStoreError(
            f"the entry would be {len(raw)} bytes, more than the "
            f"{files.MAX_ENTRY_BYTES} an entry can be; it was not saved",
            hint="the server's answer was unusually large: report it to its owner",
        )
    return raw


def decode_entry(data: bytes) -> dict[str, Any] | None:
    """The entry, or None if the bytes are not one of ours."""
    try:
        entry = quickjson.loads(data)
    except (ValueError, RecursionError):  # also bad UTF-8 and absurd nesting
        return None
    if isinstance(entry, dict) and type(entry.get("format")) is int:
        return entry if entry["format"] >= 1 else None
    return None


class FileTokenStore:
    """Entries as ``<directory>/<profile>.json`` (0600) in a 0700 folder."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.path.abspath(os.fspath(directory))

    def path_for(self, profile: str) -> str:
        """The entry's file name; ConfigError for a bad profile name."""
        return os.path.join(self.directory, validate_profile_name(profile) + ".json")

    def lock_path(self, profile: str) -> str:
        return os.path.join(self.directory, validate_profile_name(profile) + ".lock")

    def load(self, profile: str) -> dict[str, Any] | None:
        """The entry, or None; TokenStoreError if others could read it or it is broken.

        A broken entry is moved aside (CorruptEntryError); a newer one is left
        alone (NewerEntryError).
        """
        path = self.path_for(profile)
        for _attempt in range(3):
            try:
                read = files.read_private(path, self.directory)
            except files.Refused as exc:
                raise files.move_aside(
                    path, str(exc), hint=login_hint(profile)
                ) from None
            if read is None:
                return None
            files.check_private(path, read[1], folder=False)
            files.check_private(self.directory, read[2], folder=True)
            if (entry := decode_entry(read[0])) is not None:
                refuse_newer(path, entry)
                return entry
            try:
                now, then = os.stat(path), read[1]
            except OSError:
                pass
            else:
                if (now.st_dev, now.st_ino) != (then.st_dev, then.st_ino):
                    continue  # a writer replaced the broken entry while we read it
            raise files.move_aside(path, "not JSON", hint=login_hint(profile))
        raise TokenStoreError(f"{path} kept changing while being read", hint="retry")

    def save(self, profile: str, entry: dict[str, Any]) -> None:
        """Replace the entry atomically; on failure the old one stays as it was."""
        path = self.path_for(profile)
        data = encode_entry(entry)
        files.ensure_folder(self.directory)
        # Before any temp file is made: one that cannot be removed again (a folder
        # with chattr +a) would be left behind.
        files.check_changeable(path)
        refuse_newer(path, decode_entry(old) if (old := self._current(path)) else None)
        files.replace_with(path, files.write_temp(path, data, prefix=profile))
        files.sweep_orphans(self.directory)
        files.sweep_corrupt(self.directory)

    def check_writable(self, profile: str) -> None:
        """TokenStoreError if the entry could not be replaced or removed now: a
        read-only file system, ``chattr +i`` or ``+a``. Writes nothing."""
        path = self.path_for(profile)
        files.ensure_folder(self.directory)
        files.check_changeable(path)

    def reserve(self, profile: str) -> EntryReservation:
        """Prove the entry can be replaced and set aside room for its successor:
        twice the current entry's size, at least 16 KiB more than it.

        Hold the profile's lock. Raises TokenStoreError if the successor's save
        would fail (no room, a read-only store, an entry that cannot be replaced).
        """
        path = self.path_for(profile)
        files.ensure_folder(self.directory)
        current = self._current(path)
        refuse_newer(path, decode_entry(current) if current else None)
        n = len(current or b"")
        size = min(max(2 * n, n + files.RESERVE_SLACK), files.MAX_ENTRY_BYTES)
        room = files.reserve(path, current, prefix=profile, size=size)
        files.sweep_orphans(self.directory)
        files.sweep_corrupt(self.directory)

        def commit(entry: dict[str, Any], keep_unsaved: bool) -> None:
            room.commit(encode_entry(entry), keep_unsaved=keep_unsaved)

        return EntryReservation(commit, room.release, lambda: room.held)

    def _current(self, path: str) -> bytes | None:
        try:
            old = files.read_private(path, self.directory)
        except (OSError, files.Refused):
            return None  # unreadable or not an entry: replacing it is the fix
        return old[0] if old else None

    def delete(self, profile: str) -> bool:
        path = self.path_for(profile)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise files.os_error("remove", path, exc) from exc
        files.sync_folder(self.directory)
        return True

    def profiles(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise files.os_error("list", self.directory, exc) from exc
        # Temp files start with "." and no profile name does.
        return sorted(
            n[:-5] for n in names if n[-5:] == ".json" and _is_profile_name(n[:-5])
        )

    def set_aside(self, profile: str, reason: str) -> CorruptEntryError:
        """Move an entry its reader found damaged aside, as a corrupt file is."""
        name = validate_profile_name(profile)
        return files.move_aside(self.path_for(name), reason, hint=login_hint(name))

    def lock(self, profile: str, *, timeout: float = 300.0) -> ProfileLock:
        """Hold ``<profile>.lock`` against other processes and threads (not reentrant)."""
        path = self.lock_path(profile)
        from loopback_login.store import locking

        def acquire() -> Held:
            files.ensure_folder(self.directory)
            try:
                held = locking.acquire(path, timeout)
            except locking.LockTimeout as exc:
                raise TokenStoreError(
                    f"another loopback-login process holds profile {profile!r}: "
                    f"waited {timeout:g} s for the lock {path}",
                    hint="wait for it to finish, or stop it "
                    "(a crashed one frees the lock)",
                ) from exc
            except OSError as exc:
                raise files.os_error("lock", path, exc) from exc
            if not locking.CAN_HAND_OVER or not locking.really_held(held):
                return held  # a lock file is removed only by its holder
            return _Tidy(held, path, self.path_for(profile))

        return locking.ProfileLock(acquire)


def refuse_newer(path: str, entry: dict[str, Any] | None) -> None:
    """Neither use nor overwrite what a newer version wrote: it may hold more."""
    if entry is not None and entry["format"] > FORMAT_VERSION:
        raise NewerEntryError(
            f"{path} was written by a newer loopback-login (format {entry['format']}; "
            f"this one reads {FORMAT_VERSION}); upgrade loopback-login to use it",
            hint="run: pip install --upgrade loopback-login",
        )


class _Tidy:
    """A held lock that takes its file along when its profile has no entry left
    (logged out, never logged in): lock files do not pile up per name ever asked.

    The file is removed while the lock is held, as locking.remove_held requires.
    """

    def __init__(self, held: Held, lock_path: str, entry_path: str) -> None:
        self._held = held
        self._lock_path = lock_path
        self._entry_path = entry_path

    def release(self) -> None:
        from loopback_login.store import locking

        if not os.path.lexists(self._entry_path):
            locking.remove_held(self._lock_path)
        self._held.release()

    def hand_over(self) -> bool:
        return self._held.hand_over()
