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
    Invocation,
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
from loopback_login.cli.completion_command import completion
from loopback_login.cli.config_commands import config
from loopback_login.cli.doctor_command import doctor
from loopback_login.cli.emulator_commands import demo, emulator
from loopback_login.cli.exec_command import exec_
from loopback_login.cli.fast import FORMATS, format_token
from loopback_login.cli.help import GroupedCommand
from loopback_login.cli.hints import fit_hint, options_of
from loopback_login.cli.keepalive_command import keepalive
from loopback_login.cli.login_options import (
    build_network,
    build_provider,
    login_options,
)
from loopback_login.cli.output import report
from loopback_login.cli.settings import layered
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
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.token_client import DEFAULT_HTTP_TIMEOUT
from loopback_login.session.entry import ProfileEntry, describe, load_entry
from loopback_login.session.keepalive import expiry_warning
from loopback_login.session.orchestrator import LoginSession

__all__ = ["cli", "run"]


def run(args: Sequence[str]) -> int:
    """Run click on ``args``; our errors become one line, a hint and an exit code."""
    Invocation.args = tuple(args)
    try:
        # Without standalone mode, click returns an Exit's code instead of raising it.
        code = cli.main(
            args=list(args), prog_name="loopback-login", standalone_mode=False
        )
        if isinstance(code, int):
            return code
    except LoopbackLoginError as exc:
        fit_hint(exc, Invocation.command, Invocation.store, group=cli)
        return report(exc)
    except click.exceptions.Abort:
        say("Aborted.")
        return 130
    except KeyboardInterrupt:
        say("Interrupted.")
        return 130
    except click.ClickException as exc:
        if isinstance(exc, click.NoSuchOption) and exc.ctx is not None:
            # click offers close matches among every option, hidden ones too.
            visible = options_of(exc.ctx.command)
            exc = click.NoSuchOption(
                exc.option_name,
                possibilities=[p for p in exc.possibilities or () if p in visible],
                ctx=exc.ctx,
            )
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True}
)
@click.version_option(package_name="loopback-login", prog_name="loopback-login")
def cli() -> None:
    """Log in to RingCentral once, in your browser, and hand valid user tokens to
    any program: curl -H "Authorization: Bearer $(loopback-login token)" …

    Start with `loopback-login demo`: a full login against the built-in emulator.
    """


