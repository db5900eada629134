"""Secrets hygiene: no token, code, verifier, client secret or assertion ever shows in
output (verbose included), logs, reprs, exception messages or a child's argv.

The CLI test runs every command with --verbose, then searches what each printed for
every secret the run used, read from the cache file and from the emulator's memory.
Only `token`'s stdout may carry the access token.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import socket
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_plus

import aiohttp
import pytest
from helpers import (
    REDIRECT,
    Cli,
    Emulator,
    EmulatorFactory,
    SessionFactory,
    ThreadedEmulator,
    expire,
    pkce_pair,
    query_of,
)

from loopback_login.cli.common import SECRET_ENV
from loopback_login.clock import FrozenClock
from loopback_login.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CONFIDENTIAL_CLIENT_ID,
    DEMO_CONFIDENTIAL_SECRET,
    STATE,
    EmulatorClient,
    EmulatorConfig,
)
from loopback_login.emulator.config import (
    DEMO_CLIENT,
    DEMO_CONFIDENTIAL_CLIENT,
    DEMO_REDIRECT_URIS,
)
from loopback_login.errors import LoopbackLoginError
from loopback_login.loopback.browser import FailingBrowser
from loopback_login.protocol.pkce import PkcePair
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.token_client import TokenClient
from loopback_login.protocol.tokens import TokenSet
from loopback_login.protocol.wiring import Wiring
from loopback_login.session.entry import ProfileEntry

HERE = Path(__file__).parent
JWT_CLIENT_ID = "loopback-login-demo-jwt"
JWT_SECRET = "client-secret-jwt-for-the-secrets-test-0123456789"
JWT_CLIENT = EmulatorClient(
    client_id=JWT_CLIENT_ID,
    client_secret=JWT_SECRET,
    redirect_uris=DEMO_REDIRECT_URIS,
    auth_method="client_secret_jwt",
)
CLIENTS = (DEMO_CLIENT, DEMO_CONFIDENTIAL_CLIENT, JWT_CLIENT)
# Request fields whose values are secrets, wherever they were sent.
SECRET_FIELDS = (
    "code", "code_verifier", "refresh_token", "token", "client_assertion",
    "client_secret", "access_token", "id_token",
)  # fmt: skip

# Plays the browser for $BROWSER, after writing down its argv and environment.
BROWSER_SPY = """
import json, os, sys
sys.path.insert(0, {tests!r})
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": sys.argv, "env": dict(os.environ)}}) + "\\n")
from browser_cmd import main
sys.exit(main(sys.argv[1]))
"""

VARIANTS = {
    "public": (DEMO_CLIENT_ID, None, ()),
    "client_secret_basic": (DEMO_CONFIDENTIAL_CLIENT_ID, DEMO_CONFIDENTIAL_SECRET, ()),
    "client_secret_jwt": (
        JWT_CLIENT_ID,
        JWT_SECRET,
        ("--client-auth", "client_secret_jwt"),
    ),
}


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadedEmulator]:
    with ThreadedEmulator(
        EmulatorConfig(auto_approve=True, clients=CLIENTS)
    ) as started:
        yield started


def basic_header(client_id: str, secret: str) -> str:
    """The credentials part of the Basic header the client sends (RFC 6749 §2.3.1)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    return base64.b64encode(pair.encode()).decode()


def emulator_secrets(emu: ThreadedEmulator) -> list[tuple[str, str]]:
    """Every secret the emulator issued or was sent, as (value, what it is)."""

    def collect() -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        state = emu.app[STATE]  # type: ignore[index]
        for request in state.requests:
            for name in SECRET_FIELDS:
                if request.params.get(name):
                    found.append(
                        (request.params[name], f"{name} sent to {request.endpoint}")
                    )
        for session in state.sessions:
            found.append((session.access_token, "access token (emulator)"))
            if session.refresh_token:
                found.append((session.refresh_token, "refresh token (emulator)"))
        return found

    return list(emu.call(collect))


