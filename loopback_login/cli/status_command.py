"""``status``: the saved sessions, never a token; exit 0 only when every profile
asked for is usable, with the command that fixes each one that is not.

``status --json`` prints one shape, a list of :func:`status_row` objects.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from loopback_login.cli.common import common, setup
from loopback_login.cli.help import GroupedCommand
from loopback_login.errors import (
    QUOTE_LIMIT,
    LoopbackLoginError,
    NotLoggedInError,
    login_hint,
    printable,
)
from loopback_login.session.entry import describe, load_entry

__all__ = ["format_status", "login_command", "status", "status_row"]

STATUS_EXAMPLES = """\b
Examples:
  loopback-login status
  loopback-login status -p work --json
"""


@click.command(cls=GroupedCommand, epilog=STATUS_EXAMPLES)
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
