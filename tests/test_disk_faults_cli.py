"""Faults on disk, through the CLI: an unwritable folder, a read-only file system, a
damaged entry, loose permissions, a newer format and a killed writer each end with a
clear message, the entry's bytes kept, and the session still usable."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from helpers import (
    Cli,
    LoginProcess,
    ThreadedEmulator,
    assert_one_error_line,
    expire,
    sign_in,
    snapshot,
)

from loopback_login.emulator import DEMO_CLIENT_ID, STATE
from loopback_login.store.file_store import FORMAT_VERSION

linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="capset, mount namespaces"
)

# Runs the CLI without root's powers, so permission bits bind root as they bind anyone
# (the same capset trick as tests/store_writer.py, which it imports).
POWERLESS = """
import os, runpy, sys
from store_writer import drop_root_powers
if os.geteuid() == 0:
    drop_root_powers()
sys.argv = ["loopback-login", *sys.argv[1:]]
runpy.run_module("loopback_login", run_name="__main__", alter_sys=True)
"""

# Bind-mounts the cache folder read-only in a private mount namespace, then runs the
# command there; nothing outside that one process sees the read-only mount.
READ_ONLY = (
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
)


def run_powerless(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", POWERLESS, *args], env=cli.env, capture_output=True,
        text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run_read_only(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY,
         "sh", str(cli.home), sys.executable, "-m", "loopback_login", *args],
        env=cli.env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def read_only_mounts(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless this machine lets us make a private read-only bind mount."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        pytest.skip("needs Linux and unshare(1)")
    probe = tmp_path_factory.mktemp("ro-probe")
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         READ_ONLY, "sh", str(probe), "sh", "-c", '! touch "$0/x" 2>/dev/null', str(probe)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"no private read-only bind mounts here: {result.stderr.strip()}")


def authorize_count(emu: ThreadedEmulator) -> int:
    return int(emu.call(lambda: emu.app[STATE].count("authorize")))  # type: ignore[index]


def entry_path(cli: Cli) -> Path:
    return cli.home / "default.json"


def write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


@linux_only
def test_unwritable_folder_refresh_keeps_the_session(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """A refresh whose result cannot be saved names the file and why, changes nothing,
    and leaves a session that still refreshes once the folder is writable again."""
    sign_in(emu, cli.home)
    expire(cli)
    before = snapshot(cli.home)
    os.chmod(cli.home, 0o500)
    try:
        result = run_powerless(cli, "token")
    finally:
        os.chmod(cli.home, 0o700)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert_one_error_line(result.stderr, str(entry_path(cli)), "permission denied")
    assert snapshot(cli.home) == before
    again = cli("token")
    assert again.returncode == 0, (
        "the session was lost: the refresh token was spent at the server before "
        f"the save failed: {again.stderr}"
    )


@linux_only
def test_unwritable_folder_login_fails_before_the_browser(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """`login` into a folder it cannot write says so before any browser or server round trip."""
    cli.home.mkdir(mode=0o500)
    before = authorize_count(emu)
    try:
        result = run_powerless(
            cli, "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID
        )
    finally:
        os.chmod(cli.home, 0o700)
    assert result.returncode == 1, result.stderr
    assert_one_error_line(result.stderr, str(cli.home), "permission denied")
    assert f"ls -ld {cli.home}" in result.stderr
    assert authorize_count(emu) == before
    assert list(cli.home.iterdir()) == []


@linux_only
@pytest.mark.usefixtures("read_only_mounts")
def test_read_only_file_system(cli: Cli, emu: ThreadedEmulator) -> None:
    """On a read-only file system a valid token is still served; a needed refresh fails
    with one clear line before spending the refresh token, so the session survives."""
    sign_in(emu, cli.home)
    access = json.loads(entry_path(cli).read_text())["tokens"]["access_token"]
    served = run_read_only(cli, "token")
    assert (served.returncode, served.stdout) == (0, f"{access}\n"), served.stderr
    expire(cli)
    before = snapshot(cli.home)
    result = run_read_only(cli, "token")
    assert result.returncode == 1, result.stderr
    assert_one_error_line(result.stderr, "read-only file system")
    assert "LOOPBACK_LOGIN_HOME" in result.stderr.splitlines()[1]
    assert snapshot(cli.home) == before
    again = cli("token")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xffnot json at all",
        b'{"format": 1, "profile": "default", "tokens": {"acc',
    ],
    ids=["garbage", "truncated"],
)
@pytest.mark.parametrize("command", ["token", "status"])
def test_corrupt_entry_is_named_and_kept(cli: Cli, command: str, data: bytes) -> None:
    """A damaged entry fails the command with one line naming the file and the copy it
    was moved to, and the copy holds the bytes exactly."""
    write_private(entry_path(cli), data)
    result = cli(command)
    assert result.returncode == 1, result.stderr
    asides = sorted(cli.home.glob("default.json.corrupt-*"))
    assert len(asides) == 1, list(cli.home.iterdir())
    assert asides[0].read_bytes() == data
    assert_one_error_line(result.stderr, str(entry_path(cli)), str(asides[0]))
    assert "loopback-login login" in result.stderr.splitlines()[1]


BROKEN = json.dumps({"format": FORMAT_VERSION, "profile": "default", "settings": {}})


def test_entry_missing_fields_is_named_by_its_file(cli: Cli) -> None:
    """Well-formed JSON that is not a whole entry is reported with the file's path, so a
    person can find it."""
    write_private(entry_path(cli), BROKEN.encode())
    result = cli("token")
    assert result.returncode == 1, result.stderr
    assert_one_error_line(result.stderr, str(entry_path(cli)))


def test_login_recovers_from_an_entry_missing_fields(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """The `login` the error suggests works despite such an entry, and its bytes are kept aside."""
    write_private(entry_path(cli), BROKEN.encode())
    result = cli(
        "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID, "--timeout", "20"
    )
    assert result.returncode == 0, result.stderr
    assert cli.entry()["tokens"]["access_token"]
    kept = [p for p in cli.home.iterdir() if p.read_bytes() == BROKEN.encode()]
    assert kept, list(cli.home.iterdir())


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("command", ["token", "status", "login"])
def test_too_open_entry_is_refused_untouched(
    cli: Cli, emu: ThreadedEmulator, command: str
) -> None:
    """A 0644 entry is refused with the exact chmod to run, left as it is, and works once fixed."""
    sign_in(emu, cli.home)
    path = entry_path(cli)
    os.chmod(path, 0o644)
    before, logins = snapshot(cli.home), authorize_count(emu)
    args = (
        ["--server", emu.url, "--client-id", DEMO_CLIENT_ID]
        if command == "login"
        else []
    )
    result = cli(command, *args)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert_one_error_line(result.stderr, str(path), "open to other users (mode 644)")
    assert result.stderr.splitlines()[1] == f"  run: chmod 600 {path}"
    assert snapshot(cli.home) == before
    assert authorize_count(emu) == logins
    subprocess.run(["chmod", "600", str(path)], check=True, timeout=10)
    fixed = cli("token")
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout == f"{cli.entry()['tokens']['access_token']}\n"


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_too_open_folder_is_refused(cli: Cli, emu: ThreadedEmulator) -> None:
    """A folder others can enter is refused with `chmod 700` and not changed by `token`."""
    sign_in(emu, cli.home)
    os.chmod(cli.home, 0o755)
    result = cli("token")
    assert result.returncode == 1, result.stderr
    assert_one_error_line(
        result.stderr, str(cli.home), "open to other users (mode 755)"
    )
    assert result.stderr.splitlines()[1] == f"  run: chmod 700 {cli.home}"
    assert cli.home.stat().st_mode & 0o777 == 0o755


def test_newer_format_is_refused_and_never_overwritten(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """An entry from a newer version is refused by login, token and logout, and its bytes stay."""
    data = json.dumps(
        {"format": FORMAT_VERSION + 1, "profile": "default", "future": {"x": 1}}
    ).encode()
    write_private(entry_path(cli), data)
    logins = authorize_count(emu)
    result = cli(
        "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID, "--timeout", "20"
    )
    assert result.returncode == 1, result.stderr
    assert_one_error_line(result.stderr, str(entry_path(cli)), "newer loopback-login")
    assert "upgrade" in result.stderr.splitlines()[1]
    assert authorize_count(emu) == logins
    assert cli("token").returncode == 1
    assert cli("logout", "--local").returncode == 1
    assert entry_path(cli).read_bytes() == data
    assert sorted(p.name for p in cli.home.iterdir() if p.suffix != ".lock") == [
        "default.json"
    ]


def without_temp_files(
    files: dict[str, tuple[bytes, int]],
) -> dict[str, tuple[bytes, int]]:
    return {name: v for name, v in files.items() if not name.endswith(".tmp")}


def waiting_for_lock(
    proc: subprocess.Popen[str],
) -> tuple[threading.Event, threading.Thread]:
    """An event set once ``proc``'s verbose log says another process holds its lock,
    and the thread reading that log (it ends when ``proc`` does)."""
    blocked = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "another process holds it" in line:  # the debug line while it waits
                blocked.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return blocked, reader


@linux_only
def test_killed_login_frees_the_lock_and_loses_nothing(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """A login killed while it holds the profile's lock leaves the entry whole, and a
    `token` waiting on that lock refreshes as soon as it dies."""
    sign_in(emu, cli.home)
    expire(cli)
    before = snapshot(cli.home)
    login = LoginProcess(cli, emu)
    waiter: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = None
    try:
        login.authorize_url()  # the login now holds the lock while it waits
        waiter = subprocess.Popen(
            [sys.executable, "-m", "loopback_login", "token", "--verbose"],
            env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        blocked, reader = waiting_for_lock(waiter)
        assert blocked.wait(15), "token never waited for the login's lock"
        assert waiter.poll() is None
        # Besides the room the login set aside for its new entry (a temp file that
        # a later save sweeps once it is old), nothing has changed.
        assert without_temp_files(snapshot(cli.home)) == before
        login.proc.send_signal(signal.SIGKILL)
        login.proc.wait(10)
        waiter.wait(20)
        out = waiter.stdout.read() if waiter.stdout else ""
    finally:
        login.close()
        if waiter is not None and waiter.poll() is None:
            waiter.kill()
            waiter.wait(10)
        if reader is not None:
            reader.join(10)
        for stream in (waiter.stdout, waiter.stderr) if waiter else ():
            if stream is not None:
                stream.close()
    assert waiter.returncode == 0
    old = json.loads(before["default.json"][0])["tokens"]["access_token"]
    assert out.strip() not in ("", old)
    assert cli.entry()["tokens"]["access_token"] == out.strip()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_fifo_in_place_of_the_entry_does_not_hang(cli: Cli) -> None:
    """A FIFO planted under the entry's name ends `token` and `status` at once, with an error."""
    cli.home.mkdir(mode=0o700)
    os.mkfifo(entry_path(cli), 0o600)
    for command in ("status", "token"):
        result = subprocess.run(
            [sys.executable, "-m", "loopback_login", command], env=cli.env,
            capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
