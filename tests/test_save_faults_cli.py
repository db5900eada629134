"""Every way a save can fail, through the CLI, on real file systems: a full disk at
several sizes (a small tmpfs), an immutable entry (``chattr +i``), an entry that is a
read-only bind mount, a read-only file system. In each case the single-use refresh
token is spent only when its successor is sure to be saved: the session survives,
and inside the refresh margin the cached token is printed with a warning."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Cli, ThreadedEmulator, assert_one_error_line, expire, snapshot

from loopback_login.emulator import DEMO_CLIENT_ID, FAULTS, STATE
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.http_browser import HttpBrowser
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.session.orchestrator import LoginSession
from loopback_login.store.file_store import FileTokenStore

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="tmpfs, chattr and mount namespaces are Linux's"
)

PAGE = 4096
# A long --login-hint makes an entry of about 5.5 KB: more than one page of disk.
LONG_HINT = "someone." * 400 + "@example.com"


def sign_in(emu: ThreadedEmulator, home: Path, login_hint: str | None = None) -> None:
    """A real login against the emulator, in-process (faster than a CLI run)."""

    async def go() -> None:
        provider = ProviderConfig(
            server=emu.url,
            client_id=DEMO_CLIENT_ID,
            scope="openid ReadAccounts",
            authorize_params={"login_hint": login_hint} if login_hint else {},
        )
        async with LoginSession(
            provider,
            store=FileTokenStore(home),
            opener=HttpBrowser(),
            loopback=LoopbackConfig(timeout=10),
        ) as session:
            await session.login()

    asyncio.run(go())


def into_margin(cli: Cli) -> str:
    """Make the cached token due for a refresh but still valid; returns it."""
    path = cli.home / "default.json"
    entry = json.loads(path.read_text())
    now = time.time()
    # 60 s left of 3600: inside the margin (a tenth of the lifetime, at most 300 s)
    entry["tokens"]["issued_at"], entry["tokens"]["expires_at"] = now - 3540, now + 60
    path.write_text(json.dumps(entry))
    return str(entry["tokens"]["access_token"])


def refreshes(emu: ThreadedEmulator) -> int:
    return int(
        emu.call(
            lambda: emu.app[STATE].count("token", grant_type="refresh_token")  # type: ignore[index]
        )
    )


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


@contextlib.contextmanager
def tmpfs(where: Path, size: int) -> Iterator[Path]:
    """A real tmpfs of ``size`` bytes mounted on ``where`` (mode 0700)."""
    where.mkdir(mode=0o700, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True, timeout=30)


def fill(folder: Path, leave: int) -> Path:
    """Take all but ``leave`` bytes of the file system's free space."""
    filler = folder / ".filler"  # on the same file system; not a name the store uses
    take = free_bytes(folder) - leave
    assert take >= 0, (free_bytes(folder), leave)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        if take:
            os.posix_fallocate(fd, 0, take)
    finally:
        os.close(fd)
    assert free_bytes(folder) == leave, (free_bytes(folder), leave)
    return filler


