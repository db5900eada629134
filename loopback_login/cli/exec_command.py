"""``exec``: run a program with a valid token in its environment.

Without ``--token-file`` this process becomes the program (``execvp``): its exit
code and the signals sent to it are the program's own, and nothing of ours stays
behind. A token lives an hour, though, and a refresh ends the one before it at
once, so a program that runs longer asks for ``--token-file``: this process then
stays as the program's parent, keeps a 0600 file in a private 0700 folder of the
user's runtime directory holding the current token, replaces it (atomically)
before the token expires, passes on the signals it gets, exits as the program
did, and removes the file and its folder.

Why a file and not a local token server (as aws-vault's): a file is guarded by
the kernel's permissions alone; a port on 127.0.0.1 is open to every local user
and needs a bearer secret handed to the child, which is one more secret in an
environment that child processes and crash reports copy around. Any program can
read a file; not every one can make an HTTP request.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import click

from loopback_login.cli.common import (
    common,
    drive,
    http_timeout_option,
    read_secret,
    say,
    secret_options,
)
from loopback_login.cli.common import setup as open_store
from loopback_login.cli.help import GroupedCommand
from loopback_login.environment import TOKEN_ENV, TOKEN_FILE_ENV, URL_ENV
from loopback_login.errors import LoopbackLoginError
from loopback_login.protocol.tokens import TokenSet
from loopback_login.session.orchestrator import LoginSession
from loopback_login.store.expiry import default_margin
from loopback_login.store.private_files import replace_with, write_temp

__all__ = ["exec_"]

FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
RETRY_AFTER = 10.0  # seconds before a failed refresh is tried again


class CommandNotFound(LoopbackLoginError):
    exit_code = 127  # as a shell says it


@click.command(
    "exec",
    cls=GroupedCommand,
    epilog="""\b
Examples:
  loopback-login exec -- python my_script.py
  loopback-login exec -p work --token-file -- ./long-running-sync
""",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--token-file",
    is_flag=True,
    help=f"Keep the token in a private file named by ${TOKEN_FILE_ENV}, replaced "
    "before it expires, for programs that run longer than a token lives.",
)
@http_timeout_option()
@secret_options
@common
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(
    profile: str, cache_dir: str | None, verbose: bool, token_file: bool,
    http_timeout: float, client_secret_file: Any, client_secret: str | None,
    command: tuple[str, ...],
) -> None:  # fmt: skip
    """Run COMMAND with a valid token in its environment.

    COMMAND gets RINGCENTRAL_ACCESS_TOKEN and RINGCENTRAL_SERVER_URL; its exit code
    and the signals sent to it pass through.
    """
    store = open_store(verbose, cache_dir)
    secret = read_secret(client_secret_file, client_secret)

    def session() -> LoginSession:
        return LoginSession(
            profile=profile, store=store, notify=say, http_timeout=http_timeout,
            client_secret=secret,
        )  # fmt: skip

    tokens, server = fetch(session, None)
    env = {**os.environ, TOKEN_ENV: tokens.access_token, URL_ENV: server}
    if not token_file:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            os.execvpe(command[0], list(command), env)
        except OSError as exc:
            raise not_found(command[0], exc) from exc
    raise click.exceptions.Exit(supervise(session, tokens, command, env))


Sessions = Callable[[], LoginSession]


def fetch(sessions: Sessions, min_valid: float | None) -> tuple[TokenSet, str]:
    """A valid token (refreshed if needed) and the server it is for."""
    session = sessions()  # one per event loop: each fetch runs its own

    async def go() -> TokenSet:
        async with session:
            return await session.get_token(min_valid=min_valid)

    tokens = drive(go())
    entry = session.entry()
    server = str(entry.settings.get("server") or "") if entry else ""
    return tokens, server


def not_found(name: str, exc: OSError) -> CommandNotFound:
    return CommandNotFound(
        f"cannot run {name!r}: {(exc.strerror or str(exc)).lower()}",
        hint="check the command's name and that it is on your PATH",
    )


def supervise(
    session: Sessions, tokens: TokenSet, command: tuple[str, ...], env: dict[str, str]
) -> int:
    """Run ``command`` with the token file kept fresh; its exit status."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = tempfile.mkdtemp(  # 0700, a name no one else can guess
        prefix="loopback-login-",
        dir=runtime if runtime and os.path.isdir(runtime) else None,
    )
    path = os.path.join(folder, "token")
    try:
        write_token(path, tokens)
        env[TOKEN_FILE_ENV] = path
        relay = Relay()
        # The handlers go in before the child starts: a signal that arrives while
        # Popen returns would otherwise kill us and orphan the child.
        previous = {sig: signal.signal(sig, relay) for sig in FORWARDED}
        try:
            try:
                child = subprocess.Popen(list(command), env=env)
            except OSError as exc:
                raise not_found(command[0], exc) from exc
            relay.attach(child)
            code = wait_refreshing(session, tokens, child, path)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        for leftover in (path, folder):
            try:
                if leftover == path:
                    os.unlink(leftover)
                else:
                    os.rmdir(leftover)
            except OSError:
                pass  # never written, or gone already
    if code < 0:  # killed by a signal: die of the same one, as a shell expects
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


class Relay:
    """A signal handler that passes each signal on to the child, holding those that
    arrive before the child exists until it does."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.pending: list[int] = []

    def __call__(self, signum: int, _frame: object) -> None:
        if self.child is None:
            self.pending.append(signum)
        else:
            self.child.send_signal(signum)

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        while self.pending:
            child.send_signal(self.pending.pop(0))


def wait_refreshing(
    session: Sessions, tokens: TokenSet, child: subprocess.Popen[bytes], path: str
) -> int:
    lead = 2 * default_margin(tokens.expires_at - tokens.issued_at)
    due = tokens.expires_at - lead
    while True:
        try:
            return child.wait(timeout=max(0.05, due - time.time()))
        except subprocess.TimeoutExpired:
            pass
        try:
            tokens, _ = fetch(session, lead + 1)
        except LoopbackLoginError as exc:
            say(f"warning: the token could not be refreshed: {exc}")
            due = time.time() + RETRY_AFTER
            continue
        write_token(path, tokens)
        lead = 2 * default_margin(tokens.expires_at - tokens.issued_at)
        due = tokens.expires_at - lead


def write_token(path: str, tokens: TokenSet) -> None:
    """Replace the file in one step: a reader sees the old token or the new one."""
    replace_with(path, write_temp(path, tokens.access_token.encode(), prefix="token"))
