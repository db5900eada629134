"""``emulator`` and ``demo``: RingCentral's OAuth endpoints on this machine, and a
whole session's life (login, API call, refresh, logout) against them."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
import click

from loopback_login.cli.common import drive, say, setup, summary

__all__ = ["demo", "emulator"]

if TYPE_CHECKING:
    from loopback_login.loopback.browser import BrowserOpener


class _Fallback:
    """The person's browser; if it cannot be opened, ``fallback`` after ``switch``."""

    def __init__(
        self,
        primary: BrowserOpener,
        fallback: BrowserOpener,
        switch: Callable[[], None],
    ) -> None:
        self._primary = primary
        self._fallback = fallback
        self._switch = switch

    async def open(self, url: str) -> bool:
        if await self._primary.open(url):
            return True
        self._switch()
        return await self._fallback.open(url)


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8790,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--clients",
    "clients_file",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON file of registered clients (replaces the demo clients).",
)
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Skip the sign-in and consent pages (headless use).",
)
@click.option(
    "--access-token-ttl",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Seconds an access token lives.",
)
@click.option(
    "--refresh-token-ttl",
    type=click.IntRange(min=1),
    default=604800,
    show_default=True,
    help="Seconds a refresh token lives.",
)
@click.option(
    "--session-ttl",
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="An absolute session timeout, as an organisation may set: no token "
    "outlives the login by more.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    metavar="N",
    help="Auth requests a minute per client, as RingCentral's 5.",
)
@click.option("--send-iss", is_flag=True, help="Add iss to redirects (RFC 9207).")
@click.option(
    "--issue-jwt",
    is_flag=True,
    help="Print a new JWT credential of the demo user on stdout and exit.",
)
@click.option(
    "--jwt-ttl",
    type=click.IntRange(min=1),
    metavar="SECONDS",
    help="With --issue-jwt: the credential expires after this long [default: never].",
)
def emulator(
    port: int, clients_file: str | None, auto_approve: bool, access_token_ttl: int,
    refresh_token_ttl: int, session_ttl: int | None, rate_limit: int | None,
    send_iss: bool, issue_jwt: bool, jwt_ttl: int | None,
) -> None:  # fmt: skip
    """Run a local emulator of RingCentral's OAuth endpoints (for testing only)."""
    from loopback_login.emulator import (
        DEMO_CLIENT_ID,
        DEMO_CONFIDENTIAL_CLIENT_ID,
        DEMO_CONFIDENTIAL_SECRET,
        DEMO_JWT,
        EmulatorConfig,
        load_clients_file,
        serve,
    )

    if issue_jwt:
        import time

        from loopback_login.emulator import issue_jwt as make_jwt
        from loopback_login.emulator.config import DEMO_USER

        # Signed with the emulator's fixed, public key: any emulator accepts it.
        click.echo(make_jwt(DEMO_USER, now=time.time(), ttl=jwt_ttl))
        return

    options: dict[str, Any] = {}
    if clients_file:
        options["clients"] = load_clients_file(clients_file)
    config = EmulatorConfig(
        auto_approve=auto_approve, access_token_ttl=access_token_ttl,
        refresh_token_ttl=refresh_token_ttl, session_ttl=session_ttl,
        rate_limit=rate_limit, send_iss=send_iss, **options,
    )  # fmt: skip

    async def go() -> None:
        runner, base_url = await serve(config, port=port)
        try:
            client_ids = ", ".join(c.client_id for c in config.clients)
            click.echo(base_url)
            say(
                f"RingCentral OAuth emulator (for local testing only) at {base_url}\n"
                f"  clients: {client_ids}\n"
                f"  sign in as: {config.users[0].username} / {config.users[0].password}\n"
                f"Try: loopback-login login --server {base_url} --client-id "
                f"{DEMO_CLIENT_ID if not clients_file else config.clients[0].client_id}\n"
                f"  JWT credential of {config.users[0].username} (emulator only):\n"
                f"    {DEMO_JWT}\n"
                f"  with it, no browser: LOOPBACK_LOGIN_CLIENT_SECRET={DEMO_CONFIDENTIAL_SECRET} "
                f"LOOPBACK_LOGIN_JWT=… loopback-login login --server {base_url} "
                f"--client-id {DEMO_CONFIDENTIAL_CLIENT_ID} --grant jwt\n"
                "Press Ctrl-C to stop."
            )
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    drive(go())


@click.command()
@click.option(
    "--method",
    type=click.Choice(["get", "post"]),
    default="get",
    show_default=True,
    help="Authorize by GET or by a POSTed form.",
)
@click.option(
    "--headless",
    is_flag=True,
    help="Do not open a browser: auto-approve and let an HTTP client play it.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the sign-in.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log each step on stderr.")
