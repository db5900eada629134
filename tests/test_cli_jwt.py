"""JWT-credential profiles through real `loopback-login` processes against a threaded
emulator: no browser and no listener, the cache and single-flight refresh as for
any session, and a dead session renewed from the credential once for all callers."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import AuditedCli, ThreadedEmulator, end_session, expire, snapshot
from joserfc.jwk import KeySet, RSAKey

from loopback_login.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CONFIDENTIAL_CLIENT_ID,
    DEMO_CONFIDENTIAL_SECRET,
    DEMO_JWT,
    DEMO_JWT_KEY,
    JWT_BEARER,
    STATE,
    EmulatorClient,
    issue_jwt,
)
from loopback_login.emulator.config import (
    DEMO_CLIENT,
    DEMO_CONFIDENTIAL_CLIENT,
    DEMO_USER,
)

SECRET = "jwt-app-secret-never-on-disk"
EmulatorStarter = Callable[..., ThreadedEmulator]


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "jwt-key-1"})


def clients(key: RSAKey) -> tuple[EmulatorClient, ...]:
    """The demo apps, one JWT app per confidential method, and one without the grant."""
    jwks = dict(KeySet([key]).as_dict(private=False))
    return (
        DEMO_CLIENT,
        DEMO_CONFIDENTIAL_CLIENT,
        EmulatorClient(
            client_id="jwt-client_secret_jwt", redirect_uris=(), jwt_grant=True,
            auth_method="client_secret_jwt", client_secret=SECRET,
        ),
        EmulatorClient(
            client_id="jwt-private_key_jwt", redirect_uris=(), jwt_grant=True,
            auth_method="private_key_jwt", jwks=jwks,
        ),
        EmulatorClient(
            client_id="no-jwt-grant", redirect_uris=(),
            auth_method="client_secret_basic", client_secret=SECRET,
        ),
    )  # fmt: skip


@pytest.fixture
def emu(threaded_emulator: EmulatorStarter, key: RSAKey) -> ThreadedEmulator:
    return threaded_emulator(clients=clients(key))


@pytest.fixture
def cli(tmp_path: Path) -> AuditedCli:
    return AuditedCli(tmp_path / "home")


def jwt_file(tmp_path: Path, value: str = DEMO_JWT, name: str = "user.jwt") -> str:
    path = tmp_path / name
    path.write_text(value + "\n")
    return str(path)


def login_args(emu: ThreadedEmulator, *extra: str) -> list[str]:
    return ["login", "--server", emu.url, "--client-id", DEMO_CONFIDENTIAL_CLIENT_ID,
            *extra]  # fmt: skip


SECRET_ENV = {"LOOPBACK_LOGIN_CLIENT_SECRET": DEMO_CONFIDENTIAL_SECRET}


def count(emu: ThreadedEmulator, **filters: str) -> int:
    return int(emu.call(lambda: emu.app[STATE].count("token", **filters)))  # type: ignore[index]


def kinds(audit: dict[str, Any], kind: str) -> list[str]:
    return [detail for what, detail in audit["events"] if what == kind]


def test_jwt_login_binds_nothing_and_opens_no_browser(
    cli: AuditedCli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """`login --jwt-file` binds no socket, starts no process (no browser), and saves
    a JWT profile; the same audit of a browser login sees both (the audit works)."""
    result, audit = cli.audited(
        tmp_path / "jwt.json", *login_args(emu, "--jwt-file", jwt_file(tmp_path)),
        **SECRET_ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Signed in to" in result.stderr
    assert kinds(audit, "bind") == []
    assert kinds(audit, "process") == []
    assert kinds(audit, "browser") == []
    entry = cli.entry()
    assert entry["settings"]["grant"] == "jwt"
    assert entry["tokens"]["owner_id"] == DEMO_USER.owner_id
    assert count(emu, grant_type=JWT_BEARER) == 1

    browser, control = cli.audited(
        tmp_path / "browser.json", "login", "--server", emu.url, "--client-id",
        DEMO_CLIENT_ID, "--timeout", "20", "-p", "person",
    )  # fmt: skip
    assert browser.returncode == 0, browser.stderr
    assert any("127.0.0.1" in bound for bound in kinds(control, "bind"))
    assert kinds(control, "process")


def test_jwt_profile_token_refresh_status_logout(
    cli: AuditedCli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """A JWT profile: `token` from the cache, a refresh as for any session, `status`
    naming the grant, and `logout` revoking the session at the server."""
    login = cli(*login_args(emu, "--grant", "jwt"), LOOPBACK_LOGIN_JWT=DEMO_JWT,
                **SECRET_ENV)  # fmt: skip
    assert login.returncode == 0, login.stderr
    first = cli("token", **SECRET_ENV)
    assert first.stdout.strip() == cli.entry()["tokens"]["access_token"]

    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert "grant:       jwt (the user's JWT credential; no browser)" in status.stdout
    [row] = json.loads(cli("status", "--json", "-p", "default").stdout)
    assert row["grant"] == "jwt"

    expire(cli)
    refreshed = cli("token", **SECRET_ENV)  # no credential needed to refresh
    assert refreshed.returncode == 0, refreshed.stderr
    assert refreshed.stdout.strip() not in ("", first.stdout.strip())
    assert count(emu, grant_type="refresh_token") == 1
    assert count(emu, grant_type=JWT_BEARER) == 1

    logout = cli("logout", **SECRET_ENV)
    assert logout.returncode == 0, logout.stderr
    assert "revoked" in logout.stderr
    fresh = refreshed.stdout.strip()
    assert not emu.call(lambda: emu.app[STATE].is_session_active(fresh))  # type: ignore[index]
    assert not (cli.home / "default.json").exists()


def test_dead_session_renewed_once_for_16_parallel_callers(
    cli: AuditedCli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """16 `token` processes meet a dead refresh token with the credential in the
    environment: one refresh is refused, one exchange follows, all print its token."""
    login = cli(*login_args(emu, "--jwt-file", jwt_file(tmp_path)), **SECRET_ENV)
    assert login.returncode == 0, login.stderr
    end_session(cli, emu)
    env = {**cli.env, **SECRET_ENV, "LOOPBACK_LOGIN_JWT": DEMO_JWT}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "loopback_login", "token"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(16)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 16, outputs
    printed = {out for out, _ in outputs}
    assert printed == {cli.entry()["tokens"]["access_token"] + "\n"}
    assert count(emu, grant_type="refresh_token") == 1
    assert count(emu, grant_type=JWT_BEARER) == 2  # the login's and one renewal
    assert cli.entry()["dead"] is None


def test_dead_session_without_the_credential_says_what_to_set(
    cli: AuditedCli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """Without the credential a dead JWT session exits 2 naming every way to give
    it; RingCentral's own variable, RC_USER_JWT, is one of them."""
    login = cli(*login_args(emu, "--jwt-file", jwt_file(tmp_path)), **SECRET_ENV)
    assert login.returncode == 0, login.stderr
    end_session(cli, emu)
    dead = cli("token", **SECRET_ENV)
    assert dead.returncode == 2
    assert "no JWT credential was given to start a new session" in dead.stderr
    assert (
        "set LOOPBACK_LOGIN_JWT (or RC_USER_JWT) to the user's JWT credential, "
        "or pass --jwt-file FILE" in dead.stderr
    )
    renewed = cli("token", RC_USER_JWT=DEMO_JWT, **SECRET_ENV)
    assert renewed.returncode == 0, renewed.stderr
    assert renewed.stdout.strip() == cli.entry()["tokens"]["access_token"]
    assert "starting a new one with the JWT credential" in renewed.stderr


