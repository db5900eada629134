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
import sys
import time

from loopback_login.environment import HOME_ENV
from loopback_login.errors import CorruptEntryError, TokenStoreError

__all__ = [
    "CORRUPT_AGE",
    "MAX_ENTRY_BYTES",
    "ORPHAN_AGE",
    "Refused",
    "Reservation",
    "TooLarge",
    "check_changeable",
    "check_private",
    "corrupt_stamp",
    "ensure_folder",
    "move_aside",
    "open_to_read",
    "os_error",
    "read_capped",
    "read_private",
    "replace_with",
    "reserve",
    "sweep_corrupt",
    "sweep_orphans",
    "sync_folder",
    "unlink_quietly",
    "write_temp",
]

ORPHAN_AGE = 600.0  # seconds after which a temp file can only be a dead writer's
CORRUPT_AGE = 30 * 86400.0  # seconds a damaged entry moved aside is kept to look at
# An entry is a few KB; a file far bigger is not one of ours, and is refused unread.
MAX_ENTRY_BYTES = 1 << 20
# The room set aside for an entry's successor before a single-use token is spent:
# twice the entry's size, and never less than this much more than it.
RESERVE_SLACK = 16 << 10
_POSIX = hasattr(os, "geteuid")  # Windows has no owner or mode bits to check

Stats = tuple[bytes, os.stat_result, os.stat_result]


class Refused(Exception):
    """The file at a name is not one to read (not a regular file, too big)."""


class TooLarge(Refused):
    """The file holds more bytes than it may."""


def os_error(doing: str, path: str, exc: OSError) -> TokenStoreError:
    """Plain words for a failed file operation, and what to do about it."""
    look = f"check who owns it and its mode: ls -ld {_quote(os.path.dirname(path))}"
    hint = {
        errno.EROFS: f"set {HOME_ENV} to a folder on a writable disk",
        errno.ENOSPC: "free some disk space, then try again",
        getattr(errno, "EDQUOT", -1): "free some disk space, then try again",
        errno.EACCES: look,
        errno.EPERM: look,
        errno.EBUSY: f"something is mounted on it: see findmnt {_quote(path)}",
    }.get(exc.errno or 0)
    reason = (exc.strerror or str(exc)).lower()
    if exc.errno in (errno.EPERM, errno.EACCES):
        for target in (path, os.path.dirname(path)):
            if (flag := _locked_flag(target)) is not None:
                reason += f" ({target} is {flag[0]})"
                hint = (
                    f"if it should be writable, run: chattr -{flag[1]} {_quote(target)}"
                )
                break
    return TokenStoreError(f"cannot {doing} {path}: {reason}", hint=hint)


# FS_IOC_GETFLAGS's flags that stop a file being replaced or a folder's names removed.
_IMMUTABLE, _APPEND_ONLY = 0x10, 0x20


def _locked_flag(path: str) -> tuple[str, str] | None:
    """("immutable", "i") or ("append-only", "a") if ``chattr`` marked ``path`` so;
    None otherwise, or where the file system cannot say."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import fcntl
        import struct

        # Never open what is not a plain file or folder: a device may act on open.
        if not stat.S_ISREG(mode := os.lstat(path).st_mode) and not stat.S_ISDIR(mode):
            return None
        # _IOR('f', 1, long); the kernel reads and writes an int there.
        request = (2 << 30) | (struct.calcsize("l") << 16) | (ord("f") << 8) | 1
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW)
        try:
            buf = fcntl.ioctl(fd, request, bytes(8))
        finally:
            os.close(fd)
    except (OSError, ImportError):
        return None
    flags = int.from_bytes(buf[:4], sys.byteorder)
    if flags & _IMMUTABLE:
        return "immutable", "i"
    if flags & _APPEND_ONLY:
        return "append-only", "a"
    return None


def check_changeable(path: str) -> None:
    """TokenStoreError unless ``path`` (if it exists) and its folder can be replaced
    and removed as far as can be told without writing: a read-only file system, or
    ``chattr +i``/``+a`` on either (which would also keep a temp file from being
    cleaned up)."""
    folder = os.path.dirname(path)
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        read_only = False
    if read_only:
        raise os_error("write", path, OSError(errno.EROFS, os.strerror(errno.EROFS)))
    for target in (folder, path):
        if (flag := _locked_flag(target)) is not None:
            raise TokenStoreError(
                f"cannot write {path}: {target} is {flag[0]}",
                hint=f"if it should be writable, run: chattr -{flag[1]} {_quote(target)}",
            )


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


def read_private(path: str, folder: str, limit: int = MAX_ENTRY_BYTES) -> Stats | None:
    """The file's bytes, its stat and its folder's, or None if it does not exist.

    Raises Refused, unread, for what is not a regular file (a FIFO, a device such
    as /dev/zero) or is bigger than ``limit`` bytes.
    """
    try:
        fd = open_to_read(path)  # a FIFO planted under our name must not hang `token`
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error("read", path, exc) from exc
    try:
        data, st = read_capped(fd, limit)
        return data, st, os.stat(folder)
    except OSError as exc:
        raise os_error("read", path, exc) from exc
    finally:
        os.close(fd)


def open_to_read(path: str) -> int:
    """A descriptor to read ``path`` from, opened without waiting: a FIFO's open
    would wait for a writer forever (O_NONBLOCK), and a terminal must not become
    ours (O_NOCTTY). :func:`read_capped` then refuses what is not a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    return os.open(path, flags)


