"""``keepalive``: refresh idle sessions before their refresh tokens die, turn it on
or off per profile, and install the schedule that runs it.

The work is :class:`~loopback_login.session.keepalive.KeepAlive`; the schedules'
text is :mod:`.schedule`. This module parses flags, decides where files go, and
says what happened: one line per profile and a summary on stderr, or ``--json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from loopback_login.cli.common import (
    SECRET_ENV,
    common,
    drive,
    http_timeout_option,
    read_secret,
    say,
    secret_options,
    setup,
)
from loopback_login.cli.schedule import (
    LAUNCHD_LABEL,
    MARKER,
    SCHEDULERS,
    SYSTEMD_UNIT,
    add_cron_entry,
    cron_entry,
    format_duration,
    launchd_plist,
    parse_duration,
    remove_cron_entry,
    systemd_units,
)
from loopback_login.errors import ConfigError, LoopbackLoginError, printable
from loopback_login.session.keepalive import (
    DEFAULT_WITHIN,
    KeepAlive,
    Report,
    set_keepalive,
)
from loopback_login.store.file_store import FileTokenStore, validate_profile_name

__all__ = ["keepalive"]

ENABLE_HINT = "loopback-login keepalive --enable --profile NAME"


@click.command()
@click.option(
    "--all", "all_", is_flag=True, help="Every profile with keep-alive turned on."
)
@click.option(
    "--within",
    metavar="DURATION",
    default=format_duration(DEFAULT_WITHIN),
    show_default=True,
    help="Refresh when the refresh token expires within this (12h, 2d…).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option(
    "--quiet", "-q", is_flag=True, help="Say nothing unless a profile failed."
)
@click.option(
    "--enable", "switch", flag_value="on", help="Turn keep-alive on for the profile."
)
@click.option("--disable", "switch", flag_value="off", help="Turn it off again.")
@click.option(
    "--install",
    is_flag=True,
    help="Print the schedule running `keepalive --all` (add --write to install it).",
)
@click.option(
    "--every",
    metavar="DURATION",
    default="12h",
    show_default=True,
    help="With --install: how often the schedule runs.",
)
@click.option("--write", is_flag=True, help="With --install: install it, not print.")
@click.option("--uninstall", is_flag=True, help="Remove what --install --write wrote.")
@click.option(
    "--scheduler",
    type=click.Choice(SCHEDULERS),
    help="With --install [default: launchd on macOS, systemd where it runs, else "
    "cron]; --uninstall without it looks in all three.",
)
@http_timeout_option()
@secret_options
@common
def keepalive(
    profile: str, cache_dir: str | None, verbose: bool, all_: bool, within: str,
    as_json: bool, quiet: bool, switch: str | None, install: bool, every: str,
    write: bool, uninstall: bool, scheduler: str | None, http_timeout: float,
    client_secret_file: Any, client_secret: str | None,
) -> None:  # fmt: skip
    """Keep sessions alive while unused: refresh each one whose refresh token
    expires soon. For cron, systemd timers and launchd; safe to run any time.

    Turn it on per profile with --enable, then install a schedule that runs
    `keepalive --all`: `loopback-login keepalive --install --write`.
    """
    ctx = click.get_current_context()
    modes = [m for m, on in (("--enable/--disable", switch), ("--install", install),
             ("--uninstall", uninstall)) if on]  # fmt: skip
    if len(modes) > 1:
        raise click.UsageError(f"{' and '.join(modes)} cannot be combined")
    explicit = {
        name
        for name in ("every", "write", "within", "scheduler")
        if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
    }
    if not install and explicit & {"every", "write"}:
        raise click.UsageError("--every and --write go with --install")
    store = setup(verbose, cache_dir)
    within_s = parse_duration(within)
    if uninstall:
        _uninstall(scheduler)
        return
    if install:
        command = _scheduled_command(
            cache_dir,
            client_secret_file,
            within if "within" in explicit else None,
        )
        _install(
            scheduler or _default_scheduler(),
            command,
            parse_duration(every),
            within_s,
            write,
        )
        return
    if switch is not None:
        _switch(store, profile, all_, switch == "on")
        return
    secret = read_secret(client_secret_file, client_secret)
    names = None if all_ else [validate_profile_name(profile)]

    async def go() -> Report:
        async with KeepAlive(
            store=store,
            within=within_s,
            client_secret=secret,
            http_timeout=http_timeout,
            notify=say,
        ) as runner:
            return await runner.run(names)

    report = drive(go())
    _show(report, as_json=as_json, quiet=quiet, everyone=all_)
    if not report.ok:
        raise _failure(report)


def _show(report: Report, *, as_json: bool, quiet: bool, everyone: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "profiles": [o.to_json() for o in report.outcomes],
                    "counts": report.counts(),
                },
                indent=2,
            )
        )
    for outcome in report.outcomes:
        if not (quiet or as_json) or not outcome.ok:
            say(f"{outcome.profile}: {outcome.status}: {outcome.detail}")
    if quiet or as_json:
        return
    if not report.outcomes and everyone:
        say(f"No profile has keep-alive on; turn it on with: {ENABLE_HINT}")
        return
    counts = report.counts()
    say("keep-alive: " + ", ".join(f"{n} {status}" for status, n in counts.items()))


def _failure(report: Report) -> LoopbackLoginError:
    if report.stopped is not None:
        exc = report.stopped
        return LoopbackLoginError(
            "keep-alive stopped: the server's rate limit was reached",
            hint=exc.hint or "wait a minute before running it again",
        )
    failed = [o.profile for o in report.outcomes if not o.ok]
    return LoopbackLoginError(
        f"keep-alive could not keep {len(failed)} profile(s) alive: "
        + ", ".join(failed),
        hint="each profile's line above says what to do; to stop keeping one "
        "alive: loopback-login keepalive --disable --profile NAME",
    )


def _switch(store: FileTokenStore, profile: str, everyone: bool, on: bool) -> None:
    names = store.profiles() if everyone else [validate_profile_name(profile)]

    async def go() -> None:
        for name in names:
            await set_keepalive(store, name, on)

    drive(go())
    for name in names:
        say(f"Keep-alive {'on' if on else 'off'} for profile {name!r}.")
    if on and names:
        say(
            "It runs whenever `loopback-login keepalive --all` does: install a "
            "schedule with `loopback-login keepalive --install --write`."
        )
    if not names:
        say("No saved sessions.")


# -- schedules ------------------------------------------------------------------


def _default_scheduler() -> str:
    if sys.platform == "darwin":
        return "launchd"
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        return "systemd"
    return "cron"


def _scheduled_command(
    cache_dir: str | None, secret_file: Any, within: str | None
) -> list[str]:
    """``keepalive --all`` run by this installation, whatever the schedule's PATH
    and environment: absolute paths only, and the secret by its file."""
    here = Path(os.path.abspath(sys.executable)).parent / "loopback-login"
    program = (
        [str(here)]
        if here.is_file()
        else [os.path.abspath(sys.executable), "-m", "loopback_login"]
    )
    command = [*program, "keepalive", "--all"]
    if cache_dir:
        command += ["--cache-dir", os.path.abspath(cache_dir)]
    if secret_file is not None:
        command += ["--client-secret-file", os.path.abspath(secret_file.name)]
    elif os.environ.get(SECRET_ENV):
        say(
            f"warning: the schedule will not see ${SECRET_ENV}; if a profile needs "
            "the client secret, add --client-secret-file FILE"
        )
    if within:
        command += ["--within", within]
    return command


def _systemd_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def _launchd_path() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"


def _install(
    scheduler: str, command: list[str], every: float, within: float, write: bool
) -> None:
    if every >= within:
        raise ConfigError(
            f"a run every {format_duration(every)} cannot catch refresh tokens that "
            f"are refreshed within {format_duration(within)} of their end",
            hint="run it more often (--every) than --within",
        )
    files: dict[Path, str] = {}
    if scheduler == "systemd":
        units = systemd_units(command, every)
        files = {_systemd_dir() / name: text for name, text in units.items()}
        activate = [
            ["systemctl", "--user", "daemon-reload"],
            ["systemctl", "--user", "enable", "--now", f"{SYSTEMD_UNIT}.timer"],
        ]
    elif scheduler == "launchd":
        files = {_launchd_path(): launchd_plist(command, every)}
        activate = [["launchctl", "load", "-w", str(_launchd_path())]]
    else:
        # cron mails whatever a job prints: with --quiet, only a failure.
        entry = cron_entry([*command, "--quiet"], every)
        if not write:
            click.echo(entry, nl=False)
            say("Add these lines with `crontab -e`, or run this again with --write.")
            return
        _write_crontab(add_cron_entry(_read_crontab(), entry))
        say("Added to your crontab (cron does not catch up on runs missed while off).")
        return
    if not write:
        for path, text in files.items():
            click.echo(f"# {path}\n{text}")
        say("Install with --write, or save these files and run: " + _join(activate))
        return
    for path in files:
        if path.exists() and MARKER not in path.read_text(errors="replace"):
            raise ConfigError(
                f"{path} exists and was not written by loopback-login",
                hint="move it away, then run this again",
            )
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        say(f"Wrote {path}")
    _activate(activate)


def _uninstall(scheduler: str | None) -> None:
    removed = False
    if scheduler in (None, "systemd"):
        paths = [
            _systemd_dir() / f"{SYSTEMD_UNIT}.{kind}" for kind in ("timer", "service")
        ]
        ours = [p for p in paths if _ours(p)]
        if ours:
            _activate(
                [["systemctl", "--user", "disable", "--now", f"{SYSTEMD_UNIT}.timer"]]
            )
            removed |= _remove(ours, up_to=_systemd_dir().parent.parent)
            _activate([["systemctl", "--user", "daemon-reload"]])
    if scheduler in (None, "launchd") and _ours(_launchd_path()):
        _activate([["launchctl", "unload", "-w", str(_launchd_path())]])
        removed |= _remove([_launchd_path()], up_to=Path.home())
    if scheduler == "cron" or (scheduler is None and shutil.which("crontab")):
        current = _read_crontab()
        if f"# {MARKER}" in current:
            _write_crontab(remove_cron_entry(current))
            say("Removed the keepalive lines from your crontab.")
            removed = True
    if not removed:
        say("No keep-alive schedule was installed.")


def _ours(path: Path) -> bool:
    try:
        return MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def _remove(paths: list[Path], *, up_to: Path) -> bool:
    """Remove ``paths``, then the folders install made for them, once empty."""
    for path in paths:
        path.unlink(missing_ok=True)
        say(f"Removed {path}")
    for path in paths:
        folder = path.parent
        while folder != up_to and up_to in folder.parents:
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
            folder = folder.parent
    return bool(paths)


def _activate(commands: list[list[str]]) -> None:
    """Run the scheduler's own commands; where that cannot be done, say what to run."""
    for done_so_far, args in enumerate(commands):
        rest = _join(commands[done_so_far:])
        if shutil.which(args[0]) is None:
            say(f"{args[0]} not found here; where it runs, run: {rest}")
            return
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()[:1]
            say(
                f"warning: `{_join([args])}` failed"
                + (f" ({printable(detail[0])})" if detail else "")
                + f"; once it can work, run: {rest}"
            )
            return


def _read_crontab() -> str:
    if shutil.which("crontab") is None:
        raise ConfigError(
            "crontab is not installed", hint="use --scheduler systemd or launchd"
        )
    done = subprocess.run(
        ["crontab", "-l"], capture_output=True, text=True, check=False
    )
    if done.returncode == 0:
        return done.stdout
    # crontab -l fails with "no crontab for USER" when there is none yet; any
    # other failure must stop us, or the table written back would lose its lines.
    if "no crontab" in done.stderr.lower():
        return ""
    raise ConfigError(
        f"could not read the crontab: {printable(done.stderr.strip()[:200])}",
        hint="check `crontab -l`, then run this again",
    )


def _write_crontab(text: str) -> None:
    done = subprocess.run(
        ["crontab", "-"], input=text, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ConfigError(
            f"crontab refused the new table: {printable(done.stderr.strip()[:200])}",
            hint="check `crontab -l`, then run this again",
        )


def _join(commands: list[list[str]]) -> str:
    import shlex

    return " && ".join(shlex.join(args) for args in commands)
