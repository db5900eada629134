"""`--help` as a person reads it: options in sections, defaults shown, examples
last, nothing without a word of help."""

from __future__ import annotations

import click
import pytest
from helpers import Cli

from loopback_login.cli.commands import cli as root

SECTIONS = ["Profile:", "Sign-in:", "Client authentication:", "RingCentral parameters:"]


def every_command() -> list[tuple[str, click.Command]]:
    found = []
    for name, command in root.commands.items():
        found.append((name, command))
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
    return found


@pytest.mark.parametrize(("name", "command"), every_command())
def test_every_option_has_help(name: str, command: click.Command) -> None:
    """No visible option goes without a help text."""
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{name} {param.opts[0]} has no help"


def test_login_help_is_grouped_with_defaults_and_examples(cli: Cli) -> None:
    """`login --help` shows its options under titled sections, states the defaults
    of --method, --pkce and --scope, and ends with examples."""
    text = cli("login", "--help").stdout
    positions = [text.index(title) for title in SECTIONS]
    assert positions == sorted(positions)
    assert "Network:" in text
    for stated in ("else get]", "else S256]", "all the app's scopes]", "[default: 300"):
        assert stated in " ".join(text.split()), stated
    assert text.rstrip().splitlines()[-5].strip() == "Examples:"


@pytest.mark.parametrize("command", ["token", "logout", "exec"])
def test_examples_end_the_help(cli: Cli, command: str) -> None:
    """The commands other programs script end their help with examples that use them."""
    text = cli(command, "--help").stdout
    head, tail = text.split("Examples:")
    assert f"loopback-login {command}" in tail
    assert "--" not in tail.replace(" -- ", " ").split("loopback-login")[0]
    assert "Other:" in head  # the options came before
