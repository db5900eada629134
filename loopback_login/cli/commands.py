"""The click commands. Each parses flags, builds objects, runs one coroutine and maps
errors to exit codes; the work itself lives in :mod:`loopback_login.session`.

stdout carries only what a program asked for (``token``, ``status --json``); URLs,
progress and errors go to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from loopback_login.cli.common import (
    Seconds,
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
)
from loopback_login.cli.emulator_commands import demo, emulator
from loopback_login.cli.fast import FORMATS, format_token
from loopback_login.cli.keepalive_command import keepalive
from loopback_login.cli.login_options import (
    build_network,
    build_provider,
    login_options,
)
from loopback_login.cli.output import report
from loopback_login.errors import (
    QUOTE_LIMIT,
    ConfigError,
    CorruptEntryError,
    LoopbackLoginError,
    NotLoggedInError,
    TokenStoreError,
    login_hint,
    printable,
)
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.protocol.token_client import DEFAULT_HTTP_TIMEOUT
from loopback_login.session.entry import ProfileEntry, describe, load_entry
from loopback_login.session.keepalive import expiry_warning
from loopback_login.session.orchestrator import LoginSession
from loopback_login.store.file_store import validate_profile_name

__all__ = ["cli", "run"]


def run(args: Sequence[str]) -> int:
    """Run click on ``args``; our errors become one line, a hint and an exit code."""
    try:
        cli.main(args=list(args), prog_name="loopback-login", standalone_mode=False)
    except LoopbackLoginError as exc:
        return report(exc)
    except click.exceptions.Abort:
        say("Aborted.")
        return 130
    except KeyboardInterrupt:
        say("Interrupted.")
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="loopback-login", prog_name="loopback-login")
def cli() -> None:
    """Log in to RingCentral once, in your browser, and hand valid user tokens to
    any program: curl -H "Authorization: Bearer $(loopback-login token)" …

    Start with `loopback-login demo`: a full login against the built-in emulator.
    """


@cli.command()
@login_options
@jwt_options
@secret_options
@common
def login(profile: str, cache_dir: str | None, verbose: bool, **opts: Any) -> None:
    """Sign in with the browser (or the user's JWT credential) and save the session.

    Later runs for the same profile reuse its settings, so `loopback-login login
    -p work` signs in again with what was given the first time.
    """
    store = setup(verbose, cache_dir)
    profile = validate_profile_name(profile)
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
    provider = build_provider(opts, remembered, secret)
    # No --redirect-uri: the session takes the ones the profile remembers.
    loopback = LoopbackConfig(
        redirect_uris=opts["redirect_uri"], timeout=opts["timeout"]
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
        _warn_if_ending(entry)


@cli.command()
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="token",
    show_default=True,
    help="token, an Authorization header, or JSON.",
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
@click.option(
    "--http-timeout",
    type=Seconds(min=0.1),
    default=DEFAULT_HTTP_TIMEOUT,
    help="Seconds to wait for the token endpoint.",
)
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

    opener, why = choose_opener(no_browser=no_browser)
    if why and login_:
        say(why)
    session = LoginSession(
        profile=profile, store=store, notify=say, http_timeout=http_timeout,
        client_secret=read_secret(client_secret_file, client_secret),
        jwt=read_jwt(jwt_file), loopback=LoopbackConfig(timeout=timeout),
        opener=opener, pasted=stdin_lines() if login_ else None,
    )  # fmt: skip

    async def go() -> Any:
        async with session:
            return await session.get_token(
                min_valid=min_valid, login=login_, rejected=rejected or None
            )

    tokens = drive(go())
    click.echo(format_token(tokens.to_json(), fmt, profile, time.time()), nl=False)
    # Only here, on the full path: the cached one hands a token whose refresh
    # token is this near its end over to this command instead of warning itself.
    entry = session.entry()
    if entry is not None:
        _warn_if_ending(entry)


def _warn_if_ending(entry: ProfileEntry) -> None:
    warning = expiry_warning(entry, now=time.time())
    if warning is not None:
        say(warning)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--all", "all_", is_flag=True, help="Every profile (the default without -p)."
)
@common
def status(
    profile: str, cache_dir: str | None, verbose: bool, as_json: bool, all_: bool
) -> None:
    """Show saved sessions: server, client, user, scopes, expiry. Never a token."""
    asked = click.get_current_context().get_parameter_source("profile")
    if all_ and asked is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--all and --profile exclude each other")
    store = setup(verbose, cache_dir)
    single = not all_ and asked is not click.core.ParameterSource.DEFAULT
    names = [validate_profile_name(profile)] if single else store.profiles()
    now = time.time()
    rows = []
    for name in names:
        entry = load_entry(store, name)
        if entry is not None:
            rows.append(describe(entry, now=now))
    if as_json:
        click.echo(
            json.dumps(rows if not single else (rows[0] if rows else None), indent=2)
        )
    else:
        for row in rows:
            click.echo(format_status(row, now))
        if not rows:
            say(
                "No saved sessions."
                if not single
                else f"Profile {profile!r} is not logged in."
            )
    if single and (not rows or rows[0]["state"] in ("expired", "needs login")):
        raise NotLoggedInError(
            f"profile {profile!r} has no usable session",
            hint=login_hint(profile),
        )


def format_status(row: dict[str, Any], now: float) -> str:
    def when(ts: float | None) -> str:
        if ts is None:
            return "-"
        left = ts - now
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
        return f"{stamp} ({'in ' + _span(left) if left > 0 else _span(-left) + ' ago'})"

    # Every field but the times may be the server's (or a hostile file's) words.
    show = {k: printable(v, 1000 if k == "scope" else QUOTE_LIMIT) if v else "-"
            for k, v in row.items() if isinstance(v, str | None)}  # fmt: skip
    identity = row["identity"] or {}
    who = printable(row["account"] or "-")
    if identity and not identity.get("signature_checked", True):
        who += " (ID token signature not checked: HS256 without a client secret)"
    lines = [
        f"{show['profile']}: {show['state']}",
        f"  server:     {show['server']}",
        f"  client id:  {show['client_id']} ({show['client_auth']})",
        f"  grant:      {_GRANT_NAMES.get(row['grant'], show['grant'])}",
        f"  user:       {who}",
        f"  owner id:   {show['owner_id']}   endpoint id: {show['endpoint_id']}",
        f"  scope:      {show['scope']}",
        f"  access:     expires {when(row['access_expires_at'])}",
        "  refresh:    "
        + (
            f"expires {when(row['refresh_expires_at'])}"
            if row["has_refresh_token"]
            else "none"
        ),
    ]
    if row["has_refresh_token"]:
        lines.append(f"  stored in:  {_stored_in(row['refresh_token_storage'])}")
    if row["session_expires_at"] is not None:
        lines.append(
            f"  session:    ends {when(row['session_expires_at'])} (absolute limit)"
        )
    lines.append(f"  keep-alive: {'on' if row['keepalive'] else 'off'}")
    if row["dead"]:
        lines.append(f"  ended:      {show['dead']}")
    return "\n".join(lines)


_GRANT_NAMES = {
    "authorization_code": "authorization_code (a person signs in with the browser)",
    "jwt": "jwt (the user's JWT credential; no browser)",
}


def _stored_in(storage: str) -> str:
    if storage == "file":
        return "file: the refresh token is plain text on disk (--storage keyring keeps it in the OS keyring)"
    return f"{storage} (the refresh token; the access token is on disk)"


def _span(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@cli.command()
@click.option("--all", "all_", is_flag=True, help="Every saved profile.")
@click.option(
    "--local",
    is_flag=True,
    help="Only forget the local copy; the server session lives until it expires.",
)
@click.option("--http-timeout", type=Seconds(min=0.1), default=DEFAULT_HTTP_TIMEOUT)
@secret_options
@common
def logout(
    profile: str, cache_dir: str | None, verbose: bool, all_: bool, local: bool,
    http_timeout: float, client_secret_file: Any, client_secret: str | None,
) -> None:  # fmt: skip
    """Revoke the session at the server, then remove it from disk."""
    store = setup(verbose, cache_dir)
    secret = read_secret(client_secret_file, client_secret)
    names = store.profiles() if all_ else [validate_profile_name(profile)]
    failures: list[tuple[str, LoopbackLoginError]] = []

    async def go() -> None:
        for name in names:
            async with LoginSession(
                profile=name,
                store=store,
                client_secret=secret,
                http_timeout=http_timeout,
            ) as session:
                try:
                    removed = await session.logout(local=local)
                except LoopbackLoginError as exc:
                    failures.append((name, exc))
                    continue
            if not removed:
                say(f"Profile {name!r} was not logged in.")
            elif local:
                say(
                    f"Removed profile {name!r} from this computer; its server session "
                    "stays valid until it expires."
                )
            else:
                say(
                    f"Logged out of profile {name!r}: the session was revoked and removed."
                )

    drive(go())

    def why(exc: LoopbackLoginError) -> str:  # nothing was revoked if the store failed
        return (
            str(exc)
            if isinstance(exc, TokenStoreError)
            else f"the revocation failed: {exc}"
        )

    for name, exc in failures[:-1]:
        say(f"error: profile {name!r} kept: {why(exc)}")
    if failures:
        name, exc = failures[-1]
        if isinstance(exc, TokenStoreError):
            raise TokenStoreError(
                f"profile {name!r} kept: {exc}", hint=exc.hint
            ) from exc
        local_hint = "or, to forget it here only, add --local"
        raise LoopbackLoginError(
            f"profile {name!r} kept: {why(exc)}",
            hint=f"{exc.hint}; {local_hint}" if exc.hint else local_hint,
        ) from exc
    if not names and all_:
        say("No saved sessions.")


cli.add_command(keepalive)
cli.add_command(emulator)
cli.add_command(demo)
