"""Hints that work as printed, whoever raised them.

The layers below speak of ``--server`` or ``loopback-login login --profile NAME``
without knowing which command runs or what the profile holds. Before a hint is
shown it is fitted to both: a login command gets ``--client-id CLIENT_ID`` when
nothing else would give it one, and an option the running command does not take
becomes the profile's setting of that name (it came from the profile's login).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import click

from loopback_login.errors import LoopbackLoginError, login_hint
from loopback_login.store.file_store import FileTokenStore

__all__ = ["fit_hint", "options_of"]

_LOGIN = re.compile(r"run: loopback-login login --profile ([A-Za-z0-9][A-Za-z0-9._-]*)")
# A command printed for the person to run: its options are that command's own.
_COMMAND = re.compile(r"loopback-login(?: (?!or\b|and\b|then\b)[^\s,;`]+)*")
_OPTION = re.compile(r"--[a-z][a-z0-9-]*")


def options_of(command: click.Command) -> set[str]:
    """The long and short option names a person can see on ``command``."""
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


def fit_hint(
    exc: LoopbackLoginError,
    command: click.Command | None,
    store: FileTokenStore | None,
    environ: Mapping[str, str] = os.environ,
    group: click.Group | None = None,
) -> None:
    """Rewrite ``exc.hint`` in place for ``command`` and the profiles it names;
    ``group`` (the CLI) tells our options from other programs'."""
    if not exc.hint:
        return
    hint = exc.hint
    if store is not None and "--client-id CLIENT_ID" not in hint:
        hint = _LOGIN.sub(lambda m: _login_for(m.group(1), store, environ), hint)
    if command is not None:
        ours = None
        if group is not None:
            ours = set().union(*(options_of(c) for c in group.commands.values()))
        hint = _own_options(hint, options_of(command), ours)
    exc.hint = hint


def _login_for(profile: str, store: FileTokenStore, environ: Mapping[str, str]) -> str:
    from loopback_login.cli.settings import can_sign_in_again

    try:
        entry = store.load(profile)
    except LoopbackLoginError:
        entry = None
    remembered = entry.get("settings") if isinstance(entry, dict) else None
    known = can_sign_in_again(
        profile, remembered if isinstance(remembered, dict) else None, environ
    )
    return login_hint(profile, client_id_known=known)


def _own_options(hint: str, own: set[str], ours: set[str] | None) -> str:
    commands = [m.span() for m in _COMMAND.finditer(hint)]
    # An option no command of ours has belongs to another program the hint names
    # (``gnome-keyring-daemon --unlock``): it stays as it is.

    def replace(match: re.Match[str]) -> str:
        start = match.start()
        if match.group(0) in own or any(a <= start < b for a, b in commands):
            return match.group(0)
        if ours is not None and match.group(0) not in ours:
            return match.group(0)
        return f"the profile's {match.group(0)[2:]} setting"

    return _OPTION.sub(replace, hint)
