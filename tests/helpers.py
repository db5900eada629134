"""The tests' own tools, in one place: the emulator in the three forms tests run it
(in the test's event loop, on a thread of its own for CLI tests, behind a protocol
client), the CLI as a real process, and small protocol helpers.

Test modules import from here, never from each other or from conftest (which only
declares fixtures).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import os
import queue
import re
import secrets
import ssl
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from loopback_login.emulator import (
    DEMO_CLIENT_ID,
    FAULTS,
    STATE,
    EmulatorConfig,
    EmulatorState,
    Faults,
    serve,
)
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.http_browser import HttpBrowser
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.session.orchestrator import LoginSession
from loopback_login.store.file_store import FileTokenStore


@dataclass
class Emulator:
    """A running emulator in the test's event loop: its base URL and its app."""

    url: str
    app: web.Application

    @property
    def state(self) -> EmulatorState:
        return self.app[STATE]

    @property
    def faults(self) -> Faults:
        return self.app[FAULTS]


EmulatorFactory = Callable[..., Awaitable[Emulator]]


SessionFactory = Callable[..., LoginSession]


class ThreadedEmulator:
    """An emulator on its own event loop in a thread, for sync CLI tests."""

    def __init__(
        self, config: EmulatorConfig, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._ssl_context = ssl_context
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(config,), daemon=True)
        self.url = ""
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None

    def _run(self, config: EmulatorConfig) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self._runner, self.url = await serve(config, ssl_context=self._ssl_context)
            self.app = self._runner.app
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def __enter__(self) -> ThreadedEmulator:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the emulator did not start")
        return self

    def call(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` on the emulator's loop (its state is not thread-safe)."""
        future: asyncio.Future[Any] = asyncio.run_coroutine_threadsafe(
            _call(func), self.loop
        )  # type: ignore[arg-type]
        return future.result(10)

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


async def _call(func: Callable[[], Any]) -> Any:
    return func()


HERE = Path(__file__).parent


EmulatorStarter = Callable[..., ThreadedEmulator]


class Cli:
    """Runs ``python -m loopback_login`` with a private cache folder."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "LOOPBACK_LOGIN_HOME": str(home),
            "LOOPBACK_LOGIN_CONFIG": str(home.parent / "config.toml"),
            "BROWSER": f"{sys.executable} {HERE / 'browser_cmd.py'} %s",
            "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)]),
        }

    def __call__(
        self, *args: str, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "loopback_login", *args],
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    @property
    def config_file(self) -> Path:
        return Path(self.env["LOOPBACK_LOGIN_CONFIG"])

    def entry(self, profile: str = "default") -> dict[str, Any]:
        return json.loads((self.home / f"{profile}.json").read_text())


def login(
    cli: Cli, emu: ThreadedEmulator, *args: str
) -> subprocess.CompletedProcess[str]:
    result = cli(
        "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
        "--scope", "openid profile email ReadAccounts", "--timeout", "20", *args,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def expire(cli: Cli, profile: str = "default") -> None:
    """Make the cached access token look expired (the server still knows it)."""
    path = cli.home / f"{profile}.json"
    entry = json.loads(path.read_text())
    entry["tokens"]["expires_at"] = time.time() - 1
    path.write_text(json.dumps(entry))


def sign_in(emu: ThreadedEmulator, home: Path) -> None:
    """A real login against the emulator, in-process (faster than a CLI run)."""

    async def go() -> None:
        provider = ProviderConfig(
            server=emu.url, client_id=DEMO_CLIENT_ID, scope="openid ReadAccounts"
        )
        async with LoginSession(
            provider,
            store=FileTokenStore(home),
            opener=HttpBrowser(),
            loopback=LoopbackConfig(timeout=10),
        ) as session:
            await session.login()

    asyncio.run(go())


def snapshot(home: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the cache folder: its bytes and mode."""
    return {
        p.name: (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in sorted(home.iterdir())
    }


def assert_one_error_line(stderr: str, *expected: str) -> None:
    """stderr is exactly an `error: …` line naming the cause, then an indented hint."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("error: "), lines
    for text in expected:
        assert text in lines[0], lines
    assert lines[1].startswith("  "), lines
    assert lines[1].strip(), lines


URL_PATTERN = re.compile(r"http://\S+/restapi/oauth/authorize\?\S+")


WAIT = 15.0  # seconds: the bound on every wait for the child process


class LoginProcess:
    """`loopback-login login --no-browser` (or, with ``no_browser=False``, with
    the browser the environment gives) with stdin to paste into and stderr read
    line by line in a thread, so every wait has a deadline."""

    def __init__(
        self, cli: Cli, emu: ThreadedEmulator, *args: str, no_browser: bool = True
    ) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "loopback_login", "login",
                *(["--no-browser"] if no_browser else []),
                "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
                "--timeout", "30", *args,
            ],
            env=cli.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.stderr = ""
        self.stdout = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, True)),
            threading.Thread(target=self._pump, args=(self.proc.stdout, False)),
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: object, is_err: bool) -> None:
        for line in stream:  # type: ignore[attr-defined]
            if is_err:
                self._lines.put(line)
            else:
                self.stdout += line
        if is_err:
            self._lines.put(None)

    def wait_for(self, pattern: str | re.Pattern[str]) -> re.Match[str]:
        """Read stderr until ``pattern`` matches it; fail after WAIT seconds."""
        deadline = time.monotonic() + WAIT
        while not (found := re.search(pattern, self.stderr)):
            left = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = None if left <= 0 else ""
            if line is None:
                raise AssertionError(f"no {pattern!r} on stderr: {self.stderr!r}")
            self.stderr += line
        return found

    def authorize_url(self) -> str:
        return self.wait_for(URL_PATTERN).group(0)

    def paste(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        """Wait for the exit; all of stderr is in ``self.stderr`` afterwards."""
        code = self.proc.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)
        while not self._lines.empty():
            self.stderr += self._lines.get_nowait() or ""
        return code

    def close(self) -> None:
        """Kill the process if it still runs; the readers end at its pipes' EOF."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


REDIRECT = "http://127.0.0.1:53682/callback"


def pkce_pair(method: str = "S256") -> tuple[str, str]:
    """A (verifier, challenge) pair per RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An RFC 6749 §2.3.1 Authorization header (form-encode, then base64)."""
    from urllib.parse import quote_plus

    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def query_of(location: str) -> dict[str, str]:
    """The single-valued query parameters of a redirect."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")
        for attr in ("src", "href"):
            if values.get(attr, "").startswith(("http:", "https:", "//")):
                self.external.append(values[attr])
        if tag == "link":
            self.external.append(values.get("href", ""))


def inputs_of(page: str) -> dict[str, str]:
    """The named inputs of a page's form(s), as a browser would submit them."""
    parser = _Inputs()
    parser.feed(page)
    return parser.fields


def external_resources(page: str) -> list[str]:
    """Anything a page would load from elsewhere (there should be nothing)."""
    parser = _Inputs()
    parser.feed(page)
    found = list(parser.external)
    found += re.findall(r"url\(|@import|<script[ >]", page)
    return found


@dataclass
class EmulatorDriver:
    """A test client bound to one emulator app, with protocol shortcuts."""

    client: TestClient[web.Request, web.Application]
    app: web.Application

    @property
    def state(self) -> EmulatorState:
        return self.app[STATE]

    @property
    def faults(self) -> Faults:
        return self.app[FAULTS]

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def authorize(
        self, method: str = "GET", **params: str
    ) -> aiohttp.ClientResponse:
        """An authorization request; redirects are not followed."""
        params = {
            "client_id": DEMO_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "st-1",
            **params,
        }
        params = {k: v for k, v in params.items() if v != "<omit>"}
        if method == "GET":
            return await self.client.get(
                "/restapi/oauth/authorize", params=params, allow_redirects=False
            )
        return await self.client.post(
            "/restapi/oauth/authorize", data=params, allow_redirects=False
        )

    async def code(self, **params: str) -> str:
        """A fresh code from an auto-approving emulator."""
        response = await self.authorize(**params)
        assert response.status == 302, await response.text()
        return query_of(response.headers["Location"])["code"]

    async def token(
        self, headers: dict[str, str] | None = None, /, **form: str
    ) -> aiohttp.ClientResponse:
        return await self.client.post(
            "/restapi/oauth/token", data=form, headers=headers or {}
        )

    async def login(self, scope: str = "ReadAccounts", **params: str) -> dict[str, Any]:
        """Authorize and redeem the code as the public demo client."""
        verifier, challenge = pkce_pair()
        code = await self.code(
            scope=scope,
            code_challenge=challenge,
            code_challenge_method="S256",
            **params,
        )
        response = await self.token(
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            client_id=DEMO_CLIENT_ID,
            code_verifier=verifier,
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def refresh(self, refresh_token: str) -> aiohttp.ClientResponse:
        return await self.token(
            grant_type="refresh_token",
            refresh_token=refresh_token,
            client_id=DEMO_CLIENT_ID,
        )

    async def me(self, access_token: str) -> aiohttp.ClientResponse:
        return await self.client.get(
            "/restapi/v1.0/account/~/extension/~",
            headers={"Authorization": f"Bearer {access_token}"},
        )


def redirect_of(authorize_url: str) -> str:
    """Play the browser once: GET the authorize URL and return where it redirects."""
    parts = urlsplit(authorize_url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=WAIT)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        response.read()
        assert response.status == 302, response.status
        location = response.getheader("Location")
    finally:
        conn.close()
    assert location is not None
    return location


def wait_until_blocked(proc: subprocess.Popen[str]) -> None:
    """Return once ``proc`` waits for a flock (it must not exit meanwhile)."""
    deadline = time.monotonic() + 20
    while not blocked_on_flock(proc.pid):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "it never waited for the lock"


def blocked_on_flock(pid: int) -> bool:
    """Whether ``pid`` waits for a flock (Linux lists waiters with "->")."""
    with open("/proc/locks") as locks:
        return any("->" in line and f" {pid} " in line for line in locks)


NOW = time.time()


ACCESS = "U0pDMTFQMDFQQVMwMHxBQUJ-access.token_value"


def entry_with(**tokens: Any) -> dict[str, Any]:
    """A whole valid entry, its tokens' fields replaced by ``tokens``."""
    base = {
        "access_token": ACCESS,
        "token_type": "bearer",
        "issued_at": NOW - 600,
        "expires_at": NOW + 3000,
        "refresh_token": None,
        "scope": "ReadAccounts",
        "extra": {},
    }
    return {
        "format": 1,
        "profile": "default",
        # Nothing listens on port 9 of 127.0.0.1: a refresh fails at once.
        "settings": {"server": "http://127.0.0.1:9", "client_id": "demo"},
        "tokens": {**base, **tokens},
        "saved_at": NOW - 600,
        "identity": None,
        "provider_keys": None,
        "dead": None,
    }


def write_entry(home: Path, entry: object) -> Path:
    home.mkdir(mode=0o700, exist_ok=True)
    path = home / "default.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(entry if isinstance(entry, str) else json.dumps(entry))
    return path


ME = "/restapi/v1.0/account/~/extension/~"


def api_count(emu: ThreadedEmulator, endpoint: str, **params: str) -> int:
    return int(emu.call(lambda: emu.app[STATE].count(endpoint, **params)))  # type: ignore[index]


def refreshes(emu: ThreadedEmulator) -> int:
    return api_count(emu, "token", grant_type="refresh_token")


def refresh_elsewhere(cli: Cli) -> str:
    """Another process refreshes the profile (it reports the cached token refused,
    which forces one refresh); its new token."""
    current = cli("token")
    assert current.returncode == 0, current.stderr
    done = cli("token", "--rejected", current.stdout.strip())
    assert done.returncode == 0, done.stderr
    assert done.stdout != current.stdout
    return done.stdout.strip()


def end_access_token_at_server(emu: ThreadedEmulator) -> None:
    """The server stops taking the cached access token (clock skew, say), while the
    entry still looks valid and the refresh token still works."""

    def expire() -> None:
        for session in emu.app[STATE].sessions:  # type: ignore[index]
            session.access_expires_at = 0.0

    emu.call(expire)


# -- the CLI under an audit hook -------------------------------------------------


class AuditedCli(Cli):
    """The CLI run under tests/audit_run.py: what each run bound, started and wrote."""

    def audited(
        self, log: Path, *args: str, **extra_env: str
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        result = subprocess.run(
            [sys.executable, str(HERE / "audit_run.py"), str(log), *args],
            env={**self.env, **extra_env},
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        return result, json.loads(log.read_text())


def end_session(cli: Cli, emu: ThreadedEmulator) -> None:
    """The server ends the session (its refresh token is dead); the cached access
    token looks expired."""
    access = cli.entry()["tokens"]["access_token"]

    def revoke() -> None:
        state = emu.app[STATE]  # type: ignore[index]
        session = state.session_by_any(access)
        state.revoke_session(session.session_id)

    emu.call(revoke)
    expire(cli)
