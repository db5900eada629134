"""``keepalive``, ``status`` and the expiry warning as people and schedulers run
them: real processes, a real emulator, schedules installed into a temporary home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import Cli as BaseCli
from helpers import EmulatorStarter, ThreadedEmulator

from loopback_login.cli.schedule import MARKER, cron_entry, systemd_units
from loopback_login.emulator import DEMO_CLIENT_ID, STATE


class Cli(BaseCli):
    """The CLI with its own home, config folder and PATH besides its cache folder."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "sessions")
        self.user_home = root / "home"
        self.config = root / "config"
        self.bin = root / "bin"
        for folder in (self.user_home, self.bin):
            folder.mkdir(parents=True)
        self.env.update(
            HOME=str(self.user_home),
            XDG_CONFIG_HOME=str(self.config),
            # No systemctl, launchctl or crontab but those a test puts here.
            PATH=str(self.bin),
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "loopback_login", *args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def login(
        self, emu: ThreadedEmulator, *args: str
    ) -> subprocess.CompletedProcess[str]:
        result = self(
            "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
            "--timeout", "20", *args,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """This module's CLI: schedules land in a temporary home, not the machine's."""
    return Cli(tmp_path)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")) if folder.exists() else []


def this_installation() -> str:
    return str(Path(os.path.abspath(sys.executable)).parent / "loopback-login")


def refresh_tokens_spent(emu: ThreadedEmulator) -> list[str]:
    def spent() -> list[str]:
        return [
            r.params["refresh_token"]
            for r in emu.app[STATE].requests  # type: ignore[index]
            if r.endpoint == "token" and r.params.get("grant_type") == "refresh_token"
        ]

    return emu.call(spent)  # type: ignore[no-any-return]


# -- schedules ----------------------------------------------------------------------


def test_install_prints_the_schedule_of_this_installation(cli: Cli) -> None:
    """Without --write it only prints: absolute paths, the cache folder in use."""
    result = cli("keepalive", "--install", "--scheduler", "systemd")
    assert result.returncode == 0, result.stderr
    command = [this_installation(), "keepalive", "--all", "--cache-dir", str(cli.home)]
    units = systemd_units(command, 12 * 3600)
    folder = cli.config / "systemd" / "user"
    expected = "".join(f"# {folder / name}\n{text}\n" for name, text in units.items())
    assert result.stdout == expected
    assert "--write" in result.stderr
    assert files_under(cli.config) == []


@pytest.mark.parametrize("scheduler", ["systemd", "launchd"])
def test_install_write_then_uninstall_leaves_nothing(cli: Cli, scheduler: str) -> None:
    """The files land in the user's config, the activation command is named when
    the tool is missing, and --uninstall removes every trace."""
    installed = cli("keepalive", "--install", "--write", "--every", "6h",
                    "--scheduler", scheduler)  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    where = cli.config if scheduler == "systemd" else cli.user_home
    written = [p for p in files_under(where) if p.is_file()]
    if scheduler == "systemd":
        assert [p.name for p in written] == [
            "loopback-login-keepalive.service",
            "loopback-login-keepalive.timer",
        ]
        assert "OnCalendar=*-*-* 00/6:00:00" in written[1].read_text()
        assert "systemctl not found" in installed.stderr
        assert "enable --now loopback-login-keepalive.timer" in installed.stderr
    else:
        assert [str(p.relative_to(where)) for p in written] == [
            "Library/LaunchAgents/local.loopback-login.keepalive.plist"
        ]
        assert "<integer>21600</integer>" in written[0].read_text()
        assert "launchctl not found" in installed.stderr
    assert this_installation() in written[0].read_text()

    removed = cli("keepalive", "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert files_under(where) == []
    again = cli("keepalive", "--uninstall")
    assert "No keep-alive schedule was installed" in again.stderr


def test_install_never_overwrites_a_file_it_did_not_write(cli: Cli) -> None:
    folder = cli.config / "systemd" / "user"
    folder.mkdir(parents=True)
    theirs = folder / "loopback-login-keepalive.timer"
    theirs.write_text("[Timer]\nOnCalendar=daily\n")
    result = cli("keepalive", "--install", "--write", "--scheduler", "systemd")
    assert result.returncode == 1
    assert "was not written by loopback-login" in result.stderr
    assert theirs.read_text() == "[Timer]\nOnCalendar=daily\n"
    assert not (folder / "loopback-login-keepalive.service").exists()
    assert cli("keepalive", "--uninstall").returncode == 0
    assert theirs.exists()


def test_cron_install_and_uninstall_keep_the_rest_of_the_table(cli: Cli) -> None:
    """A crontab program that keeps its table in a file stands in for cron's."""
    table = cli.user_home / "crontab"
    crontab = cli.bin / "crontab"
    crontab.write_text(
        "#!/bin/sh\n"
        f'f="{table}"\n'
        'if [ "$1" = "-l" ]; then\n'
        '  [ -f "$f" ] && exec /bin/cat "$f"\n'
        '  echo "no crontab for $USER" >&2; exit 1\n'
        "fi\n"
        '[ "$1" = "-" ] && exec /bin/cat > "$f"\n'
        "exit 2\n"
    )
    crontab.chmod(0o755)
    mine = "MAILTO=me@example.com\n0 3 * * * /usr/bin/backup\n"
    table.write_text(mine)
    for _ in range(2):  # twice: still one entry
        result = cli("keepalive", "--install", "--write", "--scheduler", "cron")
        assert result.returncode == 0, result.stderr
    command = [this_installation(), "keepalive", "--all", "--cache-dir", str(cli.home)]
    # cron mails any output: the entry asks for failures only.
    assert table.read_text() == mine + cron_entry([*command, "--quiet"], 12 * 3600)
    # The scheduled line runs as cron would: no PATH, no LOOPBACK_LOGIN_HOME.
    line = table.read_text().splitlines()[-1].split(" ", 5)[5]
    scheduled = subprocess.run(
        ["/bin/sh", "-c", line], env={"HOME": str(cli.user_home)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (scheduled.returncode, scheduled.stderr) == (0, "")
    assert cli("keepalive", "--uninstall").returncode == 0
    assert table.read_text() == mine
    assert MARKER not in table.read_text()


def test_schedule_usage_errors(cli: Cli) -> None:
    """Bad combinations and intervals: one clear line, non-zero exit, nothing written."""
    slow = cli("keepalive", "--install", "--every", "3d", "--scheduler", "systemd")
    assert slow.returncode == 1
    assert "--every" in slow.stderr
    bad = cli("keepalive", "--install", "--every", "soon")
    assert bad.returncode == 1
    assert "is not a duration" in bad.stderr
    both = cli("keepalive", "--install", "--uninstall")
    assert both.returncode == 2
    assert cli("keepalive", "--write").returncode == 2
    assert files_under(cli.config) == []


# -- runs, status, warnings ---------------------------------------------------------


def test_enable_status_run_and_warning(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """A one-hour refresh token: login and token warn once until keep-alive is on;
    status shows every expiry; keepalive refreshes only opted-in profiles."""
    emu = threaded_emulator()
    login = cli.login(emu, "--refresh-token-ttl", "3600")
    assert login.stderr.count("warning: the refresh token") == 1
    assert "keepalive --enable --profile default" in login.stderr

    token = cli("token")
    assert token.returncode == 0, token.stderr
    assert token.stdout == cli.entry()["tokens"]["access_token"] + "\n"
    assert token.stderr.count("warning:") == 1
    assert "expires in 59 min" in token.stderr or "expires in 1 h" in token.stderr

    nothing = cli("keepalive", "--all")
    assert nothing.returncode == 0
    assert "No profile has keep-alive on" in nothing.stderr
    assert refresh_tokens_spent(emu) == []

    assert "Keep-alive on for profile 'default'" in cli("keepalive", "--enable").stderr
    assert cli.entry()["settings"]["keepalive"] is True
    quiet = cli("token")
    assert quiet.stderr == ""

    status = cli("status")
    assert "keep-alive:  on" in status.stdout
    assert "refresh:     expires" in status.stdout
    [row] = json.loads(cli("status", "--json", "-p", "default").stdout)
    assert row["keepalive"] is True
    assert row["refresh_expires_at_utc"].endswith("Z")
    assert time.strptime(row["access_expires_at_utc"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(row["refresh_expires_at"] - time.time() - 3600) < 60
    assert row["session_expires_at"] is None
    assert row["state"] == "valid"

    run = cli("keepalive", "--all")
    assert run.returncode == 0, run.stderr
    assert "default: refreshed: the refresh token is good until" in run.stderr
    assert "keep-alive: 1 refreshed" in run.stderr
    assert len(refresh_tokens_spent(emu)) == 1
    report = json.loads(cli("keepalive", "--all", "--within", "30m", "--json").stdout)
    assert report["ok"] is True
    assert [p["status"] for p in report["profiles"]] == ["not due"]
    assert len(refresh_tokens_spent(emu)) == 1

    assert cli("keepalive", "--disable").returncode == 0
    assert "keepalive" not in cli.entry()["settings"]
    assert "keep-alive:  off" in cli("status").stdout


def test_session_end_shown_and_a_dead_session_fails_the_run(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """status names the absolute end; a session the server ended makes the run
    exit 1 with the cure, and the next run spends no request on it."""
    emu = threaded_emulator(session_ttl=10 * 86400)
    cli.login(emu)
    assert "(absolute limit)" in cli("status").stdout
    [row] = json.loads(cli("status", "--json", "-p", "default").stdout)
    assert abs(row["session_expires_at"] - time.time() - 10 * 86400) < 60
    assert cli("keepalive", "--enable").returncode == 0
    refresh = cli.entry()["tokens"]["refresh_token"]
    emu.call(lambda: emu.app[STATE].revoke_session(  # type: ignore[index]
        emu.app[STATE].session_by_refresh(refresh).session_id))  # type: ignore[index]  # fmt: skip

    first = cli("keepalive", "--all", "--within", "8d")
    assert first.returncode == 1
    assert "default: failed:" in first.stderr
    assert "loopback-login login --profile default" in first.stderr
    assert cli.entry()["dead"]
    second = cli("keepalive", "--all", "--within", "8d", "--quiet")
    assert second.returncode == 1
    assert "default: skipped: the session has ended" in second.stderr
    assert len(refresh_tokens_spent(emu)) == 1


def test_keepalive_racing_16_token_calls_spends_each_refresh_token_once(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """One keepalive and sixteen `token` processes on a stale session: one
    refresh, every caller answered, no refresh token sent twice."""
    emu = threaded_emulator()
    cli.login(emu)
    path = cli.home / "default.json"
    entry = json.loads(path.read_text())
    entry["tokens"]["expires_at"] = time.time() - 1
    path.write_text(json.dumps(entry))

    procs = [cli.popen("keepalive", "-p", "default")]
    procs += [cli.popen("token") for _ in range(16)]
    outputs = [p.communicate(timeout=120) for p in procs]

    assert [p.returncode for p in procs] == [0] * 17, outputs
    spent = refresh_tokens_spent(emu)
    assert len(spent) == len(set(spent)) == 1
    final = cli.entry()
    assert not final.get("dead")
    tokens = {out for out, _ in outputs[1:]}
    assert tokens == {final["tokens"]["access_token"] + "\n"}
    assert "default: " in outputs[0][1]
