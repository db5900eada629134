"""The command line, as people and scripts run it: real processes, a real emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import Cli, EmulatorStarter, expire, login

from loopback_login.emulator import FAULTS, STATE


@pytest.mark.parametrize("method", ["get", "post"])
def test_login_token_status_logout(
    cli: Cli, threaded_emulator: EmulatorStarter, method: str
) -> None:
    """The whole life of a session through the CLI; no token is printed unasked."""
    emu = threaded_emulator()
    result = login(cli, emu, "--method", method)
    assert "Signed in to" in result.stderr
    assert "Dana Demo" in result.stderr
    tokens = cli.entry()["tokens"]
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    assert access not in result.stderr + result.stdout
    assert emu.call(lambda: emu.app[STATE].is_session_active(access))  # type: ignore[index]

    token = cli("token")
    assert (token.returncode, token.stdout, token.stderr) == (0, f"{access}\n", "")
    assert (
        cli("token", "--format", "header").stdout == f"Authorization: Bearer {access}\n"
    )
    as_json = json.loads(cli("token", "--format=json").stdout)
    assert as_json["access_token"] == access
    assert as_json["profile"] == "default"
    assert 3000 < as_json["expires_in"] <= 3600

    status = cli("status")
    assert status.returncode == 0
    assert "default: valid" in status.stdout
    assert access not in status.stdout
    assert refresh not in status.stdout
    [status_json] = json.loads(cli("status", "--json", "-p", "default").stdout)
    assert status_json["state"] == "valid"
    assert status_json["owner_id"] == "101"

    out = cli("logout")
    assert out.returncode == 0, out.stderr
    assert "revoked" in out.stderr
    assert not emu.call(lambda: emu.app[STATE].is_session_active(access))  # type: ignore[index]
    after = cli("token")
    assert after.returncode == 1
    assert "not logged in" in after.stderr
    assert "loopback-login login --profile default" in after.stderr


def test_token_refreshes_and_invalid_grant_exits_2(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """An expiring token is refreshed; a dead refresh token exits 2 with the fix."""
    emu = threaded_emulator()
    login(cli, emu)
    entry = cli.entry()
    old = entry["tokens"]["access_token"]
    expire(cli)
    fresh = cli("token")
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() not in ("", old)
    expire(cli)
    emu.call(lambda: emu.app[FAULTS].invalid_grant())  # type: ignore[index]
    dead = cli("token")
    assert dead.returncode == 2
    assert "session expired" in dead.stderr
    assert "run: loopback-login login --profile default" in dead.stderr
    assert cli.entry()["dead"]


def test_refresh_is_single_flight_across_processes(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """Eight processes with an expired token cause one refresh and print one token."""
    emu = threaded_emulator()
    login(cli, emu)
    expire(cli)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "loopback_login", "token"],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, outputs
    assert len({out for out, _ in outputs}) == 1
    refreshes = emu.call(
        lambda: emu.app[STATE].count("token", grant_type="refresh_token")
    )  # type: ignore[index]
    assert refreshes == 1


def test_usage_errors(cli: Cli) -> None:
    """Bad input gets a clear message and a non-zero exit; nothing is created."""
    result = cli("login", "--server", "http://example.com", "--client-id", "x")
    assert result.returncode == 2
    assert "plain http" in result.stderr
    assert cli("token", "--format", "xml").returncode == 2
    no_id = cli("login")
    assert no_id.returncode == 2
    assert "--client-id" in no_id.stderr
    assert cli("token", "-p", "../etc").returncode != 0
    assert not (cli.home / "default.json").exists()


def test_status_and_logout_of_nothing(cli: Cli) -> None:
    """status of an unknown profile exits 1; logout of it says so and exits 0."""
    status = cli("status", "-p", "nobody")
    assert status.returncode == 1
    assert "not logged in" in status.stderr
    out = cli("logout", "-p", "nobody")
    assert out.returncode == 0
    assert "was not logged in" in out.stderr


def test_cached_token_path_imports_nothing_heavy(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """With a valid cached token, `token` loads neither aiohttp, authlib, joserfc nor click."""
    login(cli, threaded_emulator())
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "loopback_login", "token"],
        env=cli.env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    for heavy in ("aiohttp", "authlib", "joserfc", "click", "platformdirs", "filelock"):
        assert heavy not in imported, f"{heavy} imported on the cached path"
    assert "loopback_login.cli.fast" in imported


def imported_by(code: str, env: dict[str, str]) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return {line.split("|")[-1].strip() for line in result.stderr.splitlines()}


@pytest.mark.parametrize("fmt", ["token", "json"])
def test_cached_token_path_spares_even_the_standard_library(
    cli: Cli, threaded_emulator: EmulatorStarter, fmt: str
) -> None:
    """As the console script runs it, `token` imports neither json nor re (a third
    of its start-up) nor contextlib, beyond what the interpreter loads anyway."""
    login(cli, threaded_emulator())
    floor = imported_by("pass", cli.env)
    script = (
        "import sys; from loopback_login.cli.main import main; "
        f"sys.exit(main(['token', '--format', {fmt!r}]))"
    )
    extra = imported_by(script, cli.env) - floor
    assert "loopback_login.cli.fast" in extra
    for module in ("json", "re", "enum", "contextlib", "collections"):
        assert module not in extra, f"{module} imported on the cached path"
    # The package boundary: the store, the entry point and its output, the one
    # error tree the store raises and the names of the environment variables
    # (both themselves the standard library's core alone).
    ours = {m for m in extra if m.startswith("loopback_login")}
    allowed = {"loopback_login", "loopback_login.cli", "loopback_login.cli.main",
               "loopback_login.cli.fast", "loopback_login.cli.output",
               "loopback_login.errors", "loopback_login.environment"}  # fmt: skip
    outside = {m for m in ours - allowed if not m.startswith("loopback_login.store")}
    assert not outside, f"the cached path imported {sorted(outside)}"


def test_help_and_version(cli: Cli) -> None:
    """--help lists the commands; --version prints the version."""
    result = cli("--help")
    assert result.returncode == 0
    for command in ("login", "token", "status", "logout", "emulator", "demo"):
        assert command in result.stdout
    assert cli("--version").stdout.startswith("loopback-login, version ")


def test_demo_headless(cli: Cli) -> None:
    """`demo --headless` runs a whole session against the in-process emulator."""
    result = cli("demo", "--headless")
    assert result.returncode == 0, result.stderr
    assert "Called the API with the token: HTTP 200" in result.stderr
    assert "revoked at the server (confirmed)" in result.stderr
    assert (
        "JWT credential for a session, with no browser, then revoked it (confirmed)"
        in (result.stderr)
    )


def test_parallel_token_login_runs_one_login(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """Four `token --login` calls on a dead session wait for one browser login."""
    emu = threaded_emulator()
    login(cli, emu)
    path = cli.home / "default.json"
    entry = json.loads(path.read_text())
    entry["dead"] = "revoked elsewhere"
    path.write_text(json.dumps(entry))
    logins = emu.call(lambda: emu.app[STATE].count("authorize"))  # type: ignore[index]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "loopback_login",
                "token",
                "--login",
                "--timeout",
                "30",
            ],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=90) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    assert len({out for out, _ in outputs}) == 1
    assert emu.call(lambda: emu.app[STATE].count("authorize")) == logins + 1  # type: ignore[index]


def test_a_copied_entry_answers_to_its_new_name(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """The profile's name is where its entry is stored: `default.json` copied to
    `work.json` is the `work` profile, in `status` and `token --format json` alike."""
    login(cli, threaded_emulator())
    (cli.home / "work.json").write_bytes((cli.home / "default.json").read_bytes())
    os.chmod(cli.home / "work.json", 0o600)
    status = cli("status", "-p", "work")
    assert status.returncode == 0, status.stderr
    assert "work: valid" in status.stdout
    assert "default" not in status.stdout
    assert (
        json.loads(cli("status", "--json", "-p", "work").stdout)[0]["profile"] == "work"
    )
    assert (
        json.loads(cli("token", "-p", "work", "--format", "json").stdout)["profile"]
        == "work"
    )
