"""Runs `loopback-login` with an audit hook (PEP 578) that writes down, for the test
that started it, every socket bound, every process or browser started and every
file opened for writing, and the environment the process was left with.

Usage: python audit_run.py LOG_PATH ARGS... (the log is JSON, written at exit).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from typing import Any

LOG = sys.argv[1]
ARGS = sys.argv[2:]
WATCHED = {
    "socket.bind": "bind",
    "subprocess.Popen": "process",
    "os.exec": "process",
    "os.posix_spawn": "process",
    "os.spawn": "process",
    "os.system": "process",
    "os.fork": "process",
    "webbrowser.open": "browser",
}
WRITING = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
events: list[list[str]] = []


def hook(event: str, args: tuple[Any, ...]) -> None:
    if event in WATCHED:
        events.append([WATCHED[event], repr(args)[:300]])
    elif event == "open" and len(args) >= 3:
        path, mode, flags = args[0], args[1], args[2]
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITING
        ):
            events.append(["write", str(path)])


def dump() -> None:
    record = {"events": events, "env": dict(os.environ)}
    with open(LOG, "w", encoding="utf-8") as file:
        json.dump(record, file)


atexit.register(dump)
sys.addaudithook(hook)

from loopback_login.cli.main import main  # noqa: E402

sys.exit(main(ARGS))
