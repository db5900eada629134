"""Files only their owner may read: checked on every read, created 0600 from the
first byte, replaced atomically and durably, never silently deleted.

Plain functions over paths; ``store.FileTokenStore`` puts them together. Only
modules that cost next to nothing are imported here: the cached `token` reads
through this module.
"""

from __future__ import annotations

import errno
import os
import stat
import time

from loopback_login.environment import HOME_ENV
from loopback_login.errors import CorruptEntryError, TokenStoreError

__all__ = [
    "CORRUPT_AGE",
    "ORPHAN_AGE",
    "check_private",
    "corrupt_stamp",
    "ensure_folder",
    "move_aside",
    "os_error",
    "read_private",
    "replace_with",
    "sweep_corrupt",
    "sweep_orphans",
    "sync_folder",
    "unlink_quietly",
    "write_temp",
]

ORPHAN_AGE = 600.0  # seconds after which a temp file can only be a dead writer's
CORRUPT_AGE = 30 * 86400.0  # seconds a damaged entry moved aside is kept to look at
_POSIX = hasattr(os, "geteuid")  # Windows has no owner or mode bits to check

Stats = tuple[bytes, os.stat_result, os.stat_result]


def os_error(doing: str, path: str, exc: OSError) -> TokenStoreError:
    """Plain words for a failed file operation, and what to do about it."""
    look = f"check who owns it and its mode: ls -ld {_quote(os.path.dirname(path))}"
    hint = {
        errno.EROFS: f"set {HOME_ENV} to a folder on a writable disk",
        errno.ENOSPC: "free some disk space, then try again",
        getattr(errno, "EDQUOT", -1): "free some disk space, then try again",
        errno.EACCES: look,
        errno.EPERM: look,
    }.get(exc.errno or 0)
    reason = (exc.strerror or str(exc)).lower()
    return TokenStoreError(f"cannot {doing} {path}: {reason}", hint=hint)


def check_private(path: str, st: os.stat_result, *, folder: bool) -> None:
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


def read_private(path: str, folder: str) -> Stats | None:
    """The file's bytes, its stat and its folder's, or None if it does not exist."""
    try:
        # O_NONBLOCK: a FIFO planted under our name must not hang `token`.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error("read", path, exc) from exc
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        # fstat: the file we read, not whatever the name points to now
        return b"".join(chunks), os.fstat(fd), os.stat(folder)
    except OSError as exc:
        raise os_error("read", path, exc) from exc
    finally:
        os.close(fd)


def write_temp(path: str, data: bytes, *, prefix: str) -> str:
    """A new 0600 file beside ``path`` holding ``data``, flushed to disk."""
    folder = os.path.dirname(path)
    temp = os.path.join(folder, f".{prefix}.{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        # 0600 from the first byte: a chmod afterwards leaves a window open.
        fd = os.open(temp, flags, 0o600)
    except OSError as exc:
        raise os_error("write", path, exc) from exc
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as exc:  # even on Ctrl-C, leave no temp file behind
        unlink_quietly(temp)
        if isinstance(exc, OSError):
            raise os_error("write", path, exc) from exc
        raise
    return temp


def replace_with(path: str, temp: str) -> None:
    """Put ``temp`` in the place of ``path`` in one step, durably."""
    try:
        os.replace(temp, path)
    except OSError as exc:
        unlink_quietly(temp)
        raise os_error("write", path, exc) from exc
    sync_folder(os.path.dirname(path))


def ensure_folder(folder: str) -> None:
    """Create ``folder`` 0700 (parents too), or close one of ours that is open."""
    try:
        os.makedirs(folder, 0o700, exist_ok=True)
        st = os.stat(folder)
        if _POSIX and st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(folder, stat.S_IMODE(st.st_mode) & 0o700)
    except OSError as exc:
        raise os_error("create the folder", folder, exc) from exc
    if _POSIX and st.st_uid != os.geteuid():
        check_private(folder, st, folder=True)


def sync_folder(folder: str) -> None:
    # Makes a rename durable; not every platform or file system can do it.
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def sweep_orphans(folder: str, max_age: float = ORPHAN_AGE) -> None:
    """Remove the temp files that killed writers left behind.

    Old ones only: another writer may be at work on a recent one.
    """
    cutoff = time.time() - max_age
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        temp = os.path.join(folder, name)
        try:
            if os.lstat(temp).st_mtime < cutoff:
                os.unlink(temp)
        except OSError:
            pass  # gone already, or not ours to remove: either way, not fatal


def corrupt_stamp(name: str) -> float | None:
    """When the damaged entry ``name`` (``P.json.corrupt-STAMP[-N]``) was moved aside."""
    _, sep, rest = name.partition(".json.corrupt-")
    if not sep:
        return None
    import calendar

    try:
        return float(calendar.timegm(time.strptime(rest[:16], "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def sweep_corrupt(folder: str, max_age: float = CORRUPT_AGE) -> list[str]:
    """Remove damaged entries moved aside more than ``max_age`` seconds ago (by the
    time in their names); returns the names removed."""
    cutoff = time.time() - max_age
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        stamp = corrupt_stamp(name)
        if stamp is not None and stamp < cutoff:
            try:
                os.unlink(os.path.join(folder, name))
            except OSError:
                continue  # not ours to remove, or gone: not fatal
            removed.append(name)
    return removed


def move_aside(path: str, reason: str, *, hint: str) -> CorruptEntryError:
    """Rename a damaged file out of the way, never deleting it (it may show what
    went wrong); the error to raise says where it went."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside, n = f"{path}.corrupt-{stamp}", 1
    while os.path.lexists(aside):
        n += 1
        aside = f"{path}.corrupt-{stamp}-{n}"
    try:
        os.rename(path, aside)
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


def unlink_quietly(path: str) -> None:
    try:  # noqa: SIM105 - contextlib stays off the `token` path
        os.unlink(path)
    except OSError:
        pass


def _quote(path: str) -> str:
    import shlex  # only error messages need it

    return shlex.quote(path)
