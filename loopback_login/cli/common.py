"""Helpers shared by the click commands: output, options, secrets, the store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import click

from loopback_login.environment import CLIENT_SECRET_ENV as SECRET_ENV
from loopback_login.environment import HOME_ENV, JWT_ENV, PROFILE_ENV, RC_JWT_ENV
from loopback_login.errors import ConfigError, UsageError, printable
from loopback_login.session.entry import ProfileEntry, describe
from loopback_login.session.keepalive import expiry_warning
from loopback_login.store.file_store import (
    FileTokenStore,
    default_store_dir,
    validate_profile_name,
)
from loopback_login.store.small_files import read_small_file

__all__ = [
    "MAX_SECRET_BYTES",
    "SECRET_ENV",
    "Invocation",
    "Seconds",
    "check_profile",
    "common",
    "drive",
    "jwt_options",
    "read_jwt",
    "read_secret",
    "say",
    "secret_options",
    "setup",
    "stdin_lines",
    "summary",
    "warn_if_ending",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def say(message: str) -> None:
    """Tell the person, on stderr. Each line is made printable: a message may quote
    outside text (an account name, a server's error), which must not be able to
    move the cursor, retitle the window or start a line of its own."""
    click.echo(
        "\n".join(_printable_line(line) for line in message.split("\n")), err=True
    )


def _printable_line(line: str) -> str:
    body = line.lstrip(" ")
    return line[: len(line) - len(body)] + printable(body, 4000) if body else ""


class Seconds(click.FloatRange):
    """A finite number of seconds in a range: ``FloatRange`` lets ``nan`` and
    ``inf`` through (every comparison with NaN is false)."""

    name = "seconds"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return number


def drive(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Invocation:
    """The command running and the store it opened: what a hint is fitted to."""

    command: click.Command | None = None
    store: FileTokenStore | None = None
    args: tuple[str, ...] = ()

    @classmethod
    def retry_command(cls) -> str:
        """The command line as run, to show where it can be run again; a secret
        given on it is left out."""
        import shlex

        kept: list[str] = []
        skip = False
        for arg in cls.args:
            if skip:
                skip = False
            elif arg == "--client-secret":
                skip = True
            elif not arg.startswith("--client-secret="):
                kept.append(arg)
        return shlex.join(["loopback-login", *kept])


def check_profile(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A bad profile name is a usage error (exit code 2), found before any work."""
    if value is None:
        return None
    try:
        return validate_profile_name(value)
    except ConfigError as exc:
        # Said as every error of ours is (one line, a hint), with a usage error's code.
        raise UsageError(str(exc), hint=exc.hint) from exc


def _complete_profiles(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> Any:
    from loopback_login.cli.completion_command import complete_profiles

    return complete_profiles(ctx, param, incomplete)


def common(func: F) -> F:
    """--profile, --cache-dir and --verbose, on every command that reads the cache."""
    options = [
        click.option(
            "--profile", "-p", envvar=PROFILE_ENV, default="default",
            show_default=True, callback=check_profile, metavar="NAME",
            shell_complete=_complete_profiles,
            help=f"Which saved session [env {PROFILE_ENV}].",
        ),
        click.option(
            "--cache-dir", envvar=HOME_ENV, type=click.Path(file_okay=False),
            help=f"Where sessions are kept [env {HOME_ENV}; default: the user "
            "state folder].",
        ),
        click.option("--verbose", "-v", is_flag=True, help="Log each step on stderr."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def http_timeout_option(endpoint: str = "the token endpoint") -> Callable[[F], F]:
    """``--http-timeout``, the same on every command that makes requests."""
    from loopback_login.protocol.wiring import DEFAULT_HTTP_TIMEOUT

    return click.option(
        "--http-timeout",
        type=Seconds(min=0.1),
        default=DEFAULT_HTTP_TIMEOUT,
        show_default=True,
        help=f"Seconds to wait for {endpoint}.",
    )


def secret_options(func: F) -> F:
    options = [
        click.option(
            "--client-secret-file", type=click.Path(dir_okay=False, allow_dash=True),
            help=f"Read the client secret from a file (or set {SECRET_ENV}).",
        ),
        click.option(
            "--client-secret", hidden=True,
            help="The client secret. Visible to other users in the process list: "
            f"prefer {SECRET_ENV} or --client-secret-file.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def jwt_options(func: F) -> F:
    return click.option(
        "--jwt-file",
        type=click.Path(dir_okay=False, allow_dash=True),
        help="Read the user's JWT credential from a file ('-': standard input) "
        f"[or set {JWT_ENV} or {RC_JWT_ENV}].",
    )(func)


def read_jwt(jwt_file: str | None) -> str | None:
    """The user's JWT credential from ``--jwt-file`` or the environment.

    Both variables are taken out of this process's environment whichever is
    used, so no child inherits them; only the one used is checked.
    """
    from loopback_login.session.jwt_grant import jwt_from_environment, read_jwt_file

    if jwt_file is None:
        return jwt_from_environment(os.environ, take=True)
    for name in (JWT_ENV, RC_JWT_ENV):
        os.environ.pop(name, None)
    return read_jwt_file(jwt_file)


MAX_SECRET_BYTES = 16 * 1024
"""A client secret is tens of bytes; a file past this is not one (``/dev/zero``)."""


def read_secret(secret_file: str | None, secret: str | None) -> str | None:
    """The client secret from the file (``-``: stdin), the option or the environment.

    The variable is taken out of this process's environment once read: the
    browser and any other child would inherit it otherwise. At most
    :data:`MAX_SECRET_BYTES` are read from the file.
    """
    from_env = os.environ.pop(SECRET_ENV, None)
    if secret_file is not None:
        return _read_secret_file(secret_file)
    return secret or from_env or None


def _read_secret_file(path: str) -> str:
    shown = printable(path)
    raw = read_small_file(
        path,
        MAX_SECRET_BYTES,
        stdin=getattr(sys.stdin, "buffer", None),
        what=f"the client secret file {shown}",
        hint="check --client-secret-file",
        too_large=f"{shown} is larger than {MAX_SECRET_BYTES // 1024} KiB: not a "
        "client secret file",
        too_large_hint="put only the client secret in the file given to "
        "--client-secret-file",
    )
    try:
        value = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        value = "\0"  # refused below, with the same words as a control character
    if not value:
        raise ConfigError(f"{shown} is empty", hint="put the client secret in it")
    if not value.isprintable():
        raise ConfigError(
            f"{shown} holds control characters or binary data: not a client secret",
            hint="put only the client secret in the file given to --client-secret-file",
        )
    return value


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed on stdin, read by a daemon thread so the loop never blocks."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def pump() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except (OSError, ValueError, RuntimeError):
            pass  # stdin closed, or the login is over
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


def setup(verbose: bool, cache_dir: str | None) -> FileTokenStore:
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="%(name)s: %(message)s"
        )
    if cache_dir == "":  # an unset variable, not this, means the default
        raise ConfigError(
            "--cache-dir is empty", hint="name a folder, or leave the option out"
        )
    store = FileTokenStore(cache_dir or default_store_dir())
    Invocation.store = store
    if (ctx := click.get_current_context(silent=True)) is not None:
        Invocation.command = ctx.command
    return store


def summary(entry: ProfileEntry) -> str:
    status = describe(entry, now=time.time())
    # The name, ids and scope are the server's words: printable, and short.
    who = printable(status["account"] or "") or "your account"
    refresh = (
        "with a refresh token" if status["has_refresh_token"] else "no refresh token"
    )
    if status["has_refresh_token"]:
        refresh += f" ({status['refresh_token_storage']})"
    minutes = max(0, int((status["access_expires_at"] - time.time()) // 60))
    return (
        f"Signed in to {status['server']} as {who} (profile {entry.profile!r}).\n"
        f"Access token valid for {minutes} min, {refresh}; "
        f"scope: {printable(status['scope'] or '-', 1000)}.\n"
        f"Use it: loopback-login token --profile {entry.profile}"
    )


def warn_if_ending(entry: ProfileEntry) -> None:
    """Say so when the refresh token is near its end: a new login is coming."""
    warning = expiry_warning(entry, now=time.time())
    if warning is not None:
        say(warning)