def read_capped(fd: int, limit: int) -> tuple[bytes, os.stat_result]:
    """All the bytes of the regular file open on ``fd``, and its stat.

    Raises Refused, unread, for what is not a regular file (a FIFO, a device such
    as /dev/zero, a folder); TooLarge, unread where its size says so, for more
    than ``limit`` bytes.
    """
    # fstat: the file we read, not whatever the name points to now
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise Refused("not a regular file")
    if st.st_size > limit:
        raise TooLarge(f"{st.st_size} bytes, more than the {limit} an entry can be")
    chunks, total = [], 0
    while chunk := os.read(fd, min(1 << 16, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:  # grew while being read
            raise TooLarge(f"more than the {limit} bytes an entry can be")
    return b"".join(chunks), st


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
    """Create ``folder`` 0700 (missing parents too, whatever the umask), or close one
    of ours that is open."""
    try:
        _make_folders(folder)
        st = os.stat(folder)
        if _POSIX and st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(folder, stat.S_IMODE(st.st_mode) & 0o700)
    except OSError as exc:
        raise os_error("create the folder", folder, exc) from exc
    if _POSIX and st.st_uid != os.geteuid():
        check_private(folder, st, folder=True)


def _make_folders(folder: str) -> None:
    # os.makedirs gives the parents it creates the umask's mode (0777 under umask
    # 000): ~/.local/state made open to everyone. Each missing one is made 0700.
    if os.path.isdir(folder):
        return
    parent = os.path.dirname(folder)
    if parent and parent != folder:
        _make_folders(parent)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        if not os.path.isdir(folder):
            raise


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


class Reservation:
    """Room for one entry's successor, set aside before a single-use token is spent.

    ``reserve`` has already shown that the entry can be replaced and made a private
    temp file as big as the successor may be; :meth:`commit` only writes into
    space that is already the file's, then renames it into place.
    """

    def __init__(self, path: str, temp: str, fd: int, size: int) -> None:
        self.path, self.temp, self.size = path, temp, size
        self._fd = fd

    def commit(self, data: bytes, *, keep_unsaved: bool = True) -> None:
        """Put ``data`` in the entry's place. If the reserved file cannot be written,
        it stays reserved for another try (a smaller successor); if the final rename
        fails, the data is kept as ``<entry>.unsaved-<time>`` (0600), named by the
        error, unless ``keep_unsaved`` is false."""
        if self._fd < 0:
            raise RuntimeError("this reservation was already used or released")
        try:
            os.lseek(self._fd, 0, os.SEEK_SET)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.ftruncate(self._fd, len(data))
            os.fsync(self._fd)
        except OSError as exc:
            raise os_error("write", self.path, exc) from exc
        fd, self._fd = self._fd, -1
        os.close(fd)
        try:
            os.replace(self.temp, self.path)
        except OSError as exc:
            error = os_error("write", self.path, exc)
            if keep_unsaved and (kept := _keep_aside(self.temp, self.path)):
                raise TokenStoreError(
                    f"{error}; the new session was kept in {kept}",
                    hint=f"fix that, then run: mv {_quote(kept)} {_quote(self.path)}",
                ) from exc
            unlink_quietly(self.temp)
            raise error from exc
        sync_folder(os.path.dirname(self.path))

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def release(self) -> None:
        """Give the room back (nothing happens if the entry was committed)."""
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)
            unlink_quietly(self.temp)

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def reserve(path: str, current: bytes | None, *, prefix: str, size: int) -> Reservation:
    """Show that ``path`` can be replaced, then set aside ``size`` bytes beside it.

    The proof is the real thing: the current entry is replaced by a copy of its own
    bytes (readers see the same entry either way). That fails as the successor's
    save would: a read-only file system, ``chattr +i``, a file that is a mount point
    (EBUSY), no room. Raises TokenStoreError, leaving nothing behind.
    """
    check_changeable(path)
    if current is not None:
        replace_with(path, write_temp(path, current, prefix=prefix))
    folder = os.path.dirname(path)
    temp = os.path.join(folder, f".{prefix}.{os.urandom(6).hex()}.tmp")
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(temp, flags, 0o600)
    except OSError as exc:
        raise os_error("write", path, exc) from exc
    try:
        _allocate(fd, size)
        os.fsync(fd)
    except BaseException as exc:
        os.close(fd)
        unlink_quietly(temp)
        if isinstance(exc, OSError):
            raise os_error("write", path, exc) from exc
        raise
    return Reservation(path, temp, fd, size)


def _allocate(fd: int, size: int) -> None:
    """Make ``size`` bytes the file's own: later writes into them need no more room."""
    if size <= 0:
        return
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
    view = memoryview(bytes(size))  # no fallocate here: zeros take the room too
    while view:
        view = view[os.write(fd, view) :]


def _keep_aside(temp: str, path: str) -> str | None:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    kept = f"{path}.unsaved-{stamp}"
    try:
        if os.path.lexists(kept):
            kept = f"{kept}-{os.urandom(3).hex()}"
        os.rename(temp, kept)
    except OSError:
        return None
    sync_folder(os.path.dirname(path))
    return kept


def unlink_quietly(path: str) -> None:
    try:  # noqa: SIM105 - contextlib stays off the `token` path
        os.unlink(path)
    except OSError:
        pass


def _quote(path: str) -> str:
    import shlex  # only error messages need it

    return shlex.quote(path)