@pytest.fixture
def chattr(tmp_path: Path) -> Iterator[list[Path]]:
    """Skip unless ``chattr +i`` works where the tests put their files; every file
    listed in the yielded list is made mutable again afterwards."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr(1) is not installed")
    probe = tmp_path / "chattr-probe"
    probe.write_bytes(b"x")
    tried = subprocess.run(
        ["chattr", "+i", str(probe)], capture_output=True, text=True, timeout=10
    )
    if tried.returncode != 0:
        pytest.skip(f"this file system has no immutable flag: {tried.stderr.strip()}")
    subprocess.run(["chattr", "-i", str(probe)], check=True, timeout=10)
    marked: list[Path] = []
    yield marked
    for path in marked:
        subprocess.run(["chattr", "-i", "-a", str(path)], timeout=10, check=False)


def set_flag(marked: list[Path], flag: str, path: Path) -> None:
    subprocess.run(["chattr", flag, str(path)], check=True, timeout=10)
    marked.append(path)


def assert_session_survives(cli: Cli, emu: ThreadedEmulator) -> None:
    """With the disk healthy again, a refresh works: the refresh token was not lost."""
    expire(cli)
    before = refreshes(emu)
    again = cli("token")
    assert again.returncode == 0, (
        "the session was lost: its refresh token was spent and the successor not "
        f"saved: {again.stderr}"
    )
    assert refreshes(emu) == before + 1
    assert again.stdout == f"{cli.entry()['tokens']['access_token']}\n"


# -- a full disk, at every size around the entry's --------------------------------


@pytest.mark.parametrize("inside_margin", [True, False], ids=["margin", "expired"])
@pytest.mark.parametrize(
    "leave",
    [
        "0",
        "1 page",
        "entry",
        "entry+1 page",
        "2 entries",
        "2 entries+4 pages",
        "plenty",
    ],
)
def test_full_disk_never_loses_the_session(
    cli: Cli, emu: ThreadedEmulator, leave: str, inside_margin: bool
) -> None:
    """Whatever room is left, `token` either refreshes and saves, or does not spend
    the refresh token at all; inside the margin it prints the cached token (exit 0)."""
    with tmpfs(cli.home, 256 * 1024):
        sign_in(emu, cli.home, login_hint=LONG_HINT)
        size = (cli.home / "default.json").stat().st_size
        assert size > PAGE  # the entry no longer fits the old fixed-size probe
        pages = -(-size // PAGE)
        room = {
            "0": 0, "1 page": 1, "entry": pages, "entry+1 page": pages + 1,
            "2 entries": 2 * pages, "2 entries+4 pages": 2 * pages + 4,
            "plenty": 40,
        }[leave]  # fmt: skip
        cached = into_margin(cli) if inside_margin else None
        if not inside_margin:
            expire(cli)
        before = refreshes(emu)
        filler = fill(cli.home, room * PAGE)
        result = cli("token")
        assert "Traceback" not in result.stderr
        refreshed = refreshes(emu) > before
        if refreshed:  # then it was saved, and what is printed is what was saved
            assert result.returncode == 0, result.stderr
            assert result.stdout == f"{cli.entry()['tokens']['access_token']}\n"
            assert result.stdout != f"{cached}\n"
        elif inside_margin:
            assert result.returncode == 0, result.stderr
            assert result.stdout == f"{cached}\n"
            assert result.stderr.startswith("warning: could not refresh"), result.stderr
            assert "no space left on device" in result.stderr
        else:
            assert result.returncode == 1, result.stderr
            assert result.stdout == ""
            assert_one_error_line(result.stderr, "no space left on device")
        if leave == "plenty":
            assert refreshed, result.stderr
        if leave in ("0", "1 page"):
            assert not refreshed
        assert not [p for p in cli.home.iterdir() if p.name.endswith(".tmp")]
        filler.unlink()
        assert_session_survives(cli, emu)


# -- an entry that cannot be replaced while its folder can be written -------------


@pytest.mark.parametrize("inside_margin", [True, False], ids=["margin", "expired"])
def test_immutable_entry_never_loses_the_session(
    cli: Cli, emu: ThreadedEmulator, chattr: list[Path], inside_margin: bool
) -> None:
    """`chattr +i` on the entry: no refresh is sent; inside the margin the cached
    token is printed with a warning, else one error line says what to run."""
    sign_in(emu, cli.home)
    path = cli.home / "default.json"
    cached = into_margin(cli) if inside_margin else None
    if not inside_margin:
        expire(cli)
    set_flag(chattr, "+i", path)
    before, files = refreshes(emu), snapshot(cli.home)
    result = cli("token")
    assert refreshes(emu) == before, "the refresh token was spent"
    if inside_margin:
        assert (result.returncode, result.stdout) == (0, f"{cached}\n"), result.stderr
        assert result.stderr.startswith("warning: could not refresh"), result.stderr
    else:
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert_one_error_line(result.stderr, str(path), "immutable")
        assert f"chattr -i {path}" in result.stderr.splitlines()[1]
    assert snapshot(cli.home) == files
    subprocess.run(["chattr", "-i", str(path)], check=True, timeout=10)
    assert_session_survives(cli, emu)


# Bind-mounts the entry file read-only onto itself in a private mount namespace, then
# runs the command there (replacing the entry then fails with EBUSY).
ENTRY_READ_ONLY = (
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
)


def run_with_entry_read_only(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", ENTRY_READ_ONLY,
         "sh", str(cli.home / "default.json"), sys.executable, "-m", "loopback_login",
         *args],
        env=cli.env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("inside_margin", [True, False], ids=["margin", "expired"])
def test_bind_mounted_entry_never_loses_the_session(
    cli: Cli, emu: ThreadedEmulator, inside_margin: bool
) -> None:
    """An entry that is a read-only bind mount of itself (EBUSY on replace): no
    refresh is sent, and the session survives."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    sign_in(emu, cli.home)
    cached = into_margin(cli) if inside_margin else None
    if not inside_margin:
        expire(cli)
    before, files = refreshes(emu), snapshot(cli.home)
    result = run_with_entry_read_only(cli, "token")
    if "mount:" in result.stderr:
        pytest.skip(f"no private bind mounts here: {result.stderr.strip()}")
    assert refreshes(emu) == before, "the refresh token was spent"
    if inside_margin:
        assert (result.returncode, result.stdout) == (0, f"{cached}\n"), result.stderr
        assert result.stderr.startswith("warning: could not refresh"), result.stderr
    else:
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert_one_error_line(result.stderr, str(cli.home / "default.json"))
        assert "Traceback" not in result.stderr
    assert snapshot(cli.home) == files
    assert_session_survives(cli, emu)


