"""memory: peak RSS of ``loopback-login token`` (cached) and of a CLI
``loopback-login login`` against the emulator, with ``python -c pass`` and the
peers' cached paths beside them.

Measured with GNU time (``/usr/bin/time -f %M``): our own getrusage of a child would
include this process's pages, because Python spawns with vfork.
"""

from __future__ import annotations

import os

from common import (
    BENCH,
    PY,
    SCOPE,
    SCRIPT,
    TIME,
    Emulator,
    Section,
    child_env,
    log,
    login_into,
    peak_rss,
    scratch,
    standalone,
)


def run(quick: bool) -> Section:
    section = Section("memory")
    if not os.access(TIME, os.X_OK):
        section.row("peak RSS", text=f"needs GNU time at {TIME} (apt-get install time)")
        return section
    from token_startup import PEERS, _google_file, _msal_folder

    from loopback_login.emulator import DEMO_CLIENT_ID

    repeats, logins = (3, 2) if quick else (7, 5)
    with Emulator.running() as emu, scratch("memory") as work:
        home = work / "home"
        token = login_into(home, emu.url)
        env = child_env(LOOPBACK_LOGIN_HOME=str(home))
        commands: list[tuple[str, list[str], str | None]] = [
            ("`python -c pass` (floor)", [PY, "-c", "pass"], None),
            ("`loopback-login token` (cached)", [SCRIPT, "token"], token),
        ]
        for label, script, build in (
            ("google-auth cached path", "google_token.py", _google_file),
            ("MSAL cached path", "msal_token.py", _msal_folder),
        ):
            folder = work / script.split(".")[0]
            folder.mkdir()
            try:
                path, peer_token = build(folder)
            except ImportError as exc:
                section.row(label, text=f"not installed ({exc.name})")
                continue
            commands.append((label, [PY, str(PEERS / script), str(path)], peer_token))
        log(f"memory: {repeats} runs per command, {logins} CLI logins")
        for label, argv, expect in commands:
            peaks = []
            for _ in range(repeats):
                run_, kib = peak_rss(argv, env, timeout=15)
                if run_.returncode != 0 or (expect and run_.stdout.strip() != expect):
                    raise RuntimeError(f"{label} failed: {run_.stderr[-300:]}")
                peaks.append(kib)
            section.row(label, peaks, unit="MiB")

        browser = f"{PY} {BENCH / 'browser_cmd.py'} %s"
        peaks, walls = [], []
        for index in range(logins):
            folder = work / f"login{index}"
            argv = [
                SCRIPT, "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
                "--scope", SCOPE, "--cache-dir", str(folder), "--timeout", "20",
            ]  # fmt: skip
            run_, kib = peak_rss(argv, child_env(BROWSER=browser), timeout=40)
            if run_.returncode != 0 or not (folder / "default.json").exists():
                raise RuntimeError(f"login failed: {run_.stderr[-400:]}")
            peaks.append(kib)
            walls.append(run_.wall)
        section.row(
            "`loopback-login login` (CLI, against the emulator)", peaks, unit="MiB"
        )
        section.row("… its wall time (start-up, browser script, exchange, exit)", walls)
    section.notes.append(
        "the login's browser is `bench/browser_cmd.py` through `$BROWSER` (urllib "
        "following the redirects; the emulator approves on its own); GNU time's "
        "figure is the largest of the process and the children it waited for, and "
        "the login process is the larger one."
    )
    return section


if __name__ == "__main__":
    standalone(run)
