"""One long-running program of the adapter storm: from START until END (Unix
times), a GET of the emulator's API through the requests adapter every PERIOD
seconds. Prints one JSON line: calls, failed calls, extra requests (the second
try after a 401), and the first few failures.

``python bench/adapter_storm_child.py URL START END PERIOD``; the profile comes
from ``LOOPBACK_LOGIN_HOME``.
"""

from __future__ import annotations

import json
import sys
import time

from loopback_login.http.requests_auth import requests_session


def main() -> None:
    url, start, end, period = sys.argv[1], *map(float, sys.argv[2:5])
    calls = failed = extra = 0
    failures: list[str] = []
    with requests_session() as session:
        time.sleep(max(0.0, start - time.time()))
        tick = start
        while tick < end:
            calls += 1
            try:
                answer = session.get(url, timeout=10)
                extra += len(answer.history)
                if answer.status_code != 200:
                    failed += 1
                    failures.append(f"HTTP {answer.status_code}: {answer.text[:200]}")
            except Exception as exc:  # counted and reported, never hidden
                failed += 1
                failures.append(f"{type(exc).__name__}: {exc}"[:200])
            tick += period
            time.sleep(max(0.0, tick - time.time()))
    print(json.dumps({"calls": calls, "failed": failed, "extra": extra,
                      "failures": failures[:3]}))  # fmt: skip


if __name__ == "__main__":
    main()