def entry_secrets(cli: Cli) -> list[tuple[str, str]]:
    path = cli.home / "default.json"
    if not path.exists():
        return []
    tokens = json.loads(path.read_text())["tokens"]
    return [
        (tokens[name], f"{name} (cache)")
        for name in ("access_token", "refresh_token", "id_token")
        if tokens.get(name)
    ]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_no_command_prints_a_secret(
    tmp_path: Path, emu: ThreadedEmulator, variant: str
) -> None:
    """login, token (cached and refreshing), status, status --json and logout, all with
    --verbose, print no secret they used; `token` prints only its access token; the
    browser's argv holds the authorize URL, and neither it nor the browser's
    environment holds a secret."""
    client_id, secret, options = VARIANTS[variant]
    cli = Cli(tmp_path / "home")
    argv_log = tmp_path / "browser-argv.jsonl"
    spy = tmp_path / "browser_spy.py"
    spy.write_text(BROWSER_SPY.format(tests=str(HERE), log=str(argv_log)))
    cli.env["BROWSER"] = f"{sys.executable} {spy} %s"
    if secret is not None:
        cli.env[SECRET_ENV] = secret
    found: list[tuple[str, str]] = []  # (value, what it is); a value may recur
    runs: list[tuple[str, str, str, str | None]] = []  # command, stdout, stderr, token

    def run(*args: str) -> None:
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        found.extend(entry_secrets(cli))
        printed = None
        if args[0] == "token":
            printed = cli.entry()["tokens"]["access_token"]
            assert printed in result.stdout, args
        runs.append((" ".join(args), result.stdout, result.stderr, printed))

    run(
        "login", "--verbose", "--server", emu.url, "--client-id", client_id,
        "--scope", "openid profile email ReadAccounts", "--timeout", "20", *options,
    )  # fmt: skip
    run("token", "--verbose")
    run("token")  # the fast path for a cached token
    run("token", "--format", "json", "--verbose")
    expire(cli)
    run("token", "--verbose")  # refreshes
    run("status", "--verbose")
    run("status", "--json", "--verbose")
    run("logout", "--verbose")

    found.extend(emulator_secrets(emu))
    if secret is not None:
        found.append((secret, "client secret"))
        found.append((basic_header(client_id, secret), "Basic credentials"))
    secrets = dict(found)
    kinds = {kind for _, kind in found}
    # The search is only as good as what it searches for: all of it must be there.
    for kind in (
        "code sent to token",
        "code_verifier sent to token",
        "refresh_token sent to token",
        "id_token (cache)",
        "token sent to revoke",
    ):
        assert kind in kinds, (kind, kinds)  # fmt: skip
    if variant == "client_secret_jwt":
        assert "client_assertion sent to token" in kinds
    assert sum(kind.startswith("access_token") for kind in kinds) >= 1

    leaks = [
        (command, stream, kind)
        for command, out, err, printed in runs
        for value, kind in secrets.items()
        for stream, text in (("stdout", out), ("stderr", err))
        if value in text and not (stream == "stdout" and value == printed)
    ]
    assert leaks == []
    token_runs = [r for r in runs if r[0].startswith("token")]
    assert len({printed for *_, printed in token_runs}) == 2  # before and after refresh

    (child,) = [json.loads(line) for line in argv_log.read_text().splitlines()]
    # The browser is handed the short local URL: it carries nothing at all.
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", child["argv"][-1])
    seen = " ".join(child["argv"]) + "\n" + "\n".join(child["env"].values())
    assert "LOOPBACK_LOGIN_HOME" in child["env"]  # the environment was written down
    assert [kind for value, kind in secrets.items() if value in seen] == []


def test_reprs_hide_secrets() -> None:
    """The repr of tokens, an entry, a PKCE pair and a provider config names no secret."""
    access, refresh, id_token, secret = (
        "access-token-value-123", "refresh-token-value-456",
        "id.token.value-789", "client-secret-value-0ab",
    )  # fmt: skip
    tokens = TokenSet.from_response(
        {"access_token": access, "refresh_token": refresh, "id_token": id_token,
         "expires_in": 60}, now=0.0,
    )  # fmt: skip
    entry = ProfileEntry(
        profile="work",
        settings={"server": "https://platform.ringcentral.com", "client_id": "c"},
        tokens=tokens,
        saved_at=0.0,
    )
    pair = PkcePair.generate()
    provider = ProviderConfig(
        server="https://platform.ringcentral.com", client_id="c", client_secret=secret
    )
    shown = [repr(tokens), repr(entry), repr(pair), repr(provider),
             repr(provider.with_secret(secret)), str(tokens), str(entry), str(provider)]  # fmt: skip
    for text in shown:
        for value in (access, refresh, id_token, secret, pair.code_verifier):
            assert value not in text, (value, text)
    assert "work" in repr(entry)  # the repr still says what it is


def every_word_of(exc: BaseException) -> str:
    """Message, repr, args, hint and the whole chained traceback of ``exc``."""
    return "\n".join(
        [str(exc), repr(exc), repr(exc.args), getattr(exc, "hint", None) or "",
         *traceback.format_exception(exc)]
    )  # fmt: skip