def demo(method: str, headless: bool, timeout: float, verbose: bool) -> None:
    """Log in against the built-in emulator, call the API, refresh, and log out."""
    from loopback_login.emulator import (
        DEMO_CLIENT_ID,
        DEMO_CONFIDENTIAL_CLIENT_ID,
        DEMO_CONFIDENTIAL_SECRET,
        STATE,
        EmulatorConfig,
        serve,
    )
    from loopback_login.loopback.browser import (
        FailingBrowser,
        NoBrowser,
        SystemBrowser,
    )
    from loopback_login.loopback.config import LoopbackConfig
    from loopback_login.loopback.http_browser import HttpBrowser
    from loopback_login.loopback.launch import choose_opener
    from loopback_login.protocol.provider import ProviderConfig
    from loopback_login.session.orchestrator import LoginSession

    chosen, why = choose_opener(no_browser=headless)
    has_browser = not isinstance(chosen, NoBrowser) and (
        not isinstance(chosen, SystemBrowser) or SystemBrowser.available()
    )
    if why:
        say(why)
    with tempfile.TemporaryDirectory(prefix="loopback-login-demo-") as home:
        store = setup(verbose, home)

        async def go() -> None:
            runner, base = await serve(EmulatorConfig(auto_approve=not has_browser))
            state = runner.app[STATE]

            def go_headless() -> None:
                # The person cannot sign in without a browser: the emulator does.
                state.config = dataclasses.replace(state.config, auto_approve=True)
                say(
                    "   The browser could not be opened: going on headless, as with "
                    "--headless (the emulator approves the sign-in itself)."
                )

            opener: BrowserOpener = (
                _Fallback(chosen, HttpBrowser(), go_headless)
                if has_browser
                else HttpBrowser()
            )
            say(f"1. Started the RingCentral OAuth emulator at {base}.")
            if has_browser:
                say("2. Sign in with the browser: demo@example.com, password demo.")
            else:
                say(
                    "2. No browser found on this machine (or --headless): the emulator "
                    "approves the sign-in itself and an HTTP client plays the browser."
                )
            provider = ProviderConfig(
                server=base, client_id=DEMO_CLIENT_ID, method=method,  # type: ignore[arg-type]
                scope="openid profile email ReadAccounts",
            )  # fmt: skip
            session = LoginSession(
                provider, profile="demo", store=store, opener=opener, notify=say,
                loopback=LoopbackConfig(timeout=timeout),
            )  # fmt: skip
            try:
                async with session:
                    tokens = await session.login()
                    entry = session.entry()
                    assert entry is not None
                    say("3. " + summary(entry).replace("\n", "\n   "))
                    async with (
                        aiohttp.ClientSession() as http,
                        http.get(
                            f"{base}/restapi/v1.0/account/~/extension/~",
                            headers={"Authorization": f"Bearer {tokens.access_token}"},
                        ) as response,
                    ):
                        me = await response.json()
                    say(
                        f"4. Called the API with the token: HTTP {response.status}, "
                        f"extension {me.get('id')} is {me.get('name')}."
                    )
                    fresh = await session.get_token(min_valid=math.inf)
                    say(
                        "5. Refreshed the token: the emulator rotated the refresh token "
                        "(the old one is now spent)."
                    )
                    await session.logout()
                    revoked = not state.is_session_active(fresh.access_token)
                    say(
                        f"6. Logged out: the session was revoked at the server "
                        f"({'confirmed' if revoked else 'NOT confirmed'}) and removed "
                        "from disk."
                    )
                # Scripts and CI, where no person is present: the user's JWT
                # credential instead of the browser.
                robot = LoginSession(
                    ProviderConfig(
                        server=base, client_id=DEMO_CONFIDENTIAL_CLIENT_ID,
                        client_secret=DEMO_CONFIDENTIAL_SECRET, grant="jwt",
                    ),
                    profile="demo-jwt", store=store, opener=FailingBrowser(),
                    notify=say, jwt=state.issue_jwt(),
                )  # fmt: skip
                async with robot:
                    unattended = await robot.login()
                    await robot.logout()
                revoked = not state.is_session_active(unattended.access_token)
                say(
                    "7. With no person present (CI, cron): exchanged the demo user's "
                    "JWT credential for a session, with no browser, then revoked it "
                    f"({'confirmed' if revoked else 'NOT confirmed'})."
                )
            finally:
                await runner.cleanup()
            say(
                "\nThat is the whole life of a session. With a real RingCentral app:\n"
                "  loopback-login login --client-id YOUR_CLIENT_ID "
                "--redirect-uri http://localhost:8400/callback\n"
                '  curl -H "Authorization: Bearer $(loopback-login token)" '
                "https://platform.ringcentral.com/restapi/v1.0/account/~/extension/~\n"
                "And with a JWT credential (no browser):\n"
                "  LOOPBACK_LOGIN_CLIENT_SECRET=… loopback-login login --client-id "
                "YOUR_CLIENT_ID --jwt-file user.jwt"
            )

        drive(go())
