"""The schedules that run ``keepalive``: a systemd user timer and its service, a
launchd agent, or a crontab line. Pure text from a command and an interval; the
command deciding where they go and writing them is in :mod:`.keepalive_command`.

Every file and line written carries :data:`MARKER`, so that ``--uninstall``
removes only what ``--install`` wrote.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from xml.sax.saxutils import escape

from loopback_login.errors import ConfigError

__all__ = [
    "LAUNCHD_LABEL",
    "MARKER",
    "SCHEDULERS",
    "SYSTEMD_UNIT",
    "add_cron_entry",
    "cron_entry",
    "format_duration",
    "launchd_plist",
    "parse_duration",
    "remove_cron_entry",
    "systemd_units",
]

SCHEDULERS = ("systemd", "launchd", "cron")
# No "--" in it: an XML comment may not hold one.
MARKER = "written by loopback-login keepalive install, removed by keepalive uninstall"
SYSTEMD_UNIT = "loopback-login-keepalive"
LAUNCHD_LABEL = "local.loopback-login.keepalive"

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)?\s*", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """``12h``, ``2d``, ``30m``, ``90s`` or plain seconds, as seconds."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise ConfigError(
            f"{text!r} is not a duration",
            hint="give a number and a unit: 90s, 30m, 12h, 2d or 1w",
        )
    seconds = float(match.group(1)) * _UNITS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise ConfigError(f"{text!r} is not a positive duration", hint="e.g. 12h")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest whole-unit spelling: ``12h``, ``2d``, ``90s``."""
    whole = int(seconds)
    for unit in ("w", "d", "h", "m"):
        if whole == seconds and whole % _UNITS[unit] == 0:
            return f"{whole // _UNITS[unit]}{unit}"
    return f"{seconds:g}s"


def _steps(every: float) -> tuple[str, int]:
    """``every`` as a repetition both cron and systemd's calendar can say."""
    whole = int(every)
    if whole == every:
        if whole % 86400 == 0 and whole // 86400 <= 28:
            return "d", whole // 86400
        if whole % 3600 == 0 and whole < 86400:
            return "h", whole // 3600
        if whole % 60 == 0 and whole < 3600:
            return "m", whole // 60
    raise ConfigError(
        f"a schedule cannot run every {format_duration(every)}",
        hint="use whole minutes under an hour (30m), whole hours under a day (12h) "
        "or whole days up to 28 (1d)",
    )


def systemd_units(command: Sequence[str], every: float) -> dict[str, str]:
    """``loopback-login-keepalive.service`` and ``.timer``, by file name.

    ``Persistent=true``: a run missed while the machine slept or was off happens
    at the next start, which is what keeps a laptop's sessions alive.
    """
    unit, count = _steps(every)
    calendar = {
        "d": f"*-*-01/{count} 00:00:00",
        "h": f"*-*-* 00/{count}:00:00",
        "m": f"*-*-* *:00/{count}:00",
    }[unit]
    exec_start = " ".join(_systemd_quote(arg) for arg in command)
    service = (
        f"# {MARKER}\n"
        "[Unit]\n"
        "Description=Keep loopback-login sessions alive\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={exec_start}\n"
    )
    timer = (
        f"# {MARKER}\n"
        "[Unit]\n"
        f"Description=Run loopback-login keepalive every {format_duration(every)}\n"
        "\n"
        "[Timer]\n"
        f"OnCalendar={calendar}\n"
        "Persistent=true\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return {f"{SYSTEMD_UNIT}.service": service, f"{SYSTEMD_UNIT}.timer": timer}


def launchd_plist(command: Sequence[str], every: float) -> str:
    """A launchd agent running ``command`` every ``every`` seconds and at login.

    launchd runs an interval job missed during sleep once on waking.
    """
    seconds = int(every)
    if seconds != every or seconds < 60:
        raise ConfigError(
            f"launchd cannot run every {format_duration(every)}",
            hint="use whole minutes: 30m, 12h, 1d",
        )
    arguments = "".join(f"        <string>{escape(arg)}</string>\n" for arg in command)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        '"http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n'
        f"<!-- {MARKER} -->\n"
        '<plist version="1.0">\n'
        "<dict>\n"
        "    <key>Label</key>\n"
        f"    <string>{LAUNCHD_LABEL}</string>\n"
        "    <key>ProgramArguments</key>\n"
        "    <array>\n"
        f"{arguments}"
        "    </array>\n"
        "    <key>StartInterval</key>\n"
        f"    <integer>{seconds}</integer>\n"
        "    <key>RunAtLoad</key>\n"
        "    <true/>\n"
        "</dict>\n"
        "</plist>\n"
    )


def cron_entry(command: Sequence[str], every: float) -> str:
    """Two crontab lines: the marker, then the schedule and the command.

    cron does not catch up on runs missed while the machine was off: prefer
    systemd or launchd where there is one.
    """
    unit, count = _steps(every)
    when = {
        "d": f"0 0 */{count} * *",
        "h": f"0 */{count} * * *",
        "m": f"*/{count} * * * *",
    }[unit]
    # In a crontab, % ends the command: escape it.
    line = shlex.join(command).replace("%", "\\%")
    return f"# {MARKER}\n{when} {line}\n"


def add_cron_entry(crontab: str, entry: str) -> str:
    """``crontab`` with ``entry`` in place of any earlier one of ours."""
    kept = remove_cron_entry(crontab)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    return kept + entry


def remove_cron_entry(crontab: str) -> str:
    """``crontab`` without our marker lines and the line after each."""
    lines = crontab.splitlines(keepends=True)
    out: list[str] = []
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            continue
        if line.rstrip("\n") == f"# {MARKER}":
            skip_next = True
            continue
        out.append(line)
    return "".join(out)


def _systemd_quote(arg: str) -> str:
    # % starts a specifier and $ a variable in unit files; quotes and spaces
    # need quoting.
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not re.search(r'[\s"\'\\;]', arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