# -- a read-only file system -----------------------------------------------------

READ_ONLY = (
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
)


def run_read_only(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY,
         "sh", str(cli.home), sys.executable, "-m", "loopback_login", *args],
        env=cli.env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("lock_file", [True, False], ids=["lock-file", "no-lock-file"])
def test_read_only_store_inside_the_margin_prints_the_cached_token(
    cli: Cli, emu: ThreadedEmulator, lock_file: bool
) -> None:
    """A read-only file system is no reason to withhold a token that still works: the
    lock that cannot be taken there does not block reading."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    sign_in(emu, cli.home)
    if not lock_file:
        (cli.home / "default.lock").unlink()
    cached = into_margin(cli)
    before, files = refreshes(emu), snapshot(cli.home)
    result = run_read_only(cli, "token")
    assert (result.returncode, result.stdout) == (0, f"{cached}\n"), result.stderr
    assert result.stderr.startswith("warning: could not refresh"), result.stderr
    assert "read-only file system" in result.stderr
    assert refreshes(emu) == before
    assert snapshot(cli.home) == files


def test_logout_on_a_read_only_store_says_so_and_revokes_nothing(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """`logout` cannot remove the entry there: it says the store is read-only, and
    does not revoke a session it would then keep."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1)")
    sign_in(emu, cli.home)
    access = cli.entry()["tokens"]["access_token"]
    files = snapshot(cli.home)
    result = run_read_only(cli, "logout")
    assert result.returncode == 1, result.stderr
    assert_one_error_line(result.stderr, "read-only file system")
    assert "revocation failed" not in result.stderr
    assert "cannot lock" not in result.stderr
    assert emu.call(lambda: emu.app[STATE].is_session_active(access))  # type: ignore[index]
    assert snapshot(cli.home) == files


# -- the save failing after the refresh was spent ------------------------------------


def test_successor_kept_when_the_entry_turns_immutable_mid_refresh(
    cli: Cli, emu: ThreadedEmulator, chattr: list[Path]
) -> None:
    """If the entry becomes unreplaceable while the refresh is on the wire, the new
    session is kept in a private file the error names, from which it can be restored."""
    sign_in(emu, cli.home)
    expire(cli)
    path = cli.home / "default.json"
    before = refreshes(emu)
    emu.call(lambda: emu.app[FAULTS].delay("token", 2.0))  # type: ignore[index]
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopback_login", "token"], env=cli.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while refreshes(emu) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    set_flag(chattr, "+i", path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert out == ""
    kept = [p for p in cli.home.iterdir() if ".unsaved-" in p.name]
    assert len(kept) == 1, list(cli.home.iterdir())
    assert_one_error_line(err, str(path), str(kept[0]))
    assert kept[0].stat().st_mode & 0o777 == 0o600
    subprocess.run(["chattr", "-i", str(path)], check=True, timeout=10)
    os.replace(kept[0], path)
    assert_session_survives(cli, emu)


