"""Token cache: one JSON file per profile, private to you, replaced atomically.

Readers take no lock: ``os.replace`` means they see a whole old or a whole new entry.
Whoever reads, refreshes and writes holds ``lock(profile)``, a separate ``.lock`` file
(``locking.py``), so two processes never both spend a single-use refresh token.
"""

from __future__ import annotations

# `token` runs many times a day, so only modules that cost next to nothing load here;
# typing, json, contextlib and platformdirs would each add a sizeable share of
# the interpreter's own start-up.
import errno
import os
import stat
import sys
import time

from . import quickjson
from .errors import (
    ConfigError,
    CorruptEntryError,
    NewerEntryError,
    TokenStoreError,
    login_hint,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from contextlib import AbstractContextManager
    from typing import Any, Protocol

    from .locking import Held
else:  # the protocol serves type checkers; at run time it is a plain base class
    Protocol = object

__all__ = [
    "FORMAT_VERSION",
    "FileTokenStore",
    "MemoryTokenStore",
    "TokenStore",
    "default_store_dir",
    "validate_profile_name",
]

FORMAT_VERSION = 1
ORPHAN_AGE = 600.0  # seconds after which a temp file can only be a dead writer's
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_NAME_CHARS = _ALNUM | frozenset("._-")
_POSIX = hasattr(os, "geteuid")  # Windows has no owner or mode bits to check


class TokenStore(Protocol):
    """Where token entries (JSON objects) live, one per profile."""

    def load(self, profile: str) -> dict[str, Any] | None: ...  # None: no entry
    def save(self, profile: str, entry: dict[str, Any]) -> None: ...
    def delete(self, profile: str) -> bool: ...  # True if something was removed
    # Raises TokenStoreError unless a save of ``size`` bytes would succeed now.
    def check_writable(self, profile: str, size: int = 4096) -> None: ...
    def profiles(self) -> list[str]: ...  # sorted names of profiles with an entry
    # Moves a damaged entry out of the way (never deletes it); the error says where.
    def set_aside(self, profile: str, reason: str) -> CorruptEntryError: ...

    # Not reentrant; raises TokenStoreError when `timeout` passes.
    def lock(
        self, profile: str, *, timeout: float = 300.0
    ) -> AbstractContextManager[None]: ...


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
    if home := environ.get("LOOPBACK_LOGIN_HOME"):
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


def _dumps(entry: dict[str, Any]) -> bytes:
    if not isinstance(entry, dict):
        raise TypeError(f"a token entry must be a dict, not {type(entry).__name__}")
    data = {"format": FORMAT_VERSION, **entry}
    data["format"] = FORMAT_VERSION  # this code wrote it, whatever the caller passed
    import json  # writers only: readers use quickjson, which spares `token` `re`

    return json.dumps(data, separators=(",", ":")).encode()


def _parse(data: bytes) -> dict[str, Any] | None:
    """The entry, or None if the bytes are not one of ours."""
    try:
        entry = quickjson.loads(data)
    except (ValueError, RecursionError):  # also bad UTF-8 and absurd nesting
        return None
    if isinstance(entry, dict) and type(entry.get("format")) is int:
        return entry if entry["format"] >= 1 else None
    return None


def _quote(path: str) -> str:
    import shlex  # only error messages need it

    return shlex.quote(path)


def _os_error(doing: str, path: str, exc: OSError) -> TokenStoreError:
    """Plain words for a failed file operation, and what to do about it."""
    look = f"check who owns it and its mode: ls -ld {_quote(os.path.dirname(path))}"
    hint = {
        errno.EROFS: "set LOOPBACK_LOGIN_HOME to a folder on a writable disk",
        errno.ENOSPC: "free some disk space, then try again",
        getattr(errno, "EDQUOT", -1): "free some disk space, then try again",
        errno.EACCES: look,
        errno.EPERM: look,
    }.get(exc.errno or 0)
    reason = (exc.strerror or str(exc)).lower()
    return TokenStoreError(f"cannot {doing} {path}: {reason}", hint=hint)


def _check_private(path: str, st: os.stat_result, *, folder: bool) -> None:
    """Refuse what another account could read or change: no silent token leaks."""
    if not _POSIX:
        return
    what = "token folder" if folder else "token file"
    if st.st_uid != os.geteuid():
        raise TokenStoreError(
            f"the {what} {path} belongs to user id {st.st_uid}, not to you; "
            "loopback-login will not use it",
            hint=f"if it is yours, run: sudo chown {os.geteuid()} {_quote(path)}",
        )
    if st.st_mode & 0o077:
        raise TokenStoreError(
            f"the {what} {path} is open to other users (mode "
            f"{stat.S_IMODE(st.st_mode):o}); loopback-login will not use it",
            hint=f"run: chmod {700 if folder else 600} {_quote(path)}",
        )


def _unlink_quietly(path: str) -> None:
    try:  # noqa: SIM105 - contextlib stays off the `token` path
        os.unlink(path)
    except OSError:
        pass


class _Lock:
    """A ``with`` block holding a lock taken by ``acquire`` on entry.

    Not contextlib: importing it costs the cached `token` path ~4 ms.
    """

    def __init__(self, acquire: Callable[[], Held]) -> None:
        self._acquire = acquire
        self._held: Held | None = None

    def __enter__(self) -> None:
        if self._held is not None:
            raise RuntimeError("this lock is already held; it is not reentrant")
        self._held = self._acquire()

    def __exit__(self, *exc_info: object) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.release()

    def hand_over(self) -> bool:
        """Keep holding the lock past this block, for the next ``lock()`` of the same
        profile in this process to take over; False if it was released instead."""
        held, self._held = self._held, None
        return held is not None and held.hand_over()


class FileTokenStore:
    """Entries as ``<directory>/<profile>.json`` (0600) in a 0700 folder."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = os.path.abspath(os.fspath(directory))

    def path_for(self, profile: str) -> str:
        """The entry's file name; ConfigError for a bad profile name."""
        return os.path.join(self.directory, validate_profile_name(profile) + ".json")

    def load(self, profile: str) -> dict[str, Any] | None:
        """The entry, or None; TokenStoreError if others could read it or it is broken.

        A broken entry is moved aside (CorruptEntryError); a newer one is left
        alone (NewerEntryError).
        """
        path = self.path_for(profile)
        for _attempt in range(3):
            if (read := self._read(path)) is None:
                return None
            _check_private(path, read[1], folder=False)
            _check_private(self.directory, read[2], folder=True)
            if (entry := _parse(read[0])) is not None:
                _refuse_newer(path, entry)
                return entry
            try:
                now, then = os.stat(path), read[1]
            except OSError:
                pass
            else:
                if (now.st_dev, now.st_ino) != (then.st_dev, then.st_ino):
                    continue  # a writer replaced the broken entry while we read it
            raise self._move_aside(profile, path)
        raise TokenStoreError(f"{path} kept changing while being read", hint="retry")

    def save(self, profile: str, entry: dict[str, Any]) -> None:
        """Replace the entry atomically; on failure the old one stays as it was."""
        path = self.path_for(profile)
        data = _dumps(entry)
        self._ensure_folder()
        try:
            old = self._read(path)
        except OSError:
            old = None  # unreadable: replacing it is the fix
        _refuse_newer(path, _parse(old[0]) if old else None)
        temp = self._write_temp(profile, path, data)
        try:
            os.replace(temp, path)
        except OSError as exc:
            _unlink_quietly(temp)
            raise _os_error("write", path, exc) from exc
        self._sync_folder()
        self._sweep_orphans()

    def check_writable(self, profile: str, size: int = 4096) -> None:
        """Write ``size`` bytes beside the entry and remove them; TokenStoreError if
        that fails. The entry itself is not touched."""
        path = self.path_for(profile)
        self._ensure_folder()
        os.unlink(self._write_temp(profile, path, bytes(size)))

    def _sweep_orphans(self) -> None:
        """Remove the temp files that killed writers left behind.

        Old ones only: another writer may be at work on a recent one.
        """
        cutoff = time.time() - ORPHAN_AGE
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            if not (name.startswith(".") and name.endswith(".tmp")):
                continue
            temp = os.path.join(self.directory, name)
            try:
                if os.lstat(temp).st_mtime < cutoff:
                    os.unlink(temp)
            except OSError:
                pass  # gone already, or not ours to remove: either way, not fatal

    def _write_temp(self, profile: str, path: str, data: bytes) -> str:
        """A new 0600 file in the entry's folder holding ``data``, flushed to disk."""
        temp = os.path.join(self.directory, f".{profile}.{os.urandom(6).hex()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        try:
            # 0600 from the first byte: a chmod afterwards leaves a window open.
            fd = os.open(temp, flags, 0o600)
        except OSError as exc:
            raise _os_error("write", path, exc) from exc
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException as exc:  # even on Ctrl-C, leave no temp file behind
            _unlink_quietly(temp)
            if isinstance(exc, OSError):
                raise _os_error("write", path, exc) from exc
            raise
        return temp

    def delete(self, profile: str) -> bool:
        path = self.path_for(profile)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _os_error("remove", path, exc) from exc
        self._sync_folder()
        return True

    def profiles(self) -> list[str]:
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _os_error("list", self.directory, exc) from exc
        # Temp files start with "." and no profile name does.
        return sorted(
            n[:-5] for n in names if n[-5:] == ".json" and _is_profile_name(n[:-5])
        )

    def lock_path(self, profile: str) -> str:
        return os.path.join(self.directory, validate_profile_name(profile) + ".lock")

    def lock(self, profile: str, *, timeout: float = 300.0) -> _Lock:
        """Hold ``<profile>.lock`` against other processes and threads (not reentrant)."""
        path = self.lock_path(profile)

        def acquire() -> Held:
            self._ensure_folder()
            from . import locking

            try:
                return locking.acquire(path, timeout)
            except locking.LockTimeout as exc:
                raise TokenStoreError(
                    f"another loopback-login process holds profile {profile!r}: "
                    f"waited {timeout:g} s for the lock {path}",
                    hint="wait for it to finish, or stop it "
                    "(a crashed one frees the lock)",
                ) from exc
            except OSError as exc:
                raise _os_error("lock", path, exc) from exc

        return _Lock(acquire)

    def _read(self, path: str) -> tuple[bytes, os.stat_result, os.stat_result] | None:
        """The entry's bytes, its stat and its folder's, or None if it does not exist."""
        try:
            # O_NONBLOCK: a FIFO planted under our name must not hang `token`.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error("read", path, exc) from exc
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            # fstat: the file we read, not whatever the name points to now
            return b"".join(chunks), os.fstat(fd), os.stat(self.directory)
        except OSError as exc:
            raise _os_error("read", path, exc) from exc
        finally:
            os.close(fd)

    def set_aside(self, profile: str, reason: str) -> CorruptEntryError:
        """Move an entry its reader found damaged aside, as a corrupt file is."""
        name = validate_profile_name(profile)
        return self._move_aside(name, self.path_for(name), reason)

    def _move_aside(
        self, profile: str, path: str, reason: str = "not JSON"
    ) -> CorruptEntryError:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        aside, n = f"{path}.corrupt-{stamp}", 1
        while os.path.lexists(aside):
            n += 1
            aside = f"{path}.corrupt-{stamp}-{n}"
        hint = login_hint(profile)
        try:
            os.rename(path, aside)  # kept, never deleted: it may show what went wrong
        except OSError as exc:
            return CorruptEntryError(
                f"{path} is not a valid token entry ({reason}), and moving it to {aside} "
                f"failed: {(exc.strerror or str(exc)).lower()}",
                hint=hint,
            )
        return CorruptEntryError(
            f"{path} is not a valid token entry ({reason}); it was moved to {aside}",
            hint=hint,
        )

    def _ensure_folder(self) -> None:
        try:
            os.makedirs(self.directory, 0o700, exist_ok=True)
            st = os.stat(self.directory)
            if _POSIX and st.st_uid == os.geteuid() and st.st_mode & 0o077:
                os.chmod(self.directory, stat.S_IMODE(st.st_mode) & 0o700)
        except OSError as exc:
            raise _os_error("create the folder", self.directory, exc) from exc
        if _POSIX and st.st_uid != os.geteuid():
            _check_private(self.directory, st, folder=True)

    def _sync_folder(self) -> None:
        # Makes the rename durable; not every platform or file system can do it.
        try:
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass


def _refuse_newer(path: str, entry: dict[str, Any] | None) -> None:
    """Neither use nor overwrite what a newer version wrote: it may hold more."""
    if entry is not None and entry["format"] > FORMAT_VERSION:
        raise NewerEntryError(
            f"{path} was written by a newer loopback-login (format {entry['format']}; "
            f"this one reads {FORMAT_VERSION}); upgrade loopback-login to use it",
            hint="run: pip install --upgrade loopback-login",
        )


class _ThreadHeld:
    def __init__(self, release: Callable[[], None]) -> None:
        self.release = release

    def hand_over(self) -> bool:
        self.release()
        return False


class MemoryTokenStore:
    """The same contract in memory, for tests and for library users who want no disk."""

    def __init__(self) -> None:
        import threading  # here, not at the top: the cached `token` path never needs it

        self._entries: dict[str, bytes] = {}  # JSON, so callers never share our dicts
        self.set_apart: list[bytes] = []  # what set_aside() took out, for inspection
        self._guard = threading.Lock()
        self._new_lock = threading.Lock
        self._locks: dict[str, threading.Lock] = {}

    def load(self, profile: str) -> dict[str, Any] | None:
        with self._guard:
            data = self._entries.get(validate_profile_name(profile))
        return None if data is None else _parse(data)

    def set_aside(self, profile: str, reason: str) -> CorruptEntryError:
        name = validate_profile_name(profile)
        with self._guard:
            self.set_apart.append(self._entries.pop(name, b""))
        return CorruptEntryError(
            f"the entry of profile {name!r} is not valid ({reason}); it was set aside",
            hint=login_hint(name),
        )

    def save(self, profile: str, entry: dict[str, Any]) -> None:
        data = _dumps(entry)
        with self._guard:
            self._entries[validate_profile_name(profile)] = data

    def check_writable(self, profile: str, size: int = 4096) -> None:
        validate_profile_name(profile)

    def delete(self, profile: str) -> bool:
        with self._guard:
            return self._entries.pop(validate_profile_name(profile), None) is not None

    def profiles(self) -> list[str]:
        with self._guard:
            return sorted(self._entries)

    def lock(self, profile: str, *, timeout: float = 300.0) -> _Lock:
        name = validate_profile_name(profile)

        def acquire() -> Held:
            with self._guard:
                held = self._locks.setdefault(name, self._new_lock())
            if not held.acquire(timeout=timeout if 0 <= timeout < 1e9 else -1):
                raise TokenStoreError(
                    f"another thread holds profile {name!r}: waited {timeout:g} s",
                    hint="release the other lock() first; it is not reentrant",
                )
            return _ThreadHeld(held.release)

        return _Lock(acquire)
