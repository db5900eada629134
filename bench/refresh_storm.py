"""refresh_storm: 32 processes ask for a token at once while the cached one has
expired; the emulator must see exactly one refresh, and all must print its token.

Two ways of starting them: the console script spawned in a tight loop (start-up
spreads them over the CPU), and the same entry point behind a barrier, released
together once all have started (the lock is contended hardest).
"""

from __future__ import annotations

from collections.abc import Callable

from common import (
    BENCH,
    PY,
    SCRIPT,
    Barrier,
    Batch,
    Emulator,
    Section,
    cached_token,
    child_env,
    expire,
    log,
    login_into,
    run_many,
    scratch,
    standalone,
    verdict,
)

PROCESSES = 32
TIMEOUT = 120.0


def tight_loop(env: dict[str, str]) -> Batch:
    return run_many([[SCRIPT, "token"]] * PROCESSES, env, timeout=TIMEOUT)


def behind_barrier(env: dict[str, str]) -> Batch:
    barrier = Barrier(PROCESSES)
    argv = [PY, str(BENCH / "storm_child.py"), str(barrier.ready_w)]
    return run_many([argv] * PROCESSES, env, timeout=TIMEOUT, barrier=barrier)


def run(quick: bool) -> Section:
    section = Section("refresh_storm")
    storms = 1 if quick else 5
    variants: dict[str, Callable[[dict[str, str]], Batch]] = {
        "32 `loopback-login token`, spawned in a tight loop": tight_loop,
        "the same 32, started, then released together": behind_barrier,
    }
    figures: dict[str, dict[str, list[float]]] = {
        name: {"refresh": [], "fail": [], "distinct": [], "wall": [], "right": []}
        for name in variants
    }
    with Emulator.running() as emu, scratch("storm") as work:
        home = work / "home"
        login_into(home, emu.url)
        env = child_env(LOOPBACK_LOGIN_HOME=str(home))
        log(
            f"refresh_storm: {storms} storm(s) of {PROCESSES} processes per way of starting"
        )
        for _ in range(storms):
            for name, start in variants.items():
                old = cached_token(home)
                expire(home)
                before = emu.count("token", grant_type="refresh_token")
                batch = start(env)
                refreshes = emu.count("token", grant_type="refresh_token") - before
                printed = {r.stdout.strip() for r in batch.runs if r.returncode == 0}
                fresh = cached_token(home)
                failed = [r for r in batch.runs if r.returncode != 0]
                for r in failed[:2]:
                    log(
                        f"storm failure (exit {r.returncode}): {r.stderr.strip()[-300:]}"
                    )
                row = figures[name]
                row["refresh"].append(refreshes)
                row["fail"].append(len(failed))
                row["distinct"].append(len(printed))
                row["wall"].append(batch.wall)
                row["right"].append(printed == {fresh} and fresh != old)
    for name, row in figures.items():
        section.row(
            f"{name}: refresh requests at the emulator",
            row["refresh"],
            unit="n",
            goal=f"1 each storm: {verdict(all(n == 1 for n in row['refresh']))}",
        )
        section.row(
            "… processes that failed",
            row["fail"],
            unit="n",
            goal=f"0: {verdict(not any(row['fail']))}",
        )
        section.row(
            "… distinct tokens printed",
            row["distinct"],
            unit="n",
            goal=f"1, the new one: {verdict(all(n == 1 for n in row['distinct']) and all(row['right']))}",
        )
        section.row(
            "… wall time, first start (or release) → last exit", row["wall"], unit="s"
        )
    section.notes.append(
        f"{PROCESSES} processes, each with `LOOPBACK_LOGIN_HOME` on one profile whose "
        "access token was set to expired (the refresh token is good); the refresh "
        "count is read from the emulator's own request record. The released-together "
        "processes have imported `loopback_login.cli.main` before the barrier, and then "
        'call the same `main(["token"])` as the console script.'
    )
    return section


if __name__ == "__main__":
    standalone(run)
