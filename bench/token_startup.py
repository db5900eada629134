"""token_startup: wall time of a new process that prints a valid cached token.

Ours (the console script, and ``python -m``) against ``python -c pass`` (the floor)
and against the same job done with google-auth and with MSAL, each a new process
reading its own cache file. The commands take turns within every round, in a
rotating order, so a busy moment of the machine falls on all of them alike.
"""

from __future__ import annotations

import datetime
import json
import pickle
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import (
    BENCH,
    PY,
    SCRIPT,
    TIMES,
    Emulator,
    Run,
    Section,
    child_env,
    log,
    login_into,
    median,
    run_timed,
    scratch,
    standalone,
    verdict,
)

PEERS = BENCH / "peers"
FLOOR_GOAL = 2.0
PEER_GOAL = 5.0
TIMEOUT = 15.0  # a peer that tries the network here hangs or fails: bounded


@dataclass
class Command:
    name: str
    argv: list[str]
    expect: str  # the token it must print
    check_argv: list[str] | None = None  # the same run with the network refused
    failure: str = ""


def _google_file(folder: Path) -> tuple[Path, str]:
    """An authorized-user file written by google-auth itself, valid for an hour."""
    from google.oauth2.credentials import Credentials

    token = "ya29.bench-" + secrets.token_urlsafe(32)
    # google-auth keeps expiry as naive UTC.
    expiry = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    creds = Credentials(
        token=token,
        refresh_token="1//bench-" + secrets.token_urlsafe(16),
        client_id="bench.apps.googleusercontent.com",
        client_secret="bench-secret",
        token_uri="https://oauth2.googleapis.com/token",
        expiry=expiry + datetime.timedelta(hours=1),
    )
    path = folder / "google_authorized_user.json"
    path.write_text(creds.to_json())
    return path, token


class _OfflineResponse:
    def __init__(self, body: dict[str, object]) -> None:
        self.status_code = 200
        self.text = json.dumps(body)
        self.headers = {"Content-Type": "application/json"}


class _DiscoveryOnly:
    """An HTTP client that knows one answer: the authority's OIDC discovery."""

    def __init__(self, config: dict[str, object]) -> None:
        self._config = config

    def get(self, url: str, **_: object) -> _OfflineResponse:
        if not url.endswith("/.well-known/openid-configuration"):
            raise AssertionError(f"unexpected GET {url}")
        return _OfflineResponse(self._config)

    def post(self, url: str, **_: object) -> _OfflineResponse:
        raise AssertionError(f"unexpected POST {url}")

    def close(self) -> None:
        pass


def _b64(data: dict[str, object]) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _msal_folder(folder: Path) -> tuple[Path, str]:
    """MSAL's token cache and HTTP cache as its own code writes them.

    The authority is made up but well formed; its discovery document is answered
    once, offline, while the HTTP cache records it; the token cache gets a login's
    worth of entries through ``TokenCache.add``, as after an interactive sign-in.
    """
    import msal

    tenant = "00000000-0000-0000-0000-00000000b0b0"
    authority = f"https://login.bench.example/{tenant}"
    client_id = "11111111-2222-3333-4444-555555555555"
    scopes = ["https://graph.example/User.Read"]
    discovery: dict[str, object] = {
        "issuer": f"{authority}/v2.0",
        "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
        "token_endpoint": f"{authority}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
    }
    http_cache: dict[object, object] = {}
    msal.PublicClientApplication(
        client_id,
        authority=authority,
        instance_discovery=False,
        http_client=_DiscoveryOnly(discovery),
        http_cache=http_cache,
    )
    uid, now = "bench-user", int(datetime.datetime.now(datetime.UTC).timestamp())
    id_token = ".".join(
        [
            _b64({"alg": "none", "typ": "JWT"}),
            _b64(
                {
                    "iss": f"{authority}/v2.0",
                    "aud": client_id,
                    "sub": uid,
                    "oid": uid,
                    "tid": tenant,
                    "preferred_username": "dana@bench.example",
                    "iat": now,
                    "exp": now + 3600,
                }
            ),
            "",
        ]
    )
    token = "eyJ0eXAi.bench-" + secrets.token_urlsafe(32)
    cache = msal.SerializableTokenCache()
    cache.add(
        {
            "client_id": client_id,
            "scope": scopes,
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "grant_type": "authorization_code",
            "response": {
                "token_type": "Bearer",
                "access_token": token,
                "refresh_token": "bench-rt-" + secrets.token_urlsafe(16),
                "id_token": id_token,
                "client_info": _b64({"uid": uid, "utid": tenant}),
                "expires_in": 3600,
                "scope": " ".join(scopes),
            },
        }
    )
    (folder / "token_cache.json").write_text(cache.serialize())
    with open(folder / "http_cache.pickle", "wb") as f:
        pickle.dump(http_cache, f)
    (folder / "config.json").write_text(
        json.dumps({"client_id": client_id, "authority": authority, "scopes": scopes})
    )
    return folder, token


