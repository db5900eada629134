"""The schedules ``keepalive --install`` writes, compared byte for byte with golden
files, and the crontab edits that add and remove exactly our lines."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
from pathlib import Path

import pytest

from loopback_login.cli.schedule import (
    MARKER,
    add_cron_entry,
    cron_entry,
    format_duration,
    launchd_plist,
    parse_duration,
    remove_cron_entry,
    systemd_units,
)
from loopback_login.errors import ConfigError

GOLDEN = Path(__file__).parent / "golden"
# A space and a % in the paths: both need escaping, differently in each format.
COMMAND = [
    "/opt/loopback login/bin/loopback-login", "keepalive", "--all",
    "--cache-dir", "/srv/100%/sessions",
]  # fmt: skip
EVERY = 12 * 3600.0


def test_systemd_units_are_exact() -> None:
    units = systemd_units(COMMAND, EVERY)
    assert sorted(units) == [
        "loopback-login-keepalive.service",
        "loopback-login-keepalive.timer",
    ]
    for name, text in units.items():
        assert text == (GOLDEN / name).read_text(), name
    assert "Persistent=true" in units["loopback-login-keepalive.timer"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed"
)
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """systemd's own parser finds nothing wrong with the units or the calendar."""
    for name, text in systemd_units(COMMAND, EVERY).items():
        (tmp_path / name).write_text(text)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "loopback-login-keepalive.timer")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == ""
    for every in (1800.0, 6 * 3600.0, 2 * 86400.0):
        timer = systemd_units(COMMAND, every)["loopback-login-keepalive.timer"]
        calendar = timer.split("OnCalendar=")[1].splitlines()[0]
        check = subprocess.run(
            ["systemd-analyze", "calendar", calendar],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert check.returncode == 0, check.stderr


def test_launchd_plist_is_exact_and_parses() -> None:
    text = launchd_plist(COMMAND, EVERY)
    assert text == (GOLDEN / "local.loopback-login.keepalive.plist").read_text()
    parsed = plistlib.loads(text.encode())
    assert parsed["ProgramArguments"] == COMMAND
    assert parsed["StartInterval"] == 43200
    assert parsed["RunAtLoad"] is True


def test_cron_entry_is_exact() -> None:
    assert cron_entry(COMMAND, EVERY) == (GOLDEN / "crontab.txt").read_text()
    assert cron_entry(COMMAND, 1800).splitlines()[1].startswith("*/30 * * * * ")
    assert cron_entry(COMMAND, 86400).splitlines()[1].startswith("0 0 */1 * * ")


def test_crontab_edits_keep_everything_else() -> None:
    """Installing twice leaves one entry; removing it restores the table exactly."""
    mine = "MAILTO=me@example.com\n# my backup\n0 3 * * * /usr/bin/backup\n"
    entry = cron_entry(COMMAND, EVERY)
    once = add_cron_entry(mine, entry)
    twice = add_cron_entry(once, entry)
    assert once == twice == mine + entry
    assert twice.count(MARKER) == 1
    assert remove_cron_entry(twice) == mine
    assert add_cron_entry("0 3 * * * x", entry) == "0 3 * * * x\n" + entry
    assert remove_cron_entry("") == ""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12h", 43200), ("2d", 172800), ("30m", 1800), ("30min", 1800), ("90", 90),
     ("1w", 604800), ("1.5h", 5400), (" 2D ", 172800)],
)  # fmt: skip
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-1h", "0", "2 days", "1e3", "12hh"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text)
    assert caught.value.hint


def test_format_duration() -> None:
    assert [format_duration(s) for s in (43200, 172800, 1800, 90, 604800, 5400)] == [
        "12h", "2d", "30m", "90s", "1w", "90m",
    ]  # fmt: skip


@pytest.mark.parametrize("every", [45.0, 7 * 3600 + 60, 90 * 60, 29 * 86400])
def test_intervals_a_schedule_cannot_say_are_refused(every: float) -> None:
    with pytest.raises(ConfigError) as caught:
        systemd_units(COMMAND, every)
    assert "12h" in (caught.value.hint or "")
