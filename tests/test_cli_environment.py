"""Where the CLI looks: an empty option is refused, never silently the default; an
empty variable counts as unset (as ``XDG_STATE_HOME`` does); folders it creates are
private whatever the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ACCESS, Cli, entry_with, write_entry


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loopback_login", *args], env=env,
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    cli = Cli(tmp_path / "home")
    write_entry(cli.home, entry_with())  # a valid token for profile `default`
    return cli


@pytest.mark.parametrize(
    "args", [["--profile="], ["--profile", ""], ["-p", ""]], ids=["eq", "space", "p"]
)
@pytest.mark.parametrize("command", ["token", "status"])
def test_empty_profile_option_is_refused(
    cli: Cli, command: str, args: list[str]
) -> None:
    """`--profile=` is refused as `-p ''` is: it never means `default`."""
    result = cli(command, *args)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr  # usage error
    assert result.stderr.startswith("error: invalid profile name ''"), result.stderr


@pytest.mark.parametrize("command", [["token"], ["token", "--min-valid", "1"]])
def test_empty_profile_variable_counts_as_unset(cli: Cli, command: list[str]) -> None:
    """`LOOPBACK_LOGIN_PROFILE=` means the default profile on the cached path and in
    the full command alike."""
    result = cli(*command, LOOPBACK_LOGIN_PROFILE="")
    assert (result.returncode, result.stdout) == (0, f"{ACCESS}\n"), result.stderr


@pytest.mark.parametrize("args", [["--cache-dir="], ["--cache-dir", ""]])
def test_empty_cache_dir_is_refused(tmp_path: Path, args: list[str]) -> None:
    """`--cache-dir ''` is refused, not read as the default folder (which here holds
    a valid token that must not be printed)."""
    state = tmp_path / "state"
    (state / "loopback-login").mkdir(mode=0o700, parents=True)
    write_entry(state / "loopback-login", entry_with())
    env = {**Cli(tmp_path / "unused").env, "XDG_STATE_HOME": str(state)}
    del env["LOOPBACK_LOGIN_HOME"]
    assert run(env, "token").stdout == f"{ACCESS}\n"  # the default folder is used
    result = run(env, "token", *args)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith("error: --cache-dir is empty"), result.stderr


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG state folder")
def test_missing_parents_are_created_private_under_umask_000(tmp_path: Path) -> None:
    """With umask 000, `~/.local` and `~/.local/state`, when missing, are created 0700
    like the store's own folder, not 0777."""
    home = tmp_path / "user"
    home.mkdir()
    env = {**Cli(tmp_path / "unused").env, "HOME": str(home)}
    for name in ("LOOPBACK_LOGIN_HOME", "XDG_STATE_HOME"):
        env.pop(name, None)
    result = subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$0" -m loopback_login token', sys.executable],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "not logged in" in result.stderr
    created = [
        home / ".local",
        home / ".local/state",
        home / ".local/state/loopback-login",
    ]
    modes = {str(p.relative_to(home)): stat.S_IMODE(p.stat().st_mode) for p in created}
    assert modes == {str(p.relative_to(home)): 0o700 for p in created}


def test_existing_parent_modes_are_left_alone(tmp_path: Path) -> None:
    """A parent that exists keeps its mode: only what is created is made private."""
    home = tmp_path / "user"
    (home / ".local").mkdir(parents=True)
    os.chmod(home / ".local", 0o755)
    env = {**Cli(tmp_path / "unused").env, "HOME": str(home)}
    for name in ("LOOPBACK_LOGIN_HOME", "XDG_STATE_HOME"):
        env.pop(name, None)
    run(env, "token")
    assert stat.S_IMODE((home / ".local").stat().st_mode) == 0o755
    assert stat.S_IMODE((home / ".local/state").stat().st_mode) == 0o700