def _peer(
    name: str, script: str, build: Callable[[Path], tuple[Path, str]], work: Path
) -> Command:
    argv = [PY, str(PEERS / script)]
    try:
        path, token = build(work)
    except ImportError as exc:
        return Command(
            name,
            argv,
            "",
            failure=f"not installed ({exc.name}): pip install -e '.[bench]'",
        )
    return Command(
        name,
        [*argv, str(path)],
        token,
        check_argv=[*argv, str(path), "--no-network"],
    )


def _check(command: Command, env: dict[str, str]) -> None:
    """One run with the network refused (peers), then one plain: both must print
    the expected token. A failure replaces the figures with what went wrong."""
    for argv in filter(None, (command.check_argv, command.argv)):
        run = run_timed(argv, env, timeout=TIMEOUT)
        if run.timed_out:
            command.failure = (
                f"FAILED: no answer within {TIMEOUT:g} s (a network attempt?)"
            )
        elif run.returncode != 0 or run.stdout.strip() != command.expect:
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            command.failure = f"FAILED (exit {run.returncode}): {last[:160]}"
        if command.failure:
            log(f"{command.name}: {command.failure}")
            return


def run(quick: bool) -> Section:
    section = Section("token_startup")
    rounds, warmup = (5, 1) if quick else (30, 3)
    with scratch("startup") as work:
        home = work / "home"
        with Emulator.running() as emu:
            ours_token = login_into(home, emu.url)
        # The emulator is gone: a refresh attempt now would fail loudly.
        env = child_env(LOOPBACK_LOGIN_HOME=str(home))
        commands = [
            Command("`python -c pass` (floor)", [PY, "-c", "pass"], ""),
            Command("`loopback-login token`", [SCRIPT, "token"], ours_token),
            Command(
                "`python -m loopback_login token`",
                [PY, "-m", "loopback_login", "token"],
                ours_token,
            ),
            _peer(
                "google-auth (`Credentials.from_authorized_user_file`)",
                "google_token.py",
                _google_file,
                work,
            ),
            _peer(
                "MSAL (`acquire_token_silent`)",
                "msal_token.py",
                _msal_folder,
                _mkdir(work / "msal"),
            ),
        ]
        for command in commands:
            if not command.failure:
                _check(command, env)
        live = [c for c in commands if not c.failure]
        times: dict[str, list[float]] = {c.name: [] for c in live}
        log(
            f"token_startup: {warmup} warm-up + {rounds} rounds of {len(live)} commands"
        )
        for index in range(warmup + rounds):
            shift = index % len(live)
            for command in live[shift:] + live[:shift]:
                result: Run = run_timed(command.argv, env, timeout=TIMEOUT)
                if result.returncode != 0 or result.stdout.strip() != command.expect:
                    raise RuntimeError(f"{command.name} failed: {result.stderr[-300:]}")
                if index >= warmup:
                    times[command.name].append(result.wall)

    for command in commands:
        if command.failure:
            section.row(command.name, text=command.failure)
        else:
            section.row(command.name, times[command.name])
    floor, console, module = (times.get(c.name, []) for c in commands[:3])
    for label, ours in (("`loopback-login token`", console), ("`python -m`", module)):
        ratios = [o / f for o, f in zip(ours, floor, strict=True)]
        ok = median(ratios) <= FLOOR_GOAL
        section.row(
            f"{label} ÷ floor",
            ratios,
            unit="x",
            goal=f"≤ {FLOOR_GOAL:g}{TIMES}: {verdict(ok)}",
        )
    section.row(
        "`loopback-login token` - floor (its own work)",
        [o - f for o, f in zip(console, floor, strict=True)],
    )
    for command in commands[3:]:
        label = command.name.split(" (")[0]
        if command.failure:
            section.row(
                f"{label} ÷ ours",
                text="no figure",
                goal=f"≥ {PEER_GOAL:g}{TIMES}: **MISS** (peer failed)",
            )
            continue
        ratios = [p / o for p, o in zip(times[command.name], console, strict=True)]
        ok = median(ratios) >= PEER_GOAL
        section.row(
            f"{label} ÷ ours (console script)",
            ratios,
            unit="x",
            goal=f"≥ {PEER_GOAL:g}{TIMES}: {verdict(ok)}",
        )
    section.notes += [
        "each figure is the wall time of one new process (spawn to exit, output "
        "checked), a valid token cached; ratios are taken within each round.",
        "peers: google-auth reads an authorized-user file it wrote itself (`to_json`) "
        "and prints `creds.token` when `creds.valid`; MSAL loads a "
        "`SerializableTokenCache` and its persisted `http_cache` (its documented way "
        "for a CLI to skip the authority's discovery request) for a made-up authority "
        "with `instance_discovery=False`, then `acquire_token_silent`. Each peer was "
        "first run once with every socket call refused, and printed its token.",
    ]
    return section


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


if __name__ == "__main__":
    standalone(run)
