"""adapter_storm: long-running programs keep calling the API while another process
forces refreshes.

8 processes, each a GET of the emulator's API every 50 ms through the requests
adapter, for 11 s; a ninth process reports the cached token refused
(``loopback-login token --rejected -``) three times meanwhile, and each of its refreshes ends the access token
the eight hold (as RingCentral does). Goals: no failed call, and exactly the
ninth process's 3 refresh requests at the emulator: the eight only pick up its
tokens, by noticing the entry file changed or, when a request was already under
way, by one retry after the 401.
"""

from __future__ import annotations

import json
import subprocess
import time

from common import (
    BENCH,
    PY,
    SCRIPT,
    Emulator,
    Section,
    child_env,
    log,
    login_into,
    scratch,
    standalone,
    verdict,
)

PROCESSES = 8
PERIOD = 0.05
SECONDS = 11.0
REFRESHES_AT = (2.0, 5.0, 8.0)  # seconds after the start
PATH = "/restapi/v1.0/account/~/extension/~"


def storm(emu: Emulator, home: str) -> dict[str, float]:
    env = child_env(LOOPBACK_LOGIN_HOME=home)
    # The children start up first, then begin together.
    start = time.time() + 3.0
    end = start + SECONDS
    argv = [PY, str(BENCH / "adapter_storm_child.py"), emu.url + PATH]
    argv += [str(start), str(end), str(PERIOD)]
    refreshes_before = emu.count("token", grant_type="refresh_token")
    api_before = emu.count("extension")
    children = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(PROCESSES)
    ]
    forced = 0
    try:
        for at in REFRESHES_AT:
            time.sleep(max(0.0, start + at - time.time()))
            # Reporting the cached token refused is the one way to force a refresh
            # (a fresh token meets any --min-valid).
            current = subprocess.run(
                [SCRIPT, "token"], env=env, capture_output=True, text=True, timeout=30
            )
            ninth = subprocess.run(
                [SCRIPT, "token", "--rejected", "-"],
                input=current.stdout,
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            forced += ninth.returncode == 0
            if ninth.returncode != 0:
                log(f"adapter_storm: the ninth process failed: {ninth.stderr[-300:]}")
        reports = [json.loads(c.communicate(timeout=60)[0]) for c in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(5)
    for report in reports:
        for failure in report["failures"]:
            log(f"adapter_storm: failed call: {failure}")
    calls = sum(r["calls"] for r in reports)
    extra = sum(r["extra"] for r in reports)
    return {
        "calls": calls,
        "failed": sum(r["failed"] for r in reports),
        "refreshes": emu.count("token", grant_type="refresh_token") - refreshes_before,
        "forced": forced,
        "extra": extra / PROCESSES,
        "extra_max": max(r["extra"] for r in reports),
        "api": emu.count("extension") - api_before,
    }


def run(quick: bool) -> Section:
    section = Section("adapter_storm")
    storms = 1 if quick else 3
    rows: dict[str, list[float]] = {}
    with Emulator.running() as emu, scratch("adapter-storm") as work:
        home = work / "home"
        login_into(home, emu.url)
        for number in range(storms):
            log(f"adapter_storm: storm {number + 1} of {storms}")
            for key, value in storm(emu, str(home)).items():
                rows.setdefault(key, []).append(value)
    section.row("API calls made by the 8 processes", rows["calls"], unit="n")
    section.row(
        "… failed",
        rows["failed"],
        unit="n",
        goal=f"0: {verdict(not any(rows['failed']))}",
    )
    section.row(
        "refresh requests at the emulator",
        rows["refreshes"],
        unit="n",
        goal="3, the ninth process's: "
        + verdict(all(r == 3 for r in rows["refreshes"] + rows["forced"])),
    )
    section.row(
        "extra requests per process (a retry after a 401)", rows["extra"], unit="n"
    )
    section.row("… most in one process", rows["extra_max"], unit="n")
    section.row(
        "API requests the emulator saw (calls + retries)", rows["api"], unit="n"
    )
    section.notes.append(
        f"{PROCESSES} processes, each a `requests` session with `RequestsAuth`, one GET "
        f"of `{PATH}` every {PERIOD * 1000:.0f} ms for {SECONDS:.0f} s; a ninth runs "
        '`loopback-login token --rejected "$(loopback-login token)"` at 2, 5 and 8 s. Counts are read '
        "from the emulator's own request record."
    )
    return section


if __name__ == "__main__":
    standalone(run)
