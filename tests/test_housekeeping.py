"""The store folder keeps itself tidy: lock files go with their profile (never one
another process may hold), old damaged entries are swept, and `doctor` reports
the folder's state without a secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import (
    HERE,
    Cli,
    EmulatorStarter,
    ThreadedEmulator,
    login,
    wait_until_blocked,
)


def locks(cli: Cli) -> list[str]:
    return sorted(p.name for p in cli.home.glob("*.lock"))


def test_lock_files_go_with_their_profile(cli: Cli, emu: ThreadedEmulator) -> None:
    """Asking for profiles that do not exist leaves no lock; logout takes its
    profile's lock along; `logout --all` leaves none."""
    for name in ("ghost", "spook", "phantom"):
        assert cli("token", "-p", name).returncode == 1
    assert locks(cli) == []
    login(cli, emu, "-p", "work")
    login(cli, emu, "-p", "home")
    assert cli("logout", "-p", "work").returncode == 0
    assert "work.lock" not in locks(cli)
    assert cli("logout", "--all").returncode == 0
    assert locks(cli) == []


def hold(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "store_writer.py"), "hold", str(home), "gone"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="Linux /proc/locks")
def test_a_removed_lock_is_never_held_twice(tmp_path: Path) -> None:
    """A holds the lock of a profile without an entry, B waits for it. A lets go,
    taking the file along; B then holds the lock of the file now at the path, so
    C, coming after, waits for B instead of holding a lock beside it."""
    home = tmp_path / "home"
    a = hold(home)
    assert a.stdout is not None
    assert a.stdout.readline() == "locked\n"
    b = hold(home)
    wait_until_blocked(b)
    a.communicate("", timeout=20)  # A lets go and removes the file
    assert b.stdout is not None
    assert b.stdout.readline() == "locked\n"
    c = hold(home)
    try:
        wait_until_blocked(c)  # fails if C got a lock of its own beside B's
    finally:
        b.communicate("", timeout=20)
        out, _ = c.communicate("", timeout=20)
    assert out == "locked\n"
    assert not (home / "gone.lock").exists()


def stamp(days_ago: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - days_ago * 86400))


def test_damaged_entries_older_than_30_days_are_swept(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """The next save removes entries moved aside over 30 days ago, keeps newer ones."""
    cli.home.mkdir(mode=0o700)
    old = cli.home / f"default.json.corrupt-{stamp(31)}"
    recent = cli.home / f"default.json.corrupt-{stamp(29)}"
    other = cli.home / "notes.txt"
    for path in (old, recent, other):
        path.write_text("kept?")
    login(cli, emu)
    assert not old.exists()
    assert recent.exists()
    assert other.exists()


def test_doctor_reports_without_secrets(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """`doctor` names the folder, the profiles and stray files; it exits 1 on a
    problem with the fix, and prints neither a token, the secret nor a proxy's
    password."""
    emu = threaded_emulator()
    login(cli, emu)
    entry = cli.entry()
    env = {
        "LOOPBACK_LOGIN_CLIENT_SECRET": "very-secret-value",
        "HTTPS_PROXY": "http://user:proxy-password@proxy.example:3128",
    }
    (cli.home / f"default.json.corrupt-{stamp(2)}").write_text("x")
    healthy = cli("doctor", **env)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    report = healthy.stdout + healthy.stderr
    assert str(cli.home) in report
    assert "profile default" in report
    assert "damaged entry kept" in report
    assert "proxy.example:3128" in report
    for secret in (
        "very-secret-value", "proxy-password", entry["tokens"]["access_token"],
        entry["tokens"]["refresh_token"],
    ):  # fmt: skip
        assert secret not in report
    os.chmod(cli.home / "default.json", 0o644)
    sick = cli("doctor")
    assert sick.returncode == 1
    assert f"chmod 600 {cli.home / 'default.json'}" in sick.stdout
    assert json.loads((cli.home / "default.json").read_text())  # left as it was