# -- login ---------------------------------------------------------------------


def authorizations(emu: ThreadedEmulator) -> int:
    return int(emu.call(lambda: emu.app[STATE].count("authorize")))  # type: ignore[index]


def live_sessions(emu: ThreadedEmulator) -> set[str]:
    return {
        s.session_id
        for s in emu.call(lambda: emu.app[STATE].sessions)  # type: ignore[index]
        if not s.revoked
    }


def test_login_on_a_full_disk_fails_before_the_browser(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """No room for the session: `login` says so before anyone is sent to sign in."""
    with tmpfs(cli.home, 64 * 1024):
        filler = fill(cli.home, 0)
        before = authorizations(emu)
        result = cli("login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID)
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert_one_error_line(
            result.stderr, str(cli.home / "default.json"), "no space left on device"
        )
        assert authorizations(emu) == before
        filler.unlink()
        # Nothing at all: the lock file went with the profile that never came to be.
        assert sorted(p.name for p in cli.home.iterdir()) == []


def test_login_whose_save_fails_revokes_the_new_session(
    cli: Cli, emu: ThreadedEmulator, chattr: list[Path]
) -> None:
    """If the new session still cannot be saved after the person signed in, it is
    revoked at the server; the session it was to replace is untouched and works."""
    from helpers import LoginProcess, redirect_of

    sign_in(emu, cli.home)
    path = cli.home / "default.json"
    live, files = live_sessions(emu), snapshot(cli.home)
    login = LoginProcess(cli, emu)
    try:
        location = redirect_of(login.authorize_url())  # the person signed in
        set_flag(chattr, "+i", path)
        login.paste(location)
        code = login.finish()
    finally:
        login.close()
    assert code == 1, login.stderr
    error = [line for line in login.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1, login.stderr
    assert str(path) in error[0]
    assert "immutable" in error[0]
    assert live_sessions(emu) == live, "the unsaved session was left live"
    assert snapshot(cli.home) == files
    subprocess.run(["chattr", "-i", str(path)], check=True, timeout=10)
    assert_session_survives(cli, emu)


# -- a folder that only grows (chattr +a) ----------------------------------------------


@pytest.mark.parametrize("inside_margin", [True, False], ids=["margin", "expired"])
def test_append_only_folder_never_loses_the_session(
    cli: Cli, emu: ThreadedEmulator, chattr: list[Path], inside_margin: bool
) -> None:
    """In a folder where names can be added but never removed, nothing is written
    (a temp file could not be cleaned up), no refresh is sent, no traceback."""
    sign_in(emu, cli.home)
    cached = into_margin(cli) if inside_margin else None
    if not inside_margin:
        expire(cli)
    set_flag(chattr, "+a", cli.home)
    before, files = refreshes(emu), snapshot(cli.home)
    result = cli("token")
    assert refreshes(emu) == before, "the refresh token was spent"
    if inside_margin:
        assert (result.returncode, result.stdout) == (0, f"{cached}\n"), result.stderr
        assert result.stderr.startswith("warning: could not refresh"), result.stderr
        assert "append-only" in result.stderr
    else:
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert_one_error_line(result.stderr, str(cli.home), "append-only")
        assert f"chattr -a {cli.home}" in result.stderr.splitlines()[1]
    assert snapshot(cli.home) == files  # no temp file left behind
    logins = authorizations(emu)
    login = cli("login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID)
    assert (login.returncode, authorizations(emu)) == (1, logins), login.stderr
    assert_one_error_line(login.stderr, "append-only")
    assert snapshot(cli.home) == files
    subprocess.run(["chattr", "-a", str(cli.home)], check=True, timeout=10)
    assert_session_survives(cli, emu)