def test_refused_credentials_change_nothing(
    cli: AuditedCli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """A forged, expired, revoked, foreign, empty, oversized or garbled credential:
    one clear error, exit 1, and the saved session untouched."""
    ok = cli(*login_args(emu, "--jwt-file", jwt_file(tmp_path)), **SECRET_ENV)
    assert ok.returncode == 0, ok.stderr
    before = snapshot(cli.home)
    now = time.time()
    revoked = emu.call(lambda: emu.app[STATE].issue_jwt())  # type: ignore[index]
    emu.call(lambda: emu.app[STATE].revoke_jwt(revoked))  # type: ignore[index]
    cases = {
        "forged": (issue_jwt(DEMO_USER, key="not the emulator's", now=now), "OAU-213"),
        "expired": (issue_jwt(DEMO_USER, key=DEMO_JWT_KEY, now=now - 7200, ttl=60),
                    "JWT token is expired (OAU-210)"),
        "revoked": (revoked, "JWT token is revoked (OAU-213)"),
        "foreign": (issue_jwt(DEMO_USER, key=DEMO_JWT_KEY, now=now,
                              client_ids=("another-app",)), "not issued for this application"),
        "empty": ("", "is empty"),
        "oversized": ("x" * 20000, "longer than any"),
        "garbled": ("eyJh bGci", "has spaces or characters"),
    }  # fmt: skip
    for name, (value, message) in cases.items():
        path = jwt_file(tmp_path, value, f"{name}.jwt")
        result = cli(*login_args(emu, "--jwt-file", path), **SECRET_ENV)
        assert result.returncode == 1, (name, result.stderr)
        assert message in result.stderr, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert lines[0].startswith("error: "), (name, lines)
        assert len(lines) == 2, (name, lines)  # the error and its hint
        if value and value.count(".") == 2:
            assert "create one in the developer console" in lines[1]
        assert value.strip() not in result.stderr or not value.strip()
    assert snapshot(cli.home) == before
    missing = cli(*login_args(emu, "--jwt-file", str(tmp_path / "nope")), **SECRET_ENV)
    assert missing.returncode == 1
    assert "cannot read the JWT credential" in missing.stderr
    mixed = cli(*login_args(emu, "--jwt-file", jwt_file(tmp_path),
                            "--grant", "authorization_code"), **SECRET_ENV)  # fmt: skip
    assert mixed.returncode == 1
    assert "--jwt-file goes with --grant jwt" in mixed.stderr
    assert snapshot(cli.home) == before


@pytest.mark.parametrize(
    "method", ["client_secret_basic", "client_secret_jwt", "private_key_jwt"]
)
def test_each_confidential_client_auth(
    method: str, cli: AuditedCli, emu: ThreadedEmulator, tmp_path: Path, key: RSAKey
) -> None:
    """The app authenticates with each method RingCentral lists for confidential
    apps, for the exchange, the refresh and the revocation alike."""
    env: dict[str, str] = {"LOOPBACK_LOGIN_JWT": DEMO_JWT}
    flags: list[str] = []
    client_id = f"jwt-{method}"
    if method == "client_secret_basic":
        client_id = DEMO_CONFIDENTIAL_CLIENT_ID
        env.update(SECRET_ENV)
    elif method == "client_secret_jwt":
        env["LOOPBACK_LOGIN_CLIENT_SECRET"] = SECRET
        flags = ["--client-auth", method]
    else:
        pem = tmp_path / "key.pem"
        pem.write_bytes(key.as_pem(private=True))
        flags = ["--private-key", str(pem), "--key-id", "jwt-key-1"]
    login = cli("login", "--server", emu.url, "--client-id", client_id,
                "--grant", "jwt", *flags, **env)  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert cli.entry()["settings"]["client_auth"] == method
    expire(cli)
    assert cli("token", **env).returncode == 0
    assert cli("logout", **env).returncode == 0
    calls = emu.call(
        lambda: [
            (r.params.get("grant_type"), r.auth_method)
            for r in emu.app[STATE].requests  # type: ignore[index]
            if r.endpoint in ("token", "revoke")
        ]
    )
    assert calls == [(JWT_BEARER, method), ("refresh_token", method), (None, method)]


@pytest.mark.parametrize(
    ("client_id", "env"),
    [(DEMO_CLIENT_ID, {}), ("no-jwt-grant", {"LOOPBACK_LOGIN_CLIENT_SECRET": SECRET})],
)
def test_an_app_without_the_grant_is_told_how_to_get_it(
    cli: AuditedCli, emu: ThreadedEmulator, client_id: str, env: dict[str, str]
) -> None:
    """A public app, or one without the JWT auth flow: unauthorized_client (OAU-251)
    with the setting to change; nothing saved."""
    result = cli("login", "--server", emu.url, "--client-id", client_id,
                 "--grant", "jwt", LOOPBACK_LOGIN_JWT=DEMO_JWT, **env)  # fmt: skip
    assert result.returncode == 1
    assert "unauthorized_client: Unauthorized for this grant type (OAU-251)" in (
        result.stderr
    )
    assert 'choose "JWT auth flow" in its settings' in result.stderr
    assert not (cli.home / "default.json").exists()


def test_login_again_reuses_the_profile_settings(
    cli: AuditedCli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """`login -p ci` with only the credential signs in again as the profile did,
    and revokes the session it replaces."""
    path = jwt_file(tmp_path)
    first = cli(*login_args(emu, "-p", "ci", "--jwt-file", path), **SECRET_ENV)
    assert first.returncode == 0, first.stderr
    old = cli.entry("ci")["tokens"]["access_token"]
    again = cli("login", "-p", "ci", LOOPBACK_LOGIN_JWT=DEMO_JWT, **SECRET_ENV)
    assert again.returncode == 0, again.stderr
    assert cli.entry("ci")["tokens"]["access_token"] != old
    assert not emu.call(lambda: emu.app[STATE].is_session_active(old))  # type: ignore[index]
    assert count(emu, grant_type=JWT_BEARER) == 2


def test_emulator_issues_credentials_any_emulator_accepts(
    cli: AuditedCli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """`emulator --issue-jwt` prints a credential (signed with the emulator's fixed
    key) that a running emulator exchanges; with --jwt-ttl it expires."""
    issued = cli("emulator", "--issue-jwt")
    assert issued.returncode == 0, issued.stderr
    credential = issued.stdout.strip()
    assert credential.count(".") == 2
    login = cli(*login_args(emu, "--grant", "jwt"), LOOPBACK_LOGIN_JWT=credential,
                **SECRET_ENV)  # fmt: skip
    assert login.returncode == 0, login.stderr
    short = cli("emulator", "--issue-jwt", "--jwt-ttl", "60").stdout.strip()
    payload = short.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert 0 < claims["exp"] - time.time() <= 60
    assert "exp" not in json.loads(
        base64.urlsafe_b64decode(credential.split(".")[1] + "==")
    )
