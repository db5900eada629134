"""``config``: settings given once (client id, server, scopes…), per profile or for
every profile, in the settings file. Never a secret."""

from __future__ import annotations

import click

from loopback_login.cli.common import check_profile, say
from loopback_login.cli.settings import KEYS, check_value, settings_file, show
from loopback_login.errors import ConfigError
from loopback_login.store.config_file import default_config_path, update_settings

__all__ = ["config"]

_KEYS_HELP = ", ".join(KEYS)


def _profile_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--profile",
        "-p",
        metavar="NAME",
        callback=check_profile,
        help="The profile's own setting [default: the setting for every profile].",
    )(func)


def _key(ctx: click.Context, param: click.Parameter, value: str) -> str:
    key = value.replace("_", "-").lower()
    if key not in KEYS and "secret" not in key:
        raise click.BadParameter(
            f"{value!r} is not a setting; one of: {_KEYS_HELP}", ctx=ctx, param=param
        )
    return key


@click.group()
def config() -> None:
    """Settings given once: defaults for `login`, per profile or for every profile.

    Keys are login's option names: server, client-id, scope, redirect-uri… An
    option on the command line wins, then LOOPBACK_LOGIN_CLIENT_ID and
    LOOPBACK_LOGIN_SERVER, then a profile's setting, then the setting for every
    profile, then what the profile's last login used. Never a secret.
    """


@config.command("set")
@_profile_option
@click.argument("key", callback=_key)
@click.argument("values", metavar="VALUE...", nargs=-1, required=True)
def set_(profile: str | None, key: str, values: tuple[str, ...]) -> None:
    """Set KEY (redirect-uri takes several values).

    \b
    Examples:
      loopback-login config set client-id YOUR_CLIENT_ID
      loopback-login config set -p work server partner
      loopback-login config set -p work redirect-uri http://localhost:8400/callback
    """
    value = check_value(key, values)
    path = default_config_path()
    update_settings(path, lambda s: s.table(profile).__setitem__(key, value))
    where = f"profile {profile!r}" if profile else "every profile"
    say(f"Set {key} for {where} in {path}.")


@config.command()
@_profile_option
@click.argument("key", callback=_key)
def get(profile: str | None, key: str) -> None:
    """Print KEY's value for the profile (its own, else every profile's)."""
    _, settings = settings_file()
    table = settings.for_profile(profile) if profile else settings.everywhere
    if key not in table:
        where = f"profile {profile!r}" if profile else "every profile"
        raise ConfigError(
            f"{key} is not set for {where}",
            hint="set it: loopback-login config set "
            + (f"--profile {profile} " if profile else "")
            + f"{key} VALUE",
        )
    click.echo(show(table[key]))


@config.command("list")
@_profile_option
def list_(profile: str | None) -> None:
    """Print the settings: what applies to the profile, or the whole file."""
    path, settings = settings_file()
    say(f"# {path}")
    if profile:
        for key, value in sorted(settings.for_profile(profile).items()):
            click.echo(f"{key}={show(value)}")
        return
    for key, value in sorted(settings.everywhere.items()):
        click.echo(f"{key}={show(value)}")
    for name in sorted(settings.profiles):
        for key, value in sorted(settings.profiles[name].items()):
            click.echo(f"{name}.{key}={show(value)}")


@config.command()
@_profile_option
@click.argument("key", callback=_key)
def unset(profile: str | None, key: str) -> None:
    """Remove KEY (the profile's own, or the one for every profile)."""
    path = default_config_path()
    removed: list[object] = []
    update_settings(
        path, lambda s: removed.append(s.table(profile).pop(key, None) is not None)
    )
    where = f"profile {profile!r}" if profile else "every profile"
    say(
        f"Removed {key} for {where}."
        if removed[0]
        else f"{key} was not set for {where}."
    )


@config.command()
def path() -> None:
    """Print where the settings file is (LOOPBACK_LOGIN_CONFIG, else the user
    config folder)."""
    click.echo(default_config_path())
