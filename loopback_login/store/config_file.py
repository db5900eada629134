"""The settings file: defaults for ``login`` given once, in TOML, never a secret.

::

    client-id = "abc"               # every profile

    [profiles."work"]               # this profile only; wins over the above
    server = "https://platform.ringcentral.biz"
    redirect-uri = ["http://localhost:8400/callback"]

Keys are ``login``'s option names. ``tomllib`` reads it; this module writes it (a
TOML writer for text, whole numbers and lists of text is a screenful, a dependency
is not), replacing the whole file atomically under a lock so two writers never
lose each other's change. Comments are not kept across a write.
"""

from __future__ import annotations

import os
import sys

from loopback_login.environment import CLIENT_ID_ENV, CONFIG_ENV
from loopback_login.errors import ConfigError
from loopback_login.store import private_files as files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    Value = str | int | list[str]
    Table = dict[str, Value]

__all__ = [
    "MAX_SIZE",
    "Settings",
    "client_id_known",
    "default_config_path",
    "dumps",
    "read_settings",
    "update_settings",
]

MAX_SIZE = 64 * 1024  # a settings file is a few hundred bytes; refuse a runaway one
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")


def default_config_path(environ: Mapping[str, str] = os.environ) -> str:
    """``$LOOPBACK_LOGIN_CONFIG``, else ``config.toml`` in the user config folder."""
    if path := environ.get(CONFIG_ENV):
        return os.path.abspath(os.path.expanduser(path))
    if sys.platform == "linux":
        # What platformdirs.user_config_path answers, without its import.
        base = environ.get("XDG_CONFIG_HOME", "")
        if not base.startswith("/"):
            base = os.path.expanduser("~/.config")
        return os.path.join(base, "loopback-login", "config.toml")
    import platformdirs

    folder = platformdirs.user_config_path("loopback-login", appauthor=False)
    return str(folder / "config.toml")


class Settings:
    """The file's content: keys for every profile, and tables per profile."""

    def __init__(
        self,
        everywhere: Table | None = None,
        profiles: dict[str, Table] | None = None,
    ) -> None:
        self.everywhere: Table = dict(everywhere or {})
        self.profiles: dict[str, Table] = {
            k: dict(v) for k, v in (profiles or {}).items()
        }

    def for_profile(self, profile: str) -> Table:
        """What applies to ``profile``: its own table over the keys for every one."""
        return {**self.everywhere, **self.profiles.get(profile, {})}

    def table(self, profile: str | None) -> Table:
        """The table a ``config set`` changes (``None``: every profile's)."""
        if profile is None:
            return self.everywhere
        return self.profiles.setdefault(profile, {})


def read_settings(path: str) -> Settings:
    """The file's settings (none if it does not exist); ConfigError if unreadable."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SIZE + 1)
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {(exc.strerror or str(exc)).lower()}",
            hint=f"fix its permissions, or remove it: rm {_quote(path)}",
        ) from exc
    if len(data) > MAX_SIZE:
        raise ConfigError(
            f"{path} is over {MAX_SIZE // 1024} KiB: not a settings file",
            hint=f"remove it: rm {_quote(path)}",
        )
    import tomllib

    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            hint=f"correct it, or remove it: rm {_quote(path)}",
        ) from exc
    profiles = parsed.pop("profiles", {})
    if not isinstance(profiles, dict) or not all(
        isinstance(t, dict) for t in profiles.values()
    ):
        raise ConfigError(
            f"{path}: [profiles] must hold one table per profile",
            hint=f"correct it, or remove it: rm {_quote(path)}",
        )
    return Settings(
        _checked(path, parsed, ""),
        {name: _checked(path, t, f"profiles.{name}.") for name, t in profiles.items()},
    )


def client_id_known(profile: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment or the settings file gives ``profile`` a client id."""
    if environ.get(CLIENT_ID_ENV):
        return True
    try:
        settings = read_settings(default_config_path(environ))
    except ConfigError:
        return False
    return bool(settings.for_profile(profile).get("client-id"))


def update_settings(path: str, change: Callable[[Settings], object]) -> Settings:
    """Read the file, apply ``change``, and write it back atomically, all under the
    file's lock; returns what was written."""
    folder = os.path.dirname(path)
    files.ensure_folder(folder)
    from loopback_login.store import locking

    try:
        held = locking.acquire(path + ".lock", 30.0)
    except locking.LockTimeout as exc:
        raise ConfigError(
            f"another loopback-login process is writing {path}",
            hint="wait for it to finish, then run the command again",
        ) from exc
    except OSError as exc:
        raise files.os_error("lock", path, exc) from exc
    try:
        settings = read_settings(path)
        change(settings)
        settings.profiles = {k: v for k, v in settings.profiles.items() if v}
        data = dumps(settings).encode()
        files.replace_with(path, files.write_temp(path, data, prefix="config"))
    finally:
        held.release()
    return settings


def dumps(settings: Settings) -> str:
    """The settings as TOML text that ``tomllib`` reads back the same."""
    lines = [
        "# loopback-login: defaults for `loopback-login login`, kept by `loopback-login",
        "# config` and `logout`. Never a secret. Rewritten whole: comments are not kept.",
        "",
    ]
    lines += [
        f"{_key(k)} = {_value(v)}" for k, v in sorted(settings.everywhere.items())
    ]
    for name in sorted(settings.profiles):
        table = settings.profiles[name]
        lines += ["", f"[profiles.{_string(name)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in sorted(table.items())]
    return "\n".join(lines) + "\n"


def _checked(path: str, table: Mapping[str, Any], where: str) -> Table:
    out: Table = {}
    for key, value in table.items():
        ok = (
            isinstance(value, str)
            or (type(value) is int)
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        )
        if not ok:
            raise ConfigError(
                f"{path}: {where}{key} must be text, a whole number or a list of text",
                hint=f"correct it, or remove it: rm {_quote(path)}",
            )
        out[key] = value
    return out


def _key(key: str) -> str:
    if key and set(key) <= _KEY_CHARS:
        return key
    return _string(key)


def _value(value: Value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_string(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return _string(value)


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _quote(path: str) -> str:
    import shlex  # error messages only

    return shlex.quote(path)