async def test_failed_token_requests_name_no_secret(
    start_emulator: EmulatorFactory, http: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    """Errors from refused exchanges, refreshes and revocations, and from an unreachable
    server, carry none of the code, verifier, refresh token, secret or assertion sent."""
    emu = await start_emulator(clients=CLIENTS)
    verifier, challenge = pkce_pair()
    async with http.get(
        f"{emu.url}/restapi/oauth/authorize",
        params={"client_id": DEMO_CLIENT_ID, "response_type": "code",
                "redirect_uri": REDIRECT, "state": "st",
                "code_challenge": challenge, "code_challenge_method": "S256"},
        allow_redirects=False,
    ) as response:  # fmt: skip
        code = query_of(response.headers["Location"])["code"]
    wrong_verifier, refresh = "v" * 64, "refresh-token-that-is-not-known"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]

    def client(client_id: str, secret: str | None = None, **kw: str) -> TokenClient:
        config = ProviderConfig(
            server=kw.get("server", emu.url), client_id=client_id, client_secret=secret,
            client_auth=kw.get("auth"),  # type: ignore[arg-type]
        )  # fmt: skip
        # The emulator's clock: assertions must not look expired to it.
        return TokenClient(config, Wiring(http, clock=clock, timeout=5))

    attempts = [
        client(DEMO_CLIENT_ID).exchange_code(
            code, redirect_uri=REDIRECT, code_verifier=wrong_verifier
        ),
        client(DEMO_CONFIDENTIAL_CLIENT_ID, "wrong-secret-value-1").refresh(refresh),
        client(JWT_CLIENT_ID, "wrong-jwt-secret-value-2", auth="client_secret_jwt").refresh(
            refresh
        ),
        client(JWT_CLIENT_ID, JWT_SECRET, auth="client_secret_jwt").revoke(refresh),
        client(
            DEMO_CONFIDENTIAL_CLIENT_ID, DEMO_CONFIDENTIAL_SECRET,
            server=f"http://127.0.0.1:{dead_port}",
        ).refresh(refresh),
    ]  # fmt: skip
    errors: list[LoopbackLoginError] = []
    for attempt in attempts:
        try:
            await asyncio.wait_for(attempt, 10)
        except LoopbackLoginError as exc:
            errors.append(exc)
    # Revoking an unknown token is a success (RFC 7009); the others all fail.
    assert [type(e).__name__ for e in errors] == [
        "InvalidGrantError",
        "TokenEndpointError",
        "TokenEndpointError",
        "NetworkError",
    ]
    secrets = {
        code: "code", verifier: "verifier", wrong_verifier: "verifier sent",
        refresh: "refresh token", "wrong-secret-value-1": "client secret",
        "wrong-jwt-secret-value-2": "client secret", JWT_SECRET: "client secret",
        DEMO_CONFIDENTIAL_SECRET: "client secret",
        basic_header(DEMO_CONFIDENTIAL_CLIENT_ID, "wrong-secret-value-1"): "Basic",
    }  # fmt: skip
    for request in emu.app[STATE].requests:
        if request.params.get("client_assertion"):
            secrets[request.params["client_assertion"]] = "client assertion"
    assert "client assertion" in secrets.values()
    leaks = [
        (type(exc).__name__, kind)
        for exc in errors
        for value, kind in secrets.items()
        if value in every_word_of(exc)
    ]
    assert leaks == []


async def test_library_logs_no_secret_at_debug(
    make_session: SessionFactory,
    emulator: Emulator,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A confidential client's login, refresh and logout log nothing secret at DEBUG,
    in the library or in the emulator."""
    caplog.set_level(logging.DEBUG)
    options = {"client_secret": DEMO_CONFIDENTIAL_SECRET}
    session = make_session(client_id=DEMO_CONFIDENTIAL_CLIENT_ID, **options)
    first = await session.login()
    clock.advance(3500)
    later = make_session(with_provider=False, opener=FailingBrowser(), **options)
    second = await later.get_token()
    await make_session(with_provider=False, **options).logout()
    secrets = {
        DEMO_CONFIDENTIAL_SECRET: "client secret",
        basic_header(DEMO_CONFIDENTIAL_CLIENT_ID, DEMO_CONFIDENTIAL_SECRET): "Basic",
    }
    for tokens in (first, second):
        for name in ("access_token", "refresh_token", "id_token"):
            if getattr(tokens, name):
                secrets[getattr(tokens, name)] = name
    for request in emulator.app[STATE].requests:
        for name in SECRET_FIELDS:
            if request.params.get(name):
                secrets[request.params[name]] = name
    assert {"code", "code_verifier", "id_token"} <= set(secrets.values())
    assert "listening for the callback" in caplog.text  # the logs were captured
    assert [kind for value, kind in secrets.items() if value in caplog.text] == []


async def test_a_new_login_sends_its_secret_only_to_its_own_server(
    start_emulator: EmulatorFactory, make_session: SessionFactory
) -> None:
    """Replacing a session of another client at another server revokes it without
    handing that server the new client's secret."""
    sent: list[tuple[str, str]] = []  # (URL, Authorization header) of every request

    async def on_request_start(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        sent.append((str(params.url), params.headers.get("Authorization", "")))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    old = await start_emulator(clients=CLIENTS)
    new = await start_emulator(clients=CLIENTS)
    async with aiohttp.ClientSession(trace_configs=[trace]) as http:
        await make_session(
            http=http, server=old.url, client_id=DEMO_CONFIDENTIAL_CLIENT_ID,
            client_secret=DEMO_CONFIDENTIAL_SECRET,
        ).login()  # fmt: skip
        await make_session(
            http=http, server=new.url, client_id=JWT_CLIENT_ID,
            client_secret=JWT_SECRET, client_auth="client_secret_jwt",
        ).login()  # fmt: skip
    assert any(url.startswith(new.url) for url, _ in sent)  # the trace saw requests
    new_secret_as_basic = basic_header(DEMO_CONFIDENTIAL_CLIENT_ID, JWT_SECRET)
    leaked = [url for url, auth in sent if new_secret_as_basic in auth]
    assert leaked == []
