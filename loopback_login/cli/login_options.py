"""The ``login`` command's options, and how they combine with what the profile
remembers from its last login (options given now win)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from loopback_login.cli import login_settings
from loopback_login.cli.common import Seconds, http_timeout_option
from loopback_login.environment import CLIENT_ID_ENV, SERVER_ENV
from loopback_login.errors import ConfigError
from loopback_login.protocol.network import NetworkSettings
from loopback_login.protocol.provider import (
    AUTHORIZE_PARAMS,
    CLIENT_AUTH_METHODS,
    GRANTS,
    ProviderConfig,
)
from loopback_login.session.entry import ProfileEntry

__all__ = [
    "build_network",
    "build_provider",
    "check_redirect_uris",
    "check_server",
    "login_options",
]

F = TypeVar("F", bound=Callable[..., Any])


def check_server(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """A server that cannot be used is a usage error (exit code 2)."""
    if value is not None:
        from loopback_login.protocol.urls import resolve_server

        try:
            resolve_server(value)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
    return value


def check_redirect_uris(
    ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
) -> tuple[str, ...]:
    from loopback_login.loopback.config import RedirectTarget

    for uri in value:
        try:
            RedirectTarget.parse(uri)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
    return value


def login_options(func: F) -> F:
    options = [
        click.option("--server", "-s", envvar=SERVER_ENV, callback=check_server,
                     help="production, partner, or a base URL [env "
                     f"{SERVER_ENV}; default: the profile's, else production].",
                     metavar="URL"),
        click.option("--client-id", envvar=CLIENT_ID_ENV, metavar="ID",
                     help=f"The app's Client ID [env {CLIENT_ID_ENV}; default: the "
                     "profile's]."),
        click.option("--grant", type=click.Choice(GRANTS),
                     help="authorization_code: a person signs in with the browser; "
                     "jwt: exchange the user's JWT credential, no browser [default: "
                     "jwt with --jwt-file, else the profile's, else authorization_code]."),
        click.option("--client-auth", type=click.Choice(CLIENT_AUTH_METHODS),
                     help="Client authentication [default: inferred: a secret → "
                     "client_secret_basic, a key → private_key_jwt, else none]."),
        click.option("--private-key", type=click.Path(exists=True, dir_okay=False),
                     help="PEM private key for private_key_jwt."),
        click.option("--key-id", help="kid of the private key, if registered with one."),
        click.option("--scope", help="Space-separated scopes, e.g. 'openid ReadAccounts' "
                     "[default: the profile's, else all the app's scopes]."),
        click.option("--method", type=click.Choice(["get", "post"]),
                     help="Open the authorize endpoint by GET or by a POSTed form "
                     "[default: the profile's, else get]."),
        click.option("--pkce", type=click.Choice(["S256", "plain"]),
                     help="PKCE method [default: the profile's, else S256]."),
        click.option("--redirect-uri", multiple=True, callback=check_redirect_uris,
                     help="Exact registered redirect URI; repeat to give fallbacks for "
                     "busy ports [default: http://127.0.0.1:<free port>/callback]."),
        click.option("--timeout", type=Seconds(min=1), default=300.0,
                     show_default=True, help="Seconds to wait for the sign-in."),
        http_timeout_option(),
        click.option("--no-browser", is_flag=True,
                     help="Print the URL instead of opening a browser; take the URL "
                     "the browser ends on, pasted."),
        click.option("--browser-command", metavar="CMD",
                     help="Open the URL with CMD (%s stands for the URL, else it "
                     "comes last) [default: $BROWSER or the system's browser]."),
        click.option("--proxy", metavar="URL",
                     help="HTTP(S) proxy for every request to the server, remembered "
                     "by the profile; 'none' forgets it [default: $HTTPS_PROXY, "
                     "$HTTP_PROXY, $NO_PROXY]."),
        click.option("--ca-file", metavar="PEM",
                     help="Also trust the CA certificates in PEM (a corporate "
                     "proxy's root), remembered by the profile; 'none' forgets it "
                     "[also: $SSL_CERT_FILE]."),
        click.option("--storage", type=click.Choice(["file", "keyring"]),
                     help="Where the refresh token is kept: the entry file (plain "
                     "text, 0600) or the OS keyring [default: file, or the "
                     "profile's]."),
        click.option("--issuer", help="Expected ID-token issuer [default: the server]."),
        click.option("--jwks-uri", help="Where the ID-token keys are, without discovery."),
        *[click.option(f"--{name.replace('_', '-')}", name,
                       help=f"Authorize parameter {name}.") for name in AUTHORIZE_PARAMS],
        click.option("--endpoint-id", help="Token parameter endpoint_id."),
        click.option("--access-token-ttl", type=click.IntRange(min=1),
                     help="Token parameter access_token_ttl (seconds)."),
        click.option("--refresh-token-ttl", type=click.IntRange(min=1),
                     help="Token parameter refresh_token_ttl (seconds)."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def build_provider(
    opts: dict[str, Any], remembered: ProfileEntry | None, secret: str | None
) -> ProviderConfig:
    """Options given now override what the profile remembers from the last login."""
    return login_settings.build_provider(
        opts, remembered.settings if remembered else None, secret
    )


def build_network(
    opts: dict[str, Any], remembered: ProfileEntry | None
) -> NetworkSettings:
    """``--proxy`` and ``--ca-file`` given now, else as the profile remembers them."""
    return login_settings.build_network(
        opts, remembered.settings if remembered else None
    )
