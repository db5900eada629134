"""``login``: sign in with the browser (or the user's JWT credential) and save the
session; the profile remembers its settings for the next login.

The early login (:mod:`.early_login`) answers the common case before click is
loaded; this is the full command, for everything else.
"""

from __future__ import annotations

from typing import Any

import click

from loopback_login.cli.common import (
    Invocation,
    common,
    drive,
    jwt_options,
    read_jwt,
    read_secret,
    say,
    secret_options,
    setup,
    stdin_lines,
    summary,
    warn_if_ending,
)
from loopback_login.cli.help import GroupedCommand
from loopback_login.cli.login_options import (
    build_network,
    build_provider,
    login_options,
)
from loopback_login.cli.settings import layered
from loopback_login.errors import ConfigError, CorruptEntryError
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.session.entry import ProfileEntry, load_entry
from loopback_login.session.orchestrator import LoginSession

__all__ = ["login"]

LOGIN_EXAMPLES = """\b
Examples:
  loopback-login login --client-id YOUR_CLIENT_ID --redirect-uri http://localhost:8400/callback
  loopback-login login -p work --server partner --scope 'openid ReadAccounts'
  loopback-login login -p work            # again, with what work used before
  loopback-login config set client-id YOUR_CLIENT_ID   # once, for every profile
"""


def given_options() -> set[str]:
    """The options of the running command set on its command line or by their
    environment variable (not defaults)."""
    ctx = click.get_current_context()
    given = (
        click.core.ParameterSource.COMMANDLINE,
        click.core.ParameterSource.ENVIRONMENT,
    )
    return {
        p.name
        for p in ctx.command.params
        if p.name and ctx.get_parameter_source(p.name) in given
    }


@click.command(cls=GroupedCommand, epilog=LOGIN_EXAMPLES)
@login_options
@jwt_options
@secret_options
@common
def login(profile: str, cache_dir: str | None, verbose: bool, **opts: Any) -> None:
    """Sign in with the browser (or the user's JWT credential) and save the session.

    Settings come from the options, then LOOPBACK_LOGIN_CLIENT_ID and
    LOOPBACK_LOGIN_SERVER, then the settings file (`loopback-login config`), then
    the profile's last login: `loopback-login login -p work` signs in again with
    what was given before, even after a logout.
    """
    store = setup(verbose, cache_dir)
    secret = read_secret(opts.pop("client_secret_file"), opts.pop("client_secret"))
    jwt_file = opts.pop("jwt_file")
    jwt = read_jwt(jwt_file)
    if jwt_file is not None:
        if opts["grant"] == "authorization_code":
            raise ConfigError(
                "--jwt-file goes with --grant jwt, not authorization_code",
                hint="drop one of them",
            )
        opts["grant"] = "jwt"
    try:
        remembered = load_entry(store, profile)
    except CorruptEntryError as exc:
        # Logging in is the cure for a damaged entry: say what happened, go on.
        say(f"warning: {exc}")
        remembered = None
    opts = layered(opts, profile, given_options())
    provider = build_provider(opts, remembered, secret)
    # No --redirect-uri: the session takes the ones the profile remembers.
    loopback = LoopbackConfig(
        redirect_uris=opts["redirect_uri"],
        timeout=opts["timeout"],
        retry_command=Invocation.retry_command(),
    )
    network = build_network(opts, remembered)
    if network.proxy and network.to_profile()["proxy"] != network.proxy:
        say(
            "note: the proxy's password is not saved with the profile: token and "
            "logout take it from HTTPS_PROXY/HTTP_PROXY when they name this proxy."
        )
    from loopback_login.loopback.launch import choose_opener

    browser = provider.grant != "jwt"  # a JWT credential signs in with no browser
    opener, why = (
        choose_opener(
            no_browser=opts["no_browser"], browser_command=opts["browser_command"]
        )
        if browser
        else (None, None)
    )
    if why:
        say(why)
    session = LoginSession(
        provider, profile=profile, loopback=loopback, store=store, opener=opener,
        http_timeout=opts["http_timeout"], notify=say, network=network, jwt=jwt,
        pasted=stdin_lines() if browser else None, storage=opts["storage"],
    )  # fmt: skip

    async def go() -> ProfileEntry | None:
        async with session:
            await session.login()
            return session.entry()

    entry = drive(go())
    if entry is not None:
        say(summary(entry))
        warn_if_ending(entry)
