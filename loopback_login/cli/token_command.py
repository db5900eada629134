"""``token``: print a valid access token, refreshing it if needed.

A valid cached token is printed by :mod:`.fast` before click is loaded; this is the
full command: refresh, ``--rejected``, ``--login``, a JWT profile's new session.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from loopback_login.cli.common import (
    Invocation,
    Seconds,
    common,
    drive,
    http_timeout_option,
    jwt_options,
    read_jwt,
    read_secret,
    say,
    secret_options,
    setup,
    stdin_lines,
    warn_if_ending,
)
from loopback_login.cli.fast import FORMATS, format_token
from loopback_login.cli.help import GroupedCommand
from loopback_login.cli.login_options import build_provider
from loopback_login.cli.settings import layered
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.session.entry import load_entry
from loopback_login.session.orchestrator import LoginSession

__all__ = ["token"]

TOKEN_EXAMPLES = """\b
Examples:
  curl -H "$(loopback-login token --format header)" https://platform.ringcentral.com/restapi/v1.0/account/~
  eval "$(loopback-login token -p work --format env)"
  loopback-login token --login --min-valid 600
"""


@click.command(cls=GroupedCommand, epilog=TOKEN_EXAMPLES)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="token",
    show_default=True,
    help="The token alone, an Authorization header, JSON, shell code for eval "
    "(env: export RINGCENTRAL_ACCESS_TOKEN=… and RINGCENTRAL_SERVER_URL=…), or "
    'headers as JSON (headers-json: {"Authorization": "Bearer …"}).',
)
@click.option(
    "--min-valid",
    type=Seconds(min=0),
    metavar="SECONDS",
    help="Refresh first if the token expires sooner [default: a tenth of "
    "its lifetime, at most 300].",
)
@click.option(
    "--login",
    "login_",
    is_flag=True,
    help="Sign in with the browser if no usable session is cached.",
)
@click.option("--no-browser", is_flag=True, help="With --login: print the URL only.")
@click.option(
    "--timeout",
    type=Seconds(min=1),
    default=300.0,
    help="With --login: seconds to wait for the sign-in.",
)
@http_timeout_option()
@click.option(
    "--rejected",
    metavar="TOKEN",
    help="The server refused TOKEN (a 401): print the token another process "
    "refreshed, else refresh once. '-' reads it from stdin.",
)
@jwt_options
@secret_options
@common
def token(
    profile: str, cache_dir: str | None, verbose: bool, fmt: str, min_valid: float | None,
    login_: bool, no_browser: bool, timeout: float, http_timeout: float,
    rejected: str | None, jwt_file: str | None, client_secret_file: Any,
    client_secret: str | None,
) -> None:  # fmt: skip
    """Print a valid access token, refreshing it if needed (for a JWT profile whose
    session has ended, with a new one from the JWT credential)."""
    if no_browser and not login_:
        raise click.UsageError("--no-browser applies only with --login")
    store = setup(verbose, cache_dir)
    if rejected == "-":
        rejected = sys.stdin.readline(4096).strip()
    from loopback_login.loopback.launch import choose_opener

    secret = read_secret(client_secret_file, client_secret)
    provider: ProviderConfig | None = None
    uris: tuple[str, ...] = ()
    if login_ and load_entry(store, profile, quiet=True) is None:
        # A first login from `token --login` takes the settings given once.
        provider, uris = settings_provider(profile, secret)
    opener, why = choose_opener(no_browser=no_browser)
    if why and login_:
        say(why)
    session = LoginSession(
        provider, profile=profile, store=store, notify=say, http_timeout=http_timeout,
        client_secret=secret, jwt=read_jwt(jwt_file),
        loopback=LoopbackConfig(
            redirect_uris=uris, timeout=timeout,
            retry_command=Invocation.retry_command(),
        ),
        opener=opener, pasted=stdin_lines() if login_ else None,
    )  # fmt: skip

    async def go() -> Any:
        async with session:
            return await session.get_token(
                min_valid=min_valid, login=login_, rejected=rejected or None
            )

    tokens = drive(go())
    entry = session.entry()
    server_url = None
    if fmt == "env" and entry is not None:
        server_url = str(entry.settings.get("server") or "") or None
    click.echo(
        format_token(tokens.to_json(), fmt, profile, time.time(), server_url), nl=False
    )
    # Only here, on the full path: the cached one hands a token whose refresh
    # token is this near its end over to this command instead of warning itself.
    if entry is not None:
        warn_if_ending(entry)


def settings_provider(
    profile: str, secret: str | None
) -> tuple[ProviderConfig | None, tuple[str, ...]]:
    """The provider and redirect URIs the environment and the settings file
    describe, if they give a client id."""
    opts: dict[str, Any] = {"client_id": None, "redirect_uri": ()}
    opts = layered(opts, profile, set())
    if not opts.get("client_id"):
        return None, ()
    return build_provider(opts, None, secret), tuple(opts["redirect_uri"])
