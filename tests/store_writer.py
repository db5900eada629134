"""Child process for tests/test_store.py: exercises FileTokenStore from another process.

Usage: python store_writer.py COMMAND DIRECTORY PROFILE [ARG]

  churn SIZE   save entries of about SIZE bytes forever; print "ready" after the first
  count N      N times: under lock(), load the counter, add one, save it
  hold         take lock() and keep it until stdin closes; print "locked" once held
  save JSON    save one entry and print what happened as JSON (see below)

`save` options, set before saving: --umask MASK, --fsize BYTES (RLIMIT_FSIZE, so a
write fails with EFBIG as on a full disk), --no-root-powers (drop capabilities, so
permission bits bind root too). It reports {"error", "message", "hint", "chmods"},
where "chmods" lists every os.chmod/os.fchmod the process made (via an audit hook).
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from loopback_login.store.file_store import FileTokenStore


def blob(seq: int, size: int) -> str:
    """The payload of entry number ``seq``: checkable from ``seq`` alone."""
    return f"{seq:08d}" * (size // 8)


def drop_root_powers() -> None:
    """Give up root's capabilities, so a 0500 folder stops root as it stops anyone."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, self
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: all empty
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def save(store: FileTokenStore, profile: str, args: list[str]) -> None:
    chmods: list[str] = []
    entry = json.loads(args.pop(0))
    while args:
        option = args.pop(0)
        if option == "--umask":
            os.umask(int(args.pop(0), 8))
        elif option == "--fsize":
            import resource
            import signal

            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of death
            limit = int(args.pop(0))
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        elif option == "--no-root-powers":
            if os.geteuid() == 0:
                drop_root_powers()
        else:
            raise SystemExit(f"unknown option {option}")

    def audit(event: str, event_args: tuple[object, ...]) -> None:
        if event == "os.chmod":
            chmods.append(repr(event_args))

    sys.addaudithook(audit)
    report: dict[str, object] = {"error": None, "chmods": chmods}
    try:
        store.save(profile, entry)
    except Exception as exc:  # the parent asserts on the type and message
        report.update(
            error=type(exc).__name__,
            message=str(exc),
            hint=getattr(exc, "hint", None),
        )
    print(json.dumps(report), flush=True)


def main(argv: list[str]) -> None:
    command, directory, profile, *args = argv
    store = FileTokenStore(directory)
    if command == "churn":
        size, seq = int(args[0]), 0
        while True:
            seq += 1
            store.save(profile, {"seq": seq, "blob": blob(seq, size)})
            if seq == 1:
                print("ready", flush=True)
    elif command == "count":
        for _ in range(int(args[0])):
            with store.lock(profile, timeout=60):
                entry = store.load(profile) or {"count": 0}
                store.save(profile, {"count": entry["count"] + 1})
    elif command == "hold":
        with store.lock(profile):
            print("locked", flush=True)
            sys.stdin.read()
    elif command == "save":
        save(store, profile, args)
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
