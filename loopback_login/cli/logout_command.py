"""``logout``: revoke the session at the server, then remove it from disk; the
profile's settings stay in the settings file unless ``--forget``.
"""

from __future__ import annotations

from typing import Any

import click

from loopback_login.cli.common import (
    common,
    drive,
    http_timeout_option,
    read_secret,
    say,
    secret_options,
    setup,
)
from loopback_login.cli.help import GroupedCommand
from loopback_login.errors import LoopbackLoginError, TokenStoreError
from loopback_login.session.entry import ProfileEntry, load_entry
from loopback_login.session.orchestrator import LoginSession

__all__ = ["keep_settings", "logout"]

LOGOUT_EXAMPLES = """\b
Examples:
  loopback-login logout -p work
  loopback-login logout --all --local
  loopback-login logout -p work --forget   # its settings too
"""


@click.command(cls=GroupedCommand, epilog=LOGOUT_EXAMPLES)
@click.option("--all", "all_", is_flag=True, help="Every saved profile.")
@click.option(
    "--local",
    is_flag=True,
    help="Only forget the local copy; the server session lives until it expires.",
)
@click.option(
    "--forget",
    is_flag=True,
    help="Also drop the profile's settings (kept by default, so that "
    "`loopback-login login -p NAME` signs in again).",
)
@http_timeout_option("the revocation endpoint")
@secret_options
@common
def logout(
    profile: str, cache_dir: str | None, verbose: bool, all_: bool, local: bool,
    forget: bool, http_timeout: float, client_secret_file: Any,
    client_secret: str | None,
) -> None:  # fmt: skip
    """Revoke the session at the server, then remove it from disk.

    The profile's settings (server, client id, scopes…: never a secret) stay in the
    settings file, so `loopback-login login -p NAME` signs in again; --forget drops
    them too.
    """
    store = setup(verbose, cache_dir)
    secret = read_secret(client_secret_file, client_secret)
    names = store.profiles() if all_ else [profile]
    failures: list[tuple[str, LoopbackLoginError]] = []

    async def go() -> None:
        for name in names:
            async with LoginSession(
                profile=name,
                store=store,
                client_secret=secret,
                http_timeout=http_timeout,
            ) as session:
                try:
                    entry = load_entry(store, name)
                    removed = await session.logout(local=local)
                except LoopbackLoginError as exc:
                    failures.append((name, exc))
                    continue
            kept = keep_settings(name, entry, forget)
            if not removed:
                say(f"Profile {name!r} was not logged in.")
            elif local:
                say(
                    f"Removed profile {name!r} from this computer; its server session "
                    "stays valid until it expires."
                )
            else:
                say(
                    f"Logged out of profile {name!r}: the session was revoked and removed."
                )
            if kept:
                say(
                    f"Its settings are kept: `loopback-login login --profile {name}` "
                    "signs in again."
                )
            elif forget:
                say(f"Profile {name!r}'s settings are forgotten.")

    drive(go())

    def why(exc: LoopbackLoginError) -> str:  # nothing was revoked if the store failed
        return (
            str(exc)
            if isinstance(exc, TokenStoreError)
            else f"the revocation failed: {exc}"
        )

    for name, exc in failures[:-1]:
        say(f"error: profile {name!r} kept: {why(exc)}")
    if failures:
        name, exc = failures[-1]
        if isinstance(exc, TokenStoreError):
            raise TokenStoreError(
                f"profile {name!r} kept: {exc}", hint=exc.hint
            ) from exc
        local_hint = "or, to forget it here only, add --local"
        raise LoopbackLoginError(
            f"profile {name!r} kept: {why(exc)}",
            hint=f"{exc.hint}; {local_hint}" if exc.hint else local_hint,
        ) from exc
    if not names and all_:
        say("No saved sessions.")


def keep_settings(profile: str, entry: ProfileEntry | None, forget: bool) -> bool:
    """After a logout: the profile's settings into the settings file (True), or out
    of it with ``forget``. Kept settings never hold a secret."""
    from loopback_login.cli.settings import from_entry
    from loopback_login.store.config_file import default_config_path, update_settings

    path = default_config_path()
    if forget:
        update_settings(path, lambda s: s.profiles.pop(profile, None))
        return False
    if entry is None:
        return False
    kept = from_entry(entry.settings)
    update_settings(path, lambda s: s.table(profile).update(kept))
    return True
