"""Settings given once, hints that work as printed, and `status` as scripts read it:
real processes against a real emulator."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import tomllib

import pytest
from helpers import Cli, ThreadedEmulator, expire, login

from loopback_login.emulator import DEMO_CLIENT_ID, FAULTS, EmulatorConfig

SCOPE = "openid profile email ReadAccounts"


def run_hints(
    cli: Cli, stderr: str, **env: str
) -> list[subprocess.CompletedProcess[str]]:
    """Run every `run: loopback-login …` hint in ``stderr``, CLIENT_ID filled in."""
    results = []
    commands = re.findall(r"run: (loopback-login [^,\n]*)", stderr)
    assert commands, stderr
    for command in commands:
        argv = shlex.split(command.replace("CLIENT_ID", DEMO_CLIENT_ID))
        assert argv[0] == "loopback-login"
        result = cli(*argv[1:], "--timeout", "20", **env)
        assert result.returncode == 0, (command, result.stderr)
        results.append(result)
    return results


def test_client_id_and_server_from_the_environment(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """LOOPBACK_LOGIN_CLIENT_ID and LOOPBACK_LOGIN_SERVER stand in for the options."""
    env = {"LOOPBACK_LOGIN_CLIENT_ID": DEMO_CLIENT_ID, "LOOPBACK_LOGIN_SERVER": emu.url}
    result = cli("login", "--timeout", "20", **env)
    assert result.returncode == 0, result.stderr
    settings = cli.entry()["settings"]
    assert (settings["server"], settings["client_id"]) == (emu.url, DEMO_CLIENT_ID)
    # An option on the command line wins over its variable.
    bad = cli("login", "--server", "http://example.com", **env)
    assert bad.returncode == 2, bad.stderr


def test_config_set_get_list_unset(cli: Cli, emu: ThreadedEmulator) -> None:
    """The settings file takes keys for every profile and per profile, is valid TOML,
    refuses secrets and unknown keys as usage errors, and feeds `login`."""
    assert cli("config", "set", "client-id", DEMO_CLIENT_ID).returncode == 0
    assert cli("config", "set", "-p", "work", "server", emu.url).returncode == 0
    assert cli("config", "set", "-p", "work", "scope", SCOPE).returncode == 0
    data = tomllib.loads(cli.config_file.read_text())
    assert data == {
        "client-id": DEMO_CLIENT_ID,
        "profiles": {"work": {"server": emu.url, "scope": SCOPE}},
    }
    assert stat.S_IMODE(cli.config_file.stat().st_mode) == 0o600
    assert (
        cli("config", "get", "-p", "work", "client-id").stdout == f"{DEMO_CLIENT_ID}\n"
    )
    listed = cli("config", "list").stdout.splitlines()
    assert f"client-id={DEMO_CLIENT_ID}" in listed
    assert f"work.server={emu.url}" in listed
    for bad in (("client-secret", "s3cret"), ("colour", "red"), ("server", "ftp://x")):
        refused = cli("config", "set", *bad)
        assert refused.returncode == 2, refused.stderr
    assert "s3cret" not in cli.config_file.read_text()

    result = cli("login", "-p", "work", "--timeout", "20")
    assert result.returncode == 0, result.stderr
    settings = cli.entry("work")["settings"]
    assert (settings["server"], settings["scope"]) == (emu.url, SCOPE)

    assert cli("config", "unset", "-p", "work", "scope").returncode == 0
    missing = cli("config", "get", "-p", "work", "scope")
    assert missing.returncode == 1
    assert "loopback-login config set --profile work scope" in missing.stderr


def test_a_hostile_value_stays_one_toml_string(cli: Cli) -> None:
    """Quotes, newlines and brackets in a value cannot add keys or tables."""
    value = 'x"\n[profiles.evil]\nclient-id = "y'
    assert cli("config", "set", "scope", value).returncode == 0
    data = tomllib.loads(cli.config_file.read_text())
    assert data == {"scope": value}


def test_logout_keeps_settings_and_forget_drops_them(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """After `logout`, `login -p work` signs in again with what was given before;
    the logged-out profile is not logged in for `token` and `status`; --forget
    drops the settings too."""
    login(cli, emu, "-p", "work", "--method", "post")
    out = cli("logout", "-p", "work")
    assert out.returncode == 0, out.stderr
    assert "loopback-login login --profile work" in out.stderr
    assert not (cli.home / "work.json").exists()
    kept = tomllib.loads(cli.config_file.read_text())["profiles"]["work"]
    assert kept["client-id"] == DEMO_CLIENT_ID
    assert (kept["scope"], kept["method"]) == (SCOPE, "post")

    token = cli("token", "-p", "work")
    assert token.returncode == 1
    assert token.stdout == ""
    status = cli("status", "-p", "work")
    assert status.returncode == 1
    assert "is not logged in" in status.stderr
    run_hints(cli, token.stderr)  # the hint, as printed, signs in again
    assert cli.entry("work")["settings"]["method"] == "post"

    out = cli("logout", "-p", "work", "--forget")
    assert out.returncode == 0, out.stderr
    assert "profiles" not in tomllib.loads(cli.config_file.read_text())
    again = cli("login", "-p", "work")
    assert again.returncode == 2
    assert "no client id given" in again.stderr


def test_hint_without_any_client_id_names_it(cli: Cli, emu: ThreadedEmulator) -> None:
    """With no session and no client id anywhere, the hint asks for one; filled in,
    it works. With the client id set once, the plain hint works."""
    for command in (("token",), ("status",), ("status", "-p", "default")):
        result = cli(*command)
        assert result.returncode == 1
        assert "--client-id CLIENT_ID" in result.stderr
    run_hints(cli, cli("token").stderr, LOOPBACK_LOGIN_SERVER=emu.url)
    assert cli("token").returncode == 0


def test_hints_after_a_dead_session_and_a_damaged_entry_run(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """The login hint of an ended session and of an entry moved aside both work as
    printed (the latter with the client id set once)."""
    login(cli, emu)
    expire(cli)
    emu.call(lambda: emu.app[FAULTS].invalid_grant())  # type: ignore[index]
    dead = cli("token")
    assert dead.returncode == 2
    status = cli("status")
    assert status.returncode == 1
    assert "fix:" in status.stdout
    run_hints(cli, dead.stderr)
    run_hints(cli, status.stderr)

    (cli.home / "default.json").write_bytes(b"{broken")
    damaged = cli("token")
    assert damaged.returncode == 1
    assert "--client-id CLIENT_ID" in damaged.stderr  # the settings went with it
    (cli.home / "default.json").write_bytes(b"{broken")
    os.chmod(cli.home / "default.json", 0o600)
    assert cli("config", "set", "client-id", DEMO_CLIENT_ID).returncode == 0
    assert cli("config", "set", "server", emu.url).returncode == 0
    damaged = cli("token")
    assert damaged.returncode == 1
    assert "CLIENT_ID" not in damaged.stderr
    run_hints(cli, damaged.stderr)


def test_token_login_takes_the_settings_given_once(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """`token --login` on a profile that never logged in uses the environment's
    client id and server."""
    result = cli(
        "token", "--login", "--timeout", "20",
        LOOPBACK_LOGIN_CLIENT_ID=DEMO_CLIENT_ID, LOOPBACK_LOGIN_SERVER=emu.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == cli.entry()["tokens"]["access_token"]


ROW_KEYS = {
    "profile", "state", "usable", "fix", "problem", "server", "client_id",
    "client_auth_method", "account", "owner_id", "endpoint_id", "session_id", "scope",
    "access_expires_at", "access_expires_at_utc", "refresh_expires_at",
    "refresh_expires_at_utc", "has_refresh_token", "identity", "dead",
}  # fmt: skip
UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def status_json(cli: Cli, *args: str) -> tuple[int, list[dict[str, object]]]:
    result = cli("status", "--json", *args)
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    for row in rows:
        assert set(row) >= ROW_KEYS, ROW_KEYS - set(row)
        for key in ("access_expires_at", "refresh_expires_at"):
            if row[key] is not None:
                assert type(row[key]) is int
                assert UTC.match(str(row[key + "_utc"]))
    return result.returncode, rows


def test_status_exit_codes_and_json_shape(cli: Cli, emu: ThreadedEmulator) -> None:
    """0 only when every profile asked for is usable; a list in --json always, with
    epoch seconds and ISO 8601 UTC side by side, and the fix for each profile."""
    assert status_json(cli) == (1, [])
    login(cli, emu)
    login(cli, emu, "-p", "work")
    code, rows = status_json(cli)
    assert code == 0
    assert [(r["profile"], r["state"], r["usable"]) for r in rows] == [
        ("default", "valid", True),
        ("work", "valid", True),
    ]
    assert rows[0]["client_auth_method"] == "none"
    expire(cli, "work")
    code, rows = status_json(cli, "-p", "work")
    assert (code, rows[0]["state"], rows[0]["fix"]) == (0, "refresh needed", None)

    path = cli.home / "work.json"
    entry = json.loads(path.read_text())
    entry["dead"] = "revoked elsewhere"
    path.write_text(json.dumps(entry))
    code, rows = status_json(cli)
    assert code == 1
    assert rows[1]["fix"] == "loopback-login login --profile work"
    code, rows = status_json(cli, "-p", "default")
    assert code == 0
    code, rows = status_json(cli, "-p", "nobody")
    assert code == 1
    assert rows[0]["state"] == "not logged in"
    text = cli("status")
    assert text.returncode == 1
    assert "client auth: none" in text.stdout
    assert text.stderr.splitlines()[-1] == "  run: loopback-login login --profile work"
    single = cli("status", "-p", "nobody")
    assert single.stdout == ""
    assert len(single.stderr.splitlines()) == 2  # one fact, said once


def test_hints_name_only_the_commands_options(cli: Cli) -> None:
    """A network failure on `token` and `logout` never points at `--server`, an option
    they do not have; the hidden --client-secret is never suggested."""
    with ThreadedEmulator(EmulatorConfig(auto_approve=True)) as gone:
        login(cli, gone)
    expire(cli)
    for command in ("token", "logout"):
        result = cli(command, "--http-timeout", "2")
        assert result.returncode == 1, result.stderr
        assert "--server" not in result.stderr, result.stderr
    typo = cli("login", "--client-secre", "x")
    assert typo.returncode == 2
    assert "'--client-secret'" not in typo.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("login", "--server", "http://example.com", "--client-id", "x"),
        ("login", "--client-id", "x", "--redirect-uri", "https://example.com/cb"),
        ("token", "-p", "../etc"),
        ("status", "-p", "$(touch pwned)"),
        ("login",),
    ],
)
def test_usage_errors_exit_2(cli: Cli, args: tuple[str, ...]) -> None:
    """A missing option or a value that cannot work is a usage error: exit code 2."""
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_env_and_headers_json_formats(cli: Cli, emu: ThreadedEmulator) -> None:
    """`token --format env` is safe under eval, a hostile server URL in the entry and
    hostile profile names included; headers-json is one JSON object."""
    login(cli, emu)
    access = cli.entry()["tokens"]["access_token"]
    headers = cli("token", "--format", "headers-json")
    assert json.loads(headers.stdout) == {"Authorization": f"Bearer {access}"}
    marker = cli.home.parent / "pwned"
    path = cli.home / "default.json"
    entry = json.loads(path.read_text())
    entry["settings"]["server"] = (
        f"http://127.0.0.1/'$(touch {marker})'`touch {marker}`"
    )
    path.write_text(json.dumps(entry))
    for profile in ("default", f"$(touch {marker})", f"'; touch {marker}; '"):
        script = (
            f'eval "$({shlex.join(cli_argv())} token --format env -p {shlex.quote(profile)})"'
            ' && printf "%s\\n%s" "$RINGCENTRAL_ACCESS_TOKEN" "$RINGCENTRAL_SERVER_URL"'
        )
        result = subprocess.run(
            ["bash", "-c", script], env=cli.env, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        if profile == "default":
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == [access, entry["settings"]["server"]]
        else:  # refused: nothing to eval, nothing run
            assert "invalid profile name" in result.stderr
            assert access not in result.stdout
        assert not marker.exists()


def cli_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "loopback_login"]
