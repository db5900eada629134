"""``completion``: the shell's completion script, printed for the shell to load.

click writes the scripts; they call ``loopback-login`` back with
``_LOOPBACK_LOGIN_COMPLETE`` set, and profile names come from the store.
"""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem, get_completion_class

__all__ = ["complete_profiles", "completion"]

COMPLETE_VAR = "_LOOPBACK_LOGIN_COMPLETE"
SHELLS = ("bash", "zsh", "fish")
_HOW = {
    "bash": 'eval "$(loopback-login completion bash)"   # in ~/.bashrc',
    "zsh": 'eval "$(loopback-login completion zsh)"    # in ~/.zshrc',
    "fish": "loopback-login completion fish | source    # in ~/.config/fish/config.fish",
}


def complete_profiles(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The saved profiles' names, from --cache-dir or the default store."""
    from loopback_login.store.file_store import FileTokenStore, default_store_dir

    folder = ctx.params.get("cache_dir") or default_store_dir()
    try:
        names = FileTokenStore(folder).profiles()
    except OSError:
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


@click.command(
    epilog="\b\nTo load it in every new shell:\n"
    + "\n".join(f"  {line}" for line in _HOW.values())
)
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the completion script for SHELL: commands, options, profile names."""
    root = click.get_current_context().find_root().command
    cls = get_completion_class(shell)
    assert cls is not None  # every name in SHELLS has one
    click.echo(cls(root, {}, "loopback-login", COMPLETE_VAR).source())
