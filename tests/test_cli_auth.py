"""The four client authentication methods through real `python -m loopback_login`
processes: login, a refreshed token, status and logout against a threaded emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import Cli, ThreadedEmulator, expire
from joserfc.jwk import KeySet, RSAKey

from loopback_login.emulator import STATE, EmulatorClient

SECRET = "cli-secret-never-on-disk"
REDIRECTS = ("http://127.0.0.1/callback",)
SCOPE = "openid profile email ReadAccounts"
NAME = "Dana Demo <demo@example.com>"
EmulatorStarter = Callable[..., ThreadedEmulator]


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "cli-key-1"})


def clients(key: RSAKey) -> tuple[EmulatorClient, ...]:
    """One registered app per method; the key's public half for private_key_jwt."""
    jwks = dict(KeySet([key]).as_dict(private=False))
    return (
        EmulatorClient(client_id="cli-none", redirect_uris=REDIRECTS),
        EmulatorClient(
            client_id="cli-client_secret_basic", redirect_uris=REDIRECTS,
            auth_method="client_secret_basic", client_secret=SECRET,
        ),
        EmulatorClient(
            client_id="cli-client_secret_jwt", redirect_uris=REDIRECTS,
            auth_method="client_secret_jwt", client_secret=SECRET,
        ),
        EmulatorClient(
            client_id="cli-private_key_jwt", redirect_uris=REDIRECTS,
            auth_method="private_key_jwt", jwks=jwks,
        ),
        EmulatorClient(client_id="cli-hs256", redirect_uris=REDIRECTS, id_token_alg="HS256"),
    )  # fmt: skip


def credentials(
    method: str, tmp_path: Path, key: RSAKey
) -> tuple[list[str], list[str], dict[str, str]]:
    """Login flags, the flags `token`/`logout` need again, and the environment.

    client_secret_basic and private_key_jwt are inferred from what is given; the
    secret comes from the environment for one method and from a file for another.
    """
    if method == "client_secret_basic":
        return [], [], {"LOOPBACK_LOGIN_CLIENT_SECRET": SECRET}
    if method == "client_secret_jwt":
        path = tmp_path / "secret.txt"
        path.write_text(SECRET + "\n")
        again = ["--client-secret-file", str(path)]
        return ["--client-auth", method, *again], again, {}
    if method == "private_key_jwt":
        pem = tmp_path / "key.pem"
        pem.write_bytes(key.as_pem(private=True))
        return ["--private-key", str(pem), "--key-id", "cli-key-1"], [], {}
    return [], [], {}


@pytest.mark.parametrize(
    "method", ["none", "client_secret_basic", "client_secret_jwt", "private_key_jwt"]
)
def test_login_refresh_logout(
    method: str,
    cli: Cli,
    threaded_emulator: EmulatorStarter,
    tmp_path: Path,
    key: RSAKey,
) -> None:
    """Each method logs in, refreshes and logs out; the profile keeps no secret."""
    emu = threaded_emulator(clients=clients(key))
    client_id = f"cli-{method}"
    login_flags, again, env = credentials(method, tmp_path, key)
    login = cli(
        "login", "--server", emu.url, "--client-id", client_id, "--scope", SCOPE,
        "--timeout", "20", *login_flags, **env,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert f"as {NAME}" in login.stderr

    raw = (cli.home / "default.json").read_text()
    assert SECRET not in raw
    settings = json.loads(raw)["settings"]
    assert settings["client_auth"] == method
    if method == "private_key_jwt":
        assert settings["private_key_path"] == os.path.abspath(tmp_path / "key.pem")
        assert settings["key_id"] == "cli-key-1"
    else:
        assert settings["private_key_path"] is None

    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert f"user:        {NAME}\n" in status.stdout
    assert f"client auth: {method}\n" in status.stdout
    assert "not checked" not in status.stdout

    old = cli.entry()["tokens"]["access_token"]
    expire(cli)
    if method in ("client_secret_basic", "client_secret_jwt"):
        without = cli("token")
        assert without.returncode == 1
        assert f"{method} needs the client secret" in without.stderr
        assert "LOOPBACK_LOGIN_CLIENT_SECRET" in without.stderr
    token = cli("token", *again, **env)
    assert token.returncode == 0, token.stderr
    assert token.stdout.strip() not in ("", old)

    logout = cli("logout", *again, **env)
    assert logout.returncode == 0, logout.stderr
    assert "revoked" in logout.stderr
    assert not (cli.home / "default.json").exists()
    fresh = token.stdout.strip()
    assert not emu.call(lambda: emu.app[STATE].is_session_active(fresh))  # type: ignore[index]

    calls = emu.call(
        lambda: [
            (r.endpoint, r.params.get("grant_type"), r.auth_method)
            for r in emu.app[STATE].requests  # type: ignore[index]
            if r.endpoint in ("token", "revoke")
        ]
    )
    assert calls == [
        ("token", "authorization_code", method),
        ("token", "refresh_token", method),
        ("revoke", None, method),
    ]
    for output in (login, status, token, logout):
        assert SECRET not in output.stdout + output.stderr


def test_hs256_identity_is_marked_unchecked(
    cli: Cli, threaded_emulator: EmulatorStarter, key: RSAKey
) -> None:
    """A public client's HS256 ID token over loopback: status says it was not checked."""
    emu = threaded_emulator(clients=clients(key))
    login = cli(
        "login", "--server", emu.url, "--client-id", "cli-hs256", "--scope", SCOPE,
        "--timeout", "20",
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    status = cli("status")
    assert f"user:        {NAME} (ID token signature not checked" in status.stdout
    [as_json] = json.loads(cli("status", "--json", "-p", "default").stdout)
    assert as_json["identity"]["signature_checked"] is False
    assert as_json["identity"]["sub"] == "101"


def test_a_secret_handed_over_by_process_substitution(
    cli: Cli, threaded_emulator: EmulatorStarter, key: RSAKey
) -> None:
    """``--client-secret-file <(pass show …)``: a shell's pipe, no file on disk,
    read to its end like standard input (it is not a regular file, and that is
    fine: only a named pipe no program writes to is refused)."""
    emu = threaded_emulator(clients=clients(key))
    result = subprocess.run(
        ["bash", "-c",
         f'{sys.executable} -m loopback_login login --server "$1" '
         '--client-id cli-client_secret_basic --scope "$2" --timeout 20 '
         '--client-secret-file <(printf "%s\\n" "$3")',
         "bash", emu.url, SCOPE, SECRET],
        env=cli.env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"as {NAME}" in result.stderr
    assert SECRET not in (cli.home / "default.json").read_text()
