"""The click group: ``run`` parses the command line, runs one command and maps
errors to exit codes. Each command lives in its own module (``login_command``,
``token_command``, ``status_command``, ``logout_command``, ``exec_command``…); the
work itself lives in :mod:`loopback_login.session`.

stdout carries only what a program asked for (``token``, ``status --json``); URLs,
progress and errors go to stderr.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from loopback_login.cli.common import Invocation, say
from loopback_login.cli.completion_command import completion
from loopback_login.cli.config_commands import config
from loopback_login.cli.doctor_command import doctor
from loopback_login.cli.emulator_commands import demo, emulator
from loopback_login.cli.exec_command import exec_
from loopback_login.cli.hints import fit_hint, options_of
from loopback_login.cli.keepalive_command import keepalive
from loopback_login.cli.login_command import login
from loopback_login.cli.logout_command import logout
from loopback_login.cli.output import report
from loopback_login.cli.status_command import status
from loopback_login.cli.token_command import token
from loopback_login.errors import LoopbackLoginError

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


cli.add_command(login)
cli.add_command(token)
cli.add_command(status)
cli.add_command(logout)
cli.add_command(completion)
cli.add_command(config)
cli.add_command(doctor)
cli.add_command(exec_)
cli.add_command(keepalive)
cli.add_command(emulator)
cli.add_command(demo)
