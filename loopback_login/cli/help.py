"""``--help`` in sections: options grouped by what they are about, examples last.

click has no option groups; a Command that writes its options in sections is a
screenful, where a package for it would wrap every option's decorator.
"""

from __future__ import annotations

from typing import Any

import click

__all__ = ["GROUPS", "GroupedCommand"]

# Section titles in the order shown; an option named in none goes under "Other".
GROUPS: dict[str, tuple[str, ...]] = {
    "Profile": ("--profile", "--all", "--cache-dir"),
    "Sign-in": (
        "--login", "--no-browser", "--timeout", "--redirect-uri", "--method",
        "--pkce", "--local", "--forget", "--token-file", "--browser-command",
    ),
    "Client authentication": (
        "--client-id", "--client-auth", "--client-secret-file", "--private-key",
        "--key-id",
    ),
    "RingCentral parameters": (
        "--server", "--scope", "--issuer", "--jwks-uri", "--display", "--prompt",
        "--ui-locales", "--locale-id", "--ui-options", "--login-hint", "--brand-id",
        "--endpoint-id", "--access-token-ttl", "--refresh-token-ttl",
    ),
    "Network": ("--http-timeout", "--proxy", "--ca-file"),
    "Output": ("--format", "--min-valid", "--json", "--verbose"),
}  # fmt: skip
_GROUP_OF = {name: title for title, names in GROUPS.items() for name in names}


class GroupedCommand(click.Command):
    """A command whose ``--help`` lists its options under GROUPS' titles."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {}).setdefault("show_default", True)
        super().__init__(*args, **kwargs)

    def format_options(
        self, ctx: click.Context, formatter: click.HelpFormatter
    ) -> None:
        sections: dict[str, list[tuple[str, str]]] = {t: [] for t in GROUPS}
        sections["Other"] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            title = next((_GROUP_OF[o] for o in param.opts if o in _GROUP_OF), "Other")
            sections[title].append(record)
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)
