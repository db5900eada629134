"""Settings given once: which keys the settings file takes, how a value is checked,
and how the layers combine for ``login``.

Precedence, highest first: an option on the command line, its environment variable
(``LOOPBACK_LOGIN_CLIENT_ID``, ``LOOPBACK_LOGIN_SERVER``), the profile's table in
the settings file, the file's keys for every profile, what the profile's last login
used, the built-in default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import click

from loopback_login.environment import CLIENT_ID_ENV, CLIENT_SECRET_ENV, SERVER_ENV
from loopback_login.errors import ConfigError
from loopback_login.protocol.provider import AUTHORIZE_PARAMS, CLIENT_AUTH_METHODS
from loopback_login.store.config_file import (
    Settings,
    client_id_known,
    default_config_path,
    read_settings,
)

__all__ = [
    "KEYS",
    "check_value",
    "from_entry",
    "layered",
    "profile_settings",
    "show",
]

# Key: what the value is (a choice lists its values). Keys are login's option names.
KEYS: dict[str, str | tuple[str, ...]] = {
    "server": "server",
    "client-id": "text",
    "client-auth": CLIENT_AUTH_METHODS,
    "private-key": "path",
    "key-id": "text",
    "scope": "text",
    "method": ("get", "post"),
    "pkce": ("S256", "plain"),
    "redirect-uri": "list",
    "issuer": "text",
    "jwks-uri": "text",
    **{name.replace("_", "-"): "text" for name in AUTHORIZE_PARAMS},
    "endpoint-id": "text",
    "access-token-ttl": "seconds",
    "refresh-token-ttl": "seconds",
}
_SECRETS = ("client-secret", "client-secret-file", "secret")


def check_value(key: str, values: tuple[str, ...]) -> str | int | list[str]:
    """The value ``config set KEY VALUES…`` stores, or click.BadParameter."""
    if key in _SECRETS or "secret" in key:
        raise click.BadParameter(
            f"{key!r}: a secret is never written to disk; set {CLIENT_SECRET_ENV} "
            "or pass --client-secret-file to the command that needs it",
            param_hint="KEY",
        )
    kind = KEYS.get(key)
    if kind is None:
        raise click.BadParameter(
            f"{key!r} is not a setting; one of: {', '.join(KEYS)}", param_hint="KEY"
        )
    if kind == "list":
        from loopback_login.loopback.config import RedirectTarget

        for value in values:
            _check(lambda v=value: RedirectTarget.parse(v))
        return list(values)
    if len(values) != 1:
        raise click.BadParameter(f"{key} takes one value", param_hint="VALUE")
    value = values[0]
    if isinstance(kind, tuple):
        if value not in kind:
            raise click.BadParameter(
                f"{value!r}: use one of {', '.join(kind)}", param_hint="VALUE"
            )
    elif kind == "server":
        from loopback_login.protocol.urls import resolve_server

        _check(lambda: resolve_server(value))
    elif kind == "seconds":
        if not value.isdigit() or int(value) < 1:
            raise click.BadParameter(
                f"{value!r} is not a whole number of seconds", param_hint="VALUE"
            )
        return int(value)
    elif kind == "path":
        return os.path.abspath(os.path.expanduser(value))
    elif not value.strip():
        raise click.BadParameter(
            "an empty value; use `config unset`", param_hint="VALUE"
        )
    return value


def _check(call: Any) -> None:
    try:
        call()
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="VALUE") from exc


def profile_settings(
    profile: str, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """The settings file's values for ``profile``, as ``login``'s option names."""
    return read_settings(default_config_path(environ)).for_profile(profile)


def layered(
    opts: dict[str, Any],
    profile: str,
    given: set[str],
    environ: Mapping[str, str] = os.environ,
) -> dict[str, Any]:
    """``login``'s options with what was not given (``given``: the option names set
    on the command line or by their variable) taken from the environment, then the
    settings file."""
    merged = dict(opts)
    file_values = profile_settings(profile, environ)
    for key in KEYS:
        dest = key.replace("-", "_")
        if dest in given:
            continue
        if key in file_values:
            value = file_values[key]
            merged[dest] = tuple(value) if isinstance(value, list) else value
    for dest, name in (("client_id", CLIENT_ID_ENV), ("server", SERVER_ENV)):
        if dest not in given and environ.get(name):
            merged[dest] = environ[name]
    return merged


def from_entry(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A profile's remembered settings as the file's keys: what ``logout`` keeps.

    Values equal to the built-in defaults are left out, so the file shows what
    was chosen.
    """
    out: dict[str, Any] = {}
    plain = {
        "server": "server",
        "client_id": "client-id",
        "private_key_path": "private-key",
        "key_id": "key-id",
        "scope": "scope",
        "issuer": "issuer",
        "jwks_uri": "jwks-uri",
    }
    for field, key in plain.items():
        if isinstance(settings.get(field), str) and settings[field]:
            out[key] = settings[field]
    if settings.get("client_auth") not in (None, "none"):
        out["client-auth"] = settings["client_auth"]
    if settings.get("method") not in (None, "get"):
        out["method"] = settings["method"]
    if settings.get("pkce_method") not in (None, "S256"):
        out["pkce"] = settings["pkce_method"]
    for group in ("authorize_params", "token_params"):
        for name, value in dict(settings.get(group) or {}).items():
            key = str(name).replace("_", "-")
            if KEYS.get(key) == "seconds" and str(value).isdigit():
                out[key] = int(value)
            elif KEYS.get(key) == "text":
                out[key] = str(value)
    uris = settings.get("redirect_uris")
    if isinstance(uris, (list, tuple)) and uris:
        out["redirect-uri"] = [str(u) for u in uris]
    return {k: v for k, v in out.items() if k in KEYS}


def can_sign_in_again(
    profile: str,
    remembered: Mapping[str, Any] | None,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Whether ``loopback-login login --profile NAME`` alone has a client id."""
    if remembered and remembered.get("client_id"):
        return True
    return client_id_known(profile, environ)


def show(value: Any) -> str:
    """A setting as ``config get`` prints it."""
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


def settings_file() -> tuple[str, Settings]:
    path = default_config_path()
    return path, read_settings(path)
