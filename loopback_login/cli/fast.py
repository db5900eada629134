"""The hot path: print a cached, still-valid token without importing aiohttp,
authlib, joserfc or click.

``loopback-login token`` runs inside shell prompts and loops, so its start-up is
the product. Anything unusual (an option this parser does not know, no entry, a
token to refresh, a damaged file) returns ``None`` and the full command takes over,
with its complete error handling.
"""

from __future__ import annotations

import time

from loopback_login.environment import PROFILE_ENV, TOKEN_ENV, URL_ENV
from loopback_login.store.quickjson import dumps_flat
from loopback_login.store.valid import read_valid_token

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, TextIO

__all__ = ["FORMATS", "format_token", "shell_quote", "try_cached_token"]

FORMATS = ("token", "header", "json", "env", "headers-json")

_WARN_WITHIN = 86400.0
"""A refresh token with less than this left goes to the full command, which warns
unless keep-alive is on (session.keepalive.WARN_WITHIN; kept apart to stay light)."""


def format_token(
    tokens: Mapping[str, Any],
    fmt: str,
    profile: str,
    now: float,
    server_url: str | None = None,
) -> str:
    """The text ``token`` prints for ``--format`` ``fmt`` (newline included).

    ``env`` is shell code for ``eval``: every value single-quoted, so nothing in it
    (a server URL read from disk included) can run as a command.
    """
    access = tokens["access_token"]
    if fmt == "header":
        return f"Authorization: Bearer {access}\n"
    if fmt == "headers-json":
        return dumps_flat({"Authorization": f"Bearer {access}"}) + "\n"
    if fmt == "env":
        lines = [f"export {TOKEN_ENV}={shell_quote(access)}\n"]
        if server_url is not None:
            lines.append(f"export {URL_ENV}={shell_quote(server_url)}\n")
        return "".join(lines)
    if fmt == "json":
        expires_at = float(tokens["expires_at"])
        fields = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_at": int(expires_at),
            "expires_in": max(0, int(expires_at - now)),
            "scope": tokens.get("scope"),
            "profile": profile,
        }
        return dumps_flat(fields) + "\n"
    return f"{access}\n"


def shell_quote(text: str) -> str:
    """``text`` as one POSIX shell word (shlex.quote without its ``re``)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def try_cached_token(
    args: Sequence[str], environ: Mapping[str, str], out: TextIO
) -> int | None:
    """Run ``token`` from the cache if it can; ``None`` hands over to the full CLI."""
    options = _parse(args)
    if options is None:
        return None
    profile = options.get("profile") or environ.get(PROFILE_ENV) or "default"
    fmt = options.get("format", "token")
    if fmt not in FORMATS or fmt == "env" or options.get("rejected") == "-":
        # env names the server; reading the refused token from stdin: both the
        # full command's.
        return None
    from loopback_login.errors import TokenStoreError

    try:
        min_valid = float(options["min_valid"]) if "min_valid" in options else None
        if min_valid is not None and not 0 <= min_valid < float("inf"):
            return None  # nan, inf, negative: the full command says why not
        from loopback_login.store.file_store import (
            default_store_dir,
            validate_profile_name,
        )

        directory = options.get("cache_dir") or default_store_dir(environ)
        tokens = read_valid_token(
            validate_profile_name(profile),
            directory,
            now=time.time(),
            min_valid=min_valid,
            wait=True,
        )
    except TokenStoreError as exc:
        # A damaged entry was moved aside (only this call can say where), or the
        # lock was held too long: what the full command would say, said now.
        from loopback_login.cli.output import report
        from loopback_login.errors import login_hint
        from loopback_login.store.config_file import client_id_known

        if exc.hint == login_hint(profile) and not client_id_known(profile, environ):
            exc.hint = login_hint(profile, client_id_known=False)
        return report(exc)
    except Exception:  # the full command reports it properly
        return None
    if (
        tokens is None
        or tokens["access_token"] == options.get("rejected")
        or _refresh_ending(tokens, time.time())
    ):
        # The refused token is still cached, or the refresh token nears its end
        # (the full command warns): the full command takes over.
        return None
    out.write(format_token(tokens, fmt, profile, time.time()))
    out.flush()
    return 0


def _refresh_ending(tokens: Mapping[str, Any], now: float) -> bool:
    """The refresh token dies within a day: one comparison on what the entry holds,
    so the warning costs the cached path nothing until it is due."""
    end = tokens.get("refresh_token_expires_at")
    return (
        isinstance(end, (int, float)) and bool(tokens.get("refresh_token"))
        and end - now < _WARN_WITHIN
    )  # fmt: skip


_VALUED = {
    "--profile": "profile",
    "-p": "profile",
    "--format": "format",
    "--min-valid": "min_valid",
    "--cache-dir": "cache_dir",
    "--rejected": "rejected",
}


def _parse(args: Sequence[str]) -> dict[str, str] | None:
    options: dict[str, str] = {}
    items = iter(args)
    for arg in items:
        name, eq, value = arg.partition("=")
        key = _VALUED.get(name)
        if key is None or (eq and name == "-p"):
            return None
        if not eq:
            value = next(items, "")
            if value.startswith("-"):
                return None
        if not value:  # `--profile=`, `-p ''`: the full command refuses it
            return None
        options[key] = value
    return options