LOGIN_EXAMPLES = """\b
Examples:
  loopback-login login --client-id YOUR_CLIENT_ID --redirect-uri http://localhost:8400/callback
  loopback-login login -p work --server partner --scope 'openid ReadAccounts'
  loopback-login login -p work            # again, with what work used before
  loopback-login config set client-id YOUR_CLIENT_ID   # once, for every profile
"""
TOKEN_EXAMPLES = """\b
Examples:
  curl -H "$(loopback-login token --format header)" https://platform.ringcentral.com/restapi/v1.0/account/~
  eval "$(loopback-login token -p work --format env)"
  loopback-login token --login --min-valid 600
"""
STATUS_EXAMPLES = """\b
Examples:
  loopback-login status
  loopback-login status -p work --json
"""
LOGOUT_EXAMPLES = """\b
Examples:
  loopback-login logout -p work
  loopback-login logout --all --local
  loopback-login logout -p work --forget   # its settings too
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


@cli.command(cls=GroupedCommand, epilog=LOGIN_EXAMPLES)
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
        _warn_if_ending(entry)


@cli.command(cls=GroupedCommand, epilog=TOKEN_EXAMPLES)
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
        _warn_if_ending(entry)


def _warn_if_ending(entry: ProfileEntry) -> None:
    warning = expiry_warning(entry, now=time.time())
    if warning is not None:
        say(warning)


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


@cli.command(cls=GroupedCommand, epilog=STATUS_EXAMPLES)
@click.option(
    "--json", "as_json", is_flag=True,
    help="A JSON list, one object per profile (the same shape with -p).",
)  # fmt: skip
@click.option(
    "--all", "all_", is_flag=True, help="Every profile (the default without -p)."
)
@common
def status(
    profile: str, cache_dir: str | None, verbose: bool, as_json: bool, all_: bool
) -> None:
    """Show saved sessions: server, client, user, scopes, expiry. Never a token.

    Exits 0 when every profile asked for (all, without -p) is usable, 1 otherwise,
    with the command that fixes each.
    """
    asked = click.get_current_context().get_parameter_source("profile")
    if all_ and asked is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--all and --profile exclude each other")
    store = setup(verbose, cache_dir)
    single = not all_ and asked is not click.core.ParameterSource.DEFAULT
    names = [profile] if single else store.profiles()
    now = time.time()
    rows = [status_row(store, name, now) for name in names]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            if row["state"] != "not logged in":  # those are the error's to say
                click.echo(format_status(row, now))
    if not rows:
        raise NotLoggedInError(
            "no saved sessions", hint="run: " + str(login_command(store, profile))
        )
    broken = [row for row in rows if not row["usable"]]
    if not broken:
        return
    if len(broken) == 1 and broken[0]["problem"]:
        message = broken[0]["problem"]  # names the file, and what is wrong with it
    elif len(broken) == 1:
        row = broken[0]
        message = f"profile {row['profile']!r} " + (
            "is not logged in"
            if row["state"] == "not logged in"
            else f"needs a new login ({row['state']})"
        )
    else:
        message = f"{len(broken)} of {len(rows)} profiles need a new login: " + (
            ", ".join(row["profile"] for row in broken)
        )
    raise NotLoggedInError(
        message, hint="\n  ".join(f"run: {row['fix']}" for row in broken)
    )


USABLE = ("valid", "refresh needed")


def login_command(store: Any, profile: str) -> str:
    """The command that signs ``profile`` in again, as it stands now."""
    from loopback_login.cli.settings import can_sign_in_again

    try:
        raw = store.load(profile)
    except LoopbackLoginError:
        raw = None
    remembered = raw.get("settings") if isinstance(raw, dict) else None
    known = can_sign_in_again(
        profile, remembered if isinstance(remembered, dict) else None
    )
    return login_hint(profile, client_id_known=known).removeprefix("run: ")


def status_row(store: Any, name: str, now: float) -> dict[str, Any]:
    """One profile's status, in the one shape ``status --json`` prints."""
    problem = fix = None
    try:
        entry = load_entry(store, name)
    except LoopbackLoginError as exc:
        entry, problem = None, str(exc)
        if exc.hint and exc.hint.startswith("run: ") and "\n" not in exc.hint:
            fix = exc.hint.removeprefix("run: ")
    row: dict[str, Any] = {
        "profile": name, "state": "not logged in", "usable": False, "fix": None,
        "problem": problem, "server": None, "client_id": None,
        "client_auth_method": None, "account": None, "owner_id": None,
        "endpoint_id": None, "session_id": None, "scope": None,
        "access_expires_at": None, "access_expires_at_utc": None,
        "refresh_expires_at": None, "refresh_expires_at_utc": None,
        "has_refresh_token": False, "identity": None, "dead": None,
    }  # fmt: skip
    if entry is not None:
        described = describe(entry, now=now)
        described["client_auth_method"] = described.pop("client_auth", None)
        row.update(described)
        for field in ("access_expires_at", "refresh_expires_at"):
            stamp = row[field]
            row[field] = None if stamp is None else int(stamp)
            row[field + "_utc"] = None if stamp is None else utc(stamp)
    row["usable"] = row["state"] in USABLE
    if not row["usable"]:
        row["fix"] = fix or login_command(store, name)
    return row


