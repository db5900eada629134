"""`loopback-login exec`: a program run with a valid token, as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import Cli, EmulatorStarter, ThreadedEmulator, login

from loopback_login.cli.exec_command import Relay

SHOW_ENV = (
    "import os, json; print(json.dumps({k: v for k, v in os.environ.items() "
    "if k.startswith(('RINGCENTRAL_', 'LOOPBACK_LOGIN_CLIENT_SECRET'))}))"
)


def test_exec_passes_token_server_and_exit_code(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """The child sees the token and the server, not the client secret; its exit code
    is ours."""
    login(cli, emu)
    access = cli.entry()["tokens"]["access_token"]
    result = cli(
        "exec", "--", sys.executable, "-c", SHOW_ENV,
        LOOPBACK_LOGIN_CLIENT_SECRET="not-for-children",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "RINGCENTRAL_ACCESS_TOKEN": access,
        "RINGCENTRAL_SERVER_URL": emu.url,
    }
    for extra in ((), ("--token-file",)):
        code = cli("exec", *extra, "--", sys.executable, "-c", "raise SystemExit(7)")
        assert code.returncode == 7, code.stderr
    missing = cli("exec", "--", "no-such-program-here")
    assert missing.returncode == 127
    assert "no-such-program-here" in missing.stderr
    nobody = cli("exec", "-p", "nobody", "--", "true")
    assert nobody.returncode == 1
    assert "not logged in" in nobody.stderr


# The handler only notes the signal; the main loop acts on it. A handler that
# prints and exits from inside a 30 s sleep was seen, in a long test run, to print
# and yet sleep on: this child's job is to show what reached it, nothing more.
CHILD = """
import signal, sys, time
got = []
if sys.argv[1] == "catch":
    signal.signal(signal.SIGTERM, lambda *a: got.append(a[0]))
print("ready", flush=True)
end = time.monotonic() + 30
while not got and time.monotonic() < end:
    time.sleep(0.05)
if got:
    print("caught", flush=True)
    sys.exit(3)
"""


@pytest.mark.parametrize("extra", [(), ("--token-file",)])
@pytest.mark.parametrize(
    ("how", "sig", "expected"),
    [
        ("catch", signal.SIGTERM, 3),
        ("die", signal.SIGINT, -signal.SIGINT),
        ("die", signal.SIGTERM, -signal.SIGTERM),
    ],
)
def test_exec_passes_signals_through(
    cli: Cli,
    emu: ThreadedEmulator,
    extra: tuple[str, ...],
    how: str,
    sig: int,
    expected: int,
) -> None:
    """A signal sent to `exec` reaches the child; a child killed by it kills us the
    same way, so a shell sees what it would have seen."""
    login(cli, emu)
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopback_login", "exec", *extra, "--",
         sys.executable, "-c", CHILD, how],
        env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # never leave a process behind for later tests
            proc.kill()
            proc.communicate()
    assert proc.returncode == expected, err
    assert ("caught" in out) == (how == "catch")


def test_a_signal_before_the_child_exists_reaches_it() -> None:
    """A signal that lands while the child is being started is held, then passed on
    the moment the child exists, so it is neither lost nor fatal to us alone."""
    relay = Relay()
    relay(signal.SIGTERM, None)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        relay.attach(child)
        assert child.wait(timeout=30) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert relay.pending == []


READER = """
import os, sys, time
seen = []
end = time.time() + float(sys.argv[1])
while time.time() < end:
    with open(os.environ["RINGCENTRAL_ACCESS_TOKEN_FILE"]) as f:
        token = f.read()
    if not seen or seen[-1] != token:
        seen.append(token)
    time.sleep(0.2)
print(os.environ["RINGCENTRAL_ACCESS_TOKEN_FILE"])
print("\\n".join(seen))
"""


def test_token_file_is_refreshed_and_removed(
    cli: Cli, threaded_emulator: EmulatorStarter, tmp_path: Path
) -> None:
    """A child running past the token's lifetime reads a fresh token from a 0600
    file in a private folder of the runtime directory; the file is gone after."""
    emu = threaded_emulator(access_token_ttl=4)
    login(cli, emu)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    started = time.time()
    result = cli(
        "exec", "--token-file", "--", sys.executable, "-c", READER, "10",
        XDG_RUNTIME_DIR=str(runtime),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path, *tokens = result.stdout.splitlines()
    assert Path(path).parent.parent == runtime
    assert not Path(path).exists()
    assert list(runtime.iterdir()) == []
    assert time.time() - started >= 10
    assert len(tokens) >= 3, tokens  # 10 s of 4 s tokens
    last = tokens[-1]
    assert last == cli.entry()["tokens"]["access_token"]  # the one the store holds


def test_token_file_is_private(cli: Cli, emu: ThreadedEmulator, tmp_path: Path) -> None:
    """The file is 0600 and its folder 0700, both owned by us."""
    login(cli, emu)
    probe = (
        "import os, stat; p = os.environ['RINGCENTRAL_ACCESS_TOKEN_FILE']; "
        "print(oct(stat.S_IMODE(os.stat(p).st_mode)), "
        "oct(stat.S_IMODE(os.stat(os.path.dirname(p)).st_mode)))"
    )
    result = cli(
        "exec", "--token-file", "--", sys.executable, "-c", probe,
        XDG_RUNTIME_DIR=str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [oct(0o600), oct(0o700)]
