"""A lock across processes: ``flock(2)`` on a separate lock file.

Why not filelock (still used where there is no ``flock``): here a waiter sleeps in
the kernel and wakes the moment the holder lets go, where filelock polls; the
cached ``token`` path can take the lock without importing anything heavy; and one
process can pass a held lock from that path to the full command (``hand_over``),
so the process that decided to refresh never lets go before it has refreshed.

The lock belongs to the open file: it ends when the holder closes it or dies,
however it dies. The descriptor is not inherited by children (a browser started
during a login must not keep the lock alive).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    class Held(Protocol):
        def release(self) -> None: ...
        def hand_over(self) -> bool: ...  # False: the lock was released instead


__all__ = [
    "CAN_HAND_OVER",
    "LockTimeout",
    "ProfileLock",
    "acquire",
    "really_held",
    "release_handed_over",
    "remove_held",
]

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

CAN_HAND_OVER = fcntl is not None
# Locks this process holds and has passed on, by the lock file's (device, inode).
_handed_over: dict[tuple[int, int], _FlockHeld] = {}


class LockTimeout(Exception):
    """Another process held the lock for longer than the timeout."""


class ProfileLock:
    """A ``with`` block holding the lock ``acquire`` takes on entry.

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
        """Keep holding the lock past this block, for the next ``acquire`` of it in
        this process to take over; False if it was released instead."""
        held, self._held = self._held, None
        return held is not None and held.hand_over()


def acquire(path: str, timeout: float) -> Held:
    """Hold the lock on ``path`` (created 0600), waiting up to ``timeout`` seconds.

    A lock this process handed over for ``path`` is taken back without waiting.
    Raises LockTimeout, or OSError if the lock file cannot be opened.
    """
    if fcntl is None:
        return _filelock(path, timeout)
    if _handed_over:
        try:
            st = os.stat(path)
        except OSError:
            pass
        else:  # the same file, however its path was spelled
            if (held := _handed_over.pop((st.st_dev, st.st_ino), None)) is not None:
                return held
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if (fd := _open_read_only(path, exc)) < 0:
                return _Unlocked()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            left = deadline - time.monotonic() if timeout >= 0 else -1.0
            fd = _wait(fd, path, max(left, 0.0) if timeout >= 0 else -1.0)
        except BaseException:
            os.close(fd)
            raise
        if _still_at(fd, path):
            return _FlockHeld(fd)
        # The holder removed the file while we waited (its profile is gone): the
        # lock we got guards nothing. Take the one now at the path.
        os.close(fd)


def _still_at(fd: int, path: str) -> bool:
    """Whether the locked file is still the one ``path`` names."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (held.st_dev, held.st_ino)


def really_held(held: Held) -> bool:
    """False for the stand-in given on a store nobody can write (no lock taken)."""
    return not isinstance(held, _Unlocked)


def remove_held(path: str) -> None:
    """Unlink the lock file at ``path``; the caller holds its lock.

    Safe only so: a process waiting for the same lock gets the removed file's lock
    on our release, sees by ``_still_at`` that the path names another file (or
    none) and takes that one instead; no two processes ever hold the lock of the
    file the path names.
    """
    try:  # noqa: SIM105 - contextlib stays off the `token` path
        os.unlink(path)
    except OSError:
        pass


def release_handed_over() -> None:
    """Let go of locks handed over but never taken back (the command ended early)."""
    while _handed_over:
        _handed_over.popitem()[1].release()


def _open_read_only(path: str, exc: OSError) -> int:
    """The lock file opened for reading, which is all ``flock`` needs, when it
    cannot be opened for writing; -1 on a read-only file system without one.

    A store nobody can write needs no lock: there, no process can save a refresh,
    so none spends one (the save is proven possible first); reading must go on.
    """
    import errno

    if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
        raise exc
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        if exc.errno == errno.EROFS:
            return -1
        raise exc from None
    except OSError:
        raise exc from None


class _Unlocked:
    """What a lock is on a store nobody can write."""

    def release(self) -> None:
        pass

    def hand_over(self) -> bool:
        return False


class _FlockHeld:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # closing the only descriptor ends the lock

    def hand_over(self) -> bool:
        st = os.fstat(self._fd)
        _handed_over[(st.st_dev, st.st_ino)] = self
        return True


def _wait(fd: int, path: str, timeout: float) -> int:
    """Block in ``flock`` on a helper thread, so the wait can end at ``timeout``."""
    import logging
    import threading

    logging.getLogger(__name__).debug("waiting for %s: another process holds it", path)
    assert fcntl is not None
    done = threading.Event()
    gate = threading.Lock()
    outcome: list[BaseException | None] = []

    def block() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            error = None
        except OSError as exc:
            error = exc
        with gate:
            if done.is_set() or error is not None:
                os.close(fd)  # gave up on it (or it failed): do not keep the lock
            outcome.append(error)
            done.set()

    def give_up() -> None:
        with gate:
            if not done.is_set():
                done.set()  # the thread closes the file if it ever gets the lock
            elif outcome[0] is None:
                os.close(fd)  # got it just now: let go

    threading.Thread(target=block, name="lock-wait", daemon=True).start()
    try:
        finished = done.wait(timeout if timeout >= 0 else None)
    except BaseException:  # Ctrl-C while waiting: keep no lock behind
        give_up()
        raise
    if not finished:
        give_up()
        raise LockTimeout(path)
    if outcome[0] is not None:
        raise outcome[0]
    return fd


class _FileLockHeld:
    def __init__(self, lock: object) -> None:
        self._lock = lock

    def release(self) -> None:
        self._lock.release()  # type: ignore[attr-defined]

    def hand_over(self) -> bool:
        self.release()
        return False


def _filelock(path: str, timeout: float) -> Held:
    import filelock

    lock = filelock.FileLock(path, timeout=timeout, mode=0o600)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise LockTimeout(path) from exc
    return _FileLockHeld(lock)