def utc(stamp: float) -> str:
    """ISO 8601 in UTC, to the second: 2026-12-07T08:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


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
    if row["state"] == "not logged in":
        lines = [f"{show['profile']}: not logged in"]
        if row["problem"]:
            lines.append(f"  problem:     {show['problem']}")
        lines.append(f"  fix:         {show['fix']}")
        return "\n".join(lines)
    identity = row["identity"] or {}
    who = printable(row["account"] or "-")
    if identity and not identity.get("signature_checked", True):
        who += " (ID token signature not checked: HS256 without a client secret)"
    lines = [
        f"{show['profile']}: {show['state']}",
        f"  server:      {show['server']}",
        f"  client id:   {show['client_id']}",
        f"  client auth: {show['client_auth_method']}",
        f"  grant:       {_GRANT_NAMES.get(row['grant'], show['grant'])}",
        f"  user:        {who}",
        f"  owner id:    {show['owner_id']}   endpoint id: {show['endpoint_id']}",
        f"  scope:       {show['scope']}",
        f"  access:      expires {when(row['access_expires_at'])}",
        "  refresh:     "
        + (
            f"expires {when(row['refresh_expires_at'])}"
            if row["has_refresh_token"]
            else "none"
        ),
    ]
    if row["has_refresh_token"]:
        lines.append(f"  stored in:   {_stored_in(row['refresh_token_storage'])}")
    if row["session_expires_at"] is not None:
        lines.append(
            f"  session:     ends {when(row['session_expires_at'])} (absolute limit)"
        )
    lines.append(f"  keep-alive:  {'on' if row['keepalive'] else 'off'}")
    if row["dead"]:
        lines.append(f"  ended:       {show['dead']}")
    if row["fix"]:
        lines.append(f"  fix:         {show['fix']}")
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


@cli.command(cls=GroupedCommand, epilog=LOGOUT_EXAMPLES)
@click.option("--all", "all_", is_flag=True, help="Every saved profile.")
@click.option(
    "--local",
    is_flag=True,
    help="Only forget the local copy; the server session lives until it expires.",
)
@click.option(
    "--forget",
    is_flag=True,
    help="Also drop the profile's settings (kept by default, so that "
    "`loopback-login login -p NAME` signs in again).",
)
@click.option(
    "--http-timeout",
    type=Seconds(min=0.1),
    default=DEFAULT_HTTP_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the revocation endpoint.",
)
@secret_options
@common
def logout(
    profile: str, cache_dir: str | None, verbose: bool, all_: bool, local: bool,
    forget: bool, http_timeout: float, client_secret_file: Any,
    client_secret: str | None,
) -> None:  # fmt: skip
    """Revoke the session at the server, then remove it from disk.

    The profile's settings (server, client id, scopes…: never a secret) stay in the
    settings file, so `loopback-login login -p NAME` signs in again; --forget drops
    them too.
    """
    store = setup(verbose, cache_dir)
    secret = read_secret(client_secret_file, client_secret)
    names = store.profiles() if all_ else [profile]
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
                    entry = load_entry(store, name)
                    removed = await session.logout(local=local)
                except LoopbackLoginError as exc:
                    failures.append((name, exc))
                    continue
            kept = keep_settings(name, entry, forget)
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
            if kept:
                say(
                    f"Its settings are kept: `loopback-login login --profile {name}` "
                    "signs in again."
                )
            elif forget:
                say(f"Profile {name!r}'s settings are forgotten.")

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


def keep_settings(profile: str, entry: ProfileEntry | None, forget: bool) -> bool:
    """After a logout: the profile's settings into the settings file (True), or out
    of it with ``forget``. Kept settings never hold a secret."""
    from loopback_login.cli.settings import from_entry
    from loopback_login.store.config_file import default_config_path, update_settings

    path = default_config_path()
    if forget:
        update_settings(path, lambda s: s.profiles.pop(profile, None))
        return False
    if entry is None:
        return False
    kept = from_entry(entry.settings)
    update_settings(path, lambda s: s.table(profile).update(kept))
    return True


cli.add_command(completion)
cli.add_command(config)
cli.add_command(doctor)
cli.add_command(exec_)
cli.add_command(keepalive)
cli.add_command(emulator)
cli.add_command(demo)
