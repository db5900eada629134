"""The lock across processes (flock on a lock file), with real processes.

And the cached `token` path that waits on it: while another process refreshes,
`token` waits for that result instead of refreshing again, and without loading the
full command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Cli, EmulatorStarter, expire, login, wait_until_blocked

from loopback_login.emulator import STATE
from loopback_login.store import locking
from loopback_login.store.file_store import FileTokenStore

pytestmark = pytest.mark.skipif(not locking.CAN_HAND_OVER, reason="flock(2)")

# Exit 0 if the lock on argv[1] could be taken at once, 1 if another holds it.
TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(1)
"""
# Take the lock on argv[1], say so, keep it until stdin closes.
HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def free_elsewhere(path: Path) -> bool:
    """Whether another process could take the lock right now."""
    return subprocess.run([sys.executable, "-c", TRY_LOCK, str(path)]).returncode == 0


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A lock file, and another process holding its lock until its stdin closes."""
    path = tmp_path / "work.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    try:
        yield path, proc
    finally:
        proc.kill()
        proc.wait(10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def test_a_waiter_gets_the_lock_when_the_holder_lets_go(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, proc = holder
    got = threading.Event()
    held: list[locking.Held] = []

    def take() -> None:
        held.append(locking.acquire(str(path), 30))
        got.set()

    thread = threading.Thread(target=take)
    thread.start()
    assert not got.wait(0.3)  # held elsewhere: still waiting
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)
    thread.join(30)
    assert got.is_set()
    assert not free_elsewhere(path)
    held[0].release()
    assert free_elsewhere(path)


def test_a_timed_out_wait_leaves_no_lock_behind(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    """After a timeout, the helper thread still blocked in flock lets go of the lock
    the moment it gets it: the lock is not kept by a process that gave up on it."""
    path, proc = holder
    with pytest.raises(locking.LockTimeout):
        locking.acquire(str(path), 0.2)
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)
    deadline = time.monotonic() + 10
    while not free_elsewhere(path):  # the abandoned thread takes it, then drops it
        assert time.monotonic() < deadline, "the abandoned wait kept the lock"
    assert free_elsewhere(path)


def test_a_handed_over_lock_is_taken_back_under_any_spelling(tmp_path: Path) -> None:
    """Handed over, the lock stays held (other processes wait); the next acquire in
    this process takes it back at once, even by another path to the same file."""
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    path = tmp_path / "real" / "work.lock"
    held = locking.acquire(str(path), 1)
    assert held.hand_over()
    assert not free_elsewhere(path)
    again = locking.acquire(str(tmp_path / "alias" / "work.lock"), 0)  # no wait
    assert not free_elsewhere(path)
    again.release()
    assert free_elsewhere(path)


def test_locks_handed_over_and_never_taken_back_are_released(tmp_path: Path) -> None:
    path = tmp_path / "work.lock"
    locking.acquire(str(path), 1).hand_over()
    assert not free_elsewhere(path)
    locking.release_handed_over()
    assert free_elsewhere(path)


def test_children_do_not_inherit_the_lock(tmp_path: Path) -> None:
    """A browser started while a login holds the lock must not keep it alive."""
    path = tmp_path / "work.lock"
    held = locking.acquire(str(path), 1)
    child = subprocess.Popen(["sleep", "30"], close_fds=False)
    try:
        held.release()
        assert free_elsewhere(path)
    finally:
        child.kill()
        child.wait(10)


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="Linux /proc/locks")
def test_cached_token_waits_for_the_refresh_another_process_is_making(
    tmp_path: Path, threaded_emulator: EmulatorStarter
) -> None:
    """With the token expired and the profile's lock held (a refresh under way),
    `token` waits, then prints the token the refresher saved: no refresh of its own,
    and neither aiohttp nor click is ever imported."""
    emu = threaded_emulator()
    cli = Cli(tmp_path / "home")
    login(cli, emu)
    expire(cli)
    store = FileTokenStore(cli.home)
    lock = store.lock("default")
    lock.__enter__()
    try:
        waiter = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-c",
             "import sys; from loopback_login.cli.main import main; sys.exit(main(['token']))"],
            env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_until_blocked(waiter)
        # Play the refresher: save a new token, then let go.
        entry = store.load("default")
        assert entry is not None
        now = time.time()
        entry["tokens"].update(
            access_token="saved-by-the-refresher", issued_at=now, expires_at=now + 3600
        )
        store.save("default", entry)
    finally:
        lock.__exit__(None, None, None)
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert out == "saved-by-the-refresher\n"
    imported = {line.split("|")[-1].strip() for line in err.splitlines()}
    assert "loopback_login.cli.fast" in imported
    assert "aiohttp" not in imported
    assert "click" not in imported
    refreshes = emu.call(
        lambda: emu.app[STATE].count("token", grant_type="refresh_token")  # type: ignore[index]
    )
    assert refreshes == 0
    assert (
        json.loads((cli.home / "default.json").read_text())["tokens"]["access_token"]
        == "saved-by-the-refresher"
    )


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="Linux /proc/locks")
def test_ctrl_c_while_token_waits_for_the_lock(
    tmp_path: Path, threaded_emulator: EmulatorStarter
) -> None:
    """Ctrl-C while `token` waits for another process's refresh: exit 130, one line,
    no traceback, the entry as it was."""
    cli = Cli(tmp_path / "home")
    login(cli, threaded_emulator())
    expire(cli)
    before = (cli.home / "default.json").read_bytes()
    lock = FileTokenStore(cli.home).lock("default")
    lock.__enter__()
    try:
        waiter = subprocess.Popen(
            [sys.executable, "-m", "loopback_login", "token"],
            env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        wait_until_blocked(waiter)
        waiter.send_signal(signal.SIGINT)
        out, err = waiter.communicate(timeout=20)
    finally:
        lock.__exit__(None, None, None)
    assert waiter.returncode == 130
    assert out == ""
    assert err == "Interrupted.\n"
    assert (cli.home / "default.json").read_bytes() == before
