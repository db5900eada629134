"""Reading an entry: one rule for the cached `token` path and the full command, and
a bound on what is read at all.

The cached path (``cli/fast.py`` + ``store/``) and the full one (``ProfileEntry.
from_json``) must take and refuse the same entries, and refuse them the same way:
moved aside, one error line, never a token that is not one. Nothing at an entry's
name is read past 1 MiB, and what is not a regular file is not read at all.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import ACCESS, NOW, Cli, assert_one_error_line, entry_with, write_entry
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loopback_login.cli.commands import run as run_full
from loopback_login.cli.fast import FORMATS
from loopback_login.cli.main import main as run_cli
from loopback_login.store.private_files import MAX_ENTRY_BYTES

# -- the cases that once differed, through real processes --------------------------

BAD_TOKENS = {
    "NaN expiry": {"expires_at": math.nan},
    "Infinity expiry": {"expires_at": math.inf},
    "1e308 expiry": {"expires_at": 1e308},
    "text expiry": {"expires_at": str(NOW + 3000)},
    "numeric access token": {"access_token": 12345},
    "empty access token": {"access_token": ""},
    "access token with CR LF": {"access_token": "abc\r\nX-Injected: 1"},
    "access token with ESC": {"access_token": "abc\x1b]0;owned\x07"},
}


@pytest.mark.parametrize(
    ("case", "fmt"),
    [(case, "token") for case in BAD_TOKENS]
    + [
        ("NaN expiry", "json"),
        ("Infinity expiry", "json"),
        ("empty access token", "header"),
    ],
)
def test_bad_entry_refused_alike_by_token_and_status(
    tmp_path: Path, case: str, fmt: str
) -> None:
    """`token` (the cached path) and `status` (the full one) both move such an entry
    aside with the same message; nothing reaches stdout, nothing tracebacks."""
    messages = []
    for command in (["token", "--format", fmt], ["status", "-p", "default"]):
        cli = Cli(tmp_path / command[0])
        path = write_entry(cli.home, entry_with(**BAD_TOKENS[case]))
        data = path.read_bytes()
        result = cli(*command)
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        asides = sorted(cli.home.glob("default.json.corrupt-*"))
        assert len(asides) == 1, list(cli.home.iterdir())
        assert asides[0].read_bytes() == data
        assert_one_error_line(result.stderr, str(path), str(asides[0]))
        messages.append(
            result.stderr.replace(str(cli.home), "HOME").replace(asides[0].name, "X")
        )
    assert messages[0] == messages[1]


# -- the property: both paths agree on every entry ------------------------------------

_times = st.sampled_from(
    [NOW + 3000, NOW - 100, NOW + 10, 0, -5, math.nan, math.inf, -math.inf, 1e308,
     10**400, "12", None, True]
)  # fmt: skip
_texts = st.sampled_from([None, "x", "", 5, True, ["x"]])
_access = st.sampled_from(
    [ACCESS, "", 5, None, True, "a b", "x\r\ny", "t\x1b[2K", "é", "-._~+/="]
)
_objects = st.sampled_from([None, {}, {"a": 1}, [], "x", 0])


@st.composite
def entries(draw: st.DrawFn) -> Any:
    entry = entry_with(
        access_token=draw(_access),
        expires_at=draw(_times),
        issued_at=draw(st.sampled_from([NOW - 600, NOW - 3500, math.nan, "x", None])),
        refresh_token=draw(st.sampled_from([None, "r-token", "", 5])),
        scope=draw(_texts),
        token_type=draw(st.sampled_from([None, "bearer", "", 7])),
        id_token=draw(_texts),
        refresh_token_expires_at=draw(st.sampled_from([None, NOW + 9000, math.nan])),
        extra=draw(_objects),
    )
    for field, values in (
        ("settings", _objects | st.just(entry["settings"])),
        ("identity", _objects),
        ("dead", _texts),
        ("saved_at", _times),
        ("provider_keys", _objects),
    ):
        if draw(st.booleans()):
            entry[field] = draw(values)
    tokens = entry["tokens"]
    if draw(st.booleans()):
        del entry[draw(st.sampled_from(["settings", "tokens", "saved_at", "identity"]))]
    return draw(st.sampled_from([entry, tokens, [entry], "null"]))


def run_in_process(runner: Any, args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = runner(args)
    return code, out.getvalue(), err.getvalue()


def comparable(text: str, home: Path) -> str:
    text = text.replace(str(home), "HOME")
    text = re.sub(r"\.corrupt-[0-9TZ-]+", ".corrupt-X", text)
    return re.sub(r'"expires_in": \d+', '"expires_in": N', text)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(entry=entries(), fmt=st.sampled_from(FORMATS))
@example(entry=entry_with(access_token=""), fmt="token")
@example(entry=entry_with(expires_at=math.nan), fmt="json")
def test_fast_and_full_token_paths_agree(
    tmp_path_factory: pytest.TempPathFactory, entry: Any, fmt: str
) -> None:
    """The entry point (cached path first) and the full command alone give the same
    exit code, stdout and stderr for every entry."""
    results = []
    for runner in (run_cli, run_full):
        home = tmp_path_factory.mktemp("agree")
        write_entry(home, entry)
        code, out, err = run_in_process(
            runner, ["token", "--format", fmt, "--cache-dir", str(home)]
        )
        assert "Traceback" not in err
        results.append((code, comparable(out, home), comparable(err, home)))
    assert results[0] == results[1]
    code, out, _ = results[0]
    if code == 0:  # one line of printable ASCII: a token, never something injected
        assert out.endswith("\n")
        assert out[:-1].isascii()
        assert out[:-1].isprintable()


# -- bounds on what is read ---------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM")
def test_huge_entry_refused_unread(tmp_path: Path) -> None:
    """A 64 MiB file at the entry's name is refused by its size: moved aside, one
    error line, and the process never holds it in memory."""
    cli = Cli(tmp_path / "home")
    path = write_entry(cli.home, entry_with())
    with path.open("r+b") as file:
        file.truncate(64 << 20)
    # VmHWM: this process's own peak (ru_maxrss would count pytest's, from the fork).
    result = subprocess.run(
        [sys.executable, "-c",
         "import runpy, sys; sys.argv = ['loopback-login', 'token']\n"
         "code = 0\n"
         "try: runpy.run_module('loopback_login', run_name='__main__')\n"
         "except SystemExit as exc: code = exc.code\n"
         "peak = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
         "print(peak[0].split()[1], file=sys.stderr)\n"
         "sys.exit(code)"],
        env=cli.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    *lines, peak = result.stderr.splitlines()
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert_one_error_line(
        "\n".join(lines), str(path), f"more than the {MAX_ENTRY_BYTES}"
    )
    assert int(peak) < 48 << 10, f"peak memory {peak} KiB: the file was read"
    assert not path.exists()


def run_bounded(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with 1 GiB of address space at most and 20 s: reading without end
    fails the test instead of the machine."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    return subprocess.run(
        [sys.executable, "-m", "loopback_login", *args], env=cli.env,
        capture_output=True, text=True, timeout=20, preexec_fn=limit,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize("command", ["token", "status"])
def test_device_at_the_entry_is_not_read(tmp_path: Path, command: str) -> None:
    """/dev/zero linked at the entry's name: refused at once as not a regular file,
    never read."""
    cli = Cli(tmp_path / "home")
    cli.home.mkdir(mode=0o700)
    path = cli.home / "default.json"
    path.symlink_to("/dev/zero")
    result = run_bounded(cli, command)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert_one_error_line(result.stderr, str(path), "not a regular file")
    assert os.path.realpath("/dev/zero") == "/dev/zero"  # moved aside: only the link


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_streaming_fifo_at_the_entry_is_not_read(tmp_path: Path) -> None:
    """A FIFO someone keeps writing into is refused at once, not read until memory
    runs out."""
    cli = Cli(tmp_path / "home")
    cli.home.mkdir(mode=0o700)
    path = cli.home / "default.json"
    os.mkfifo(path, 0o600)
    stop = threading.Event()

    def stream() -> None:
        with contextlib.suppress(OSError):
            fd = os.open(path, os.O_RDWR)  # never blocks, keeps the FIFO open
            os.set_blocking(fd, False)
            try:
                while not stop.is_set():
                    with contextlib.suppress(BlockingIOError):
                        os.write(fd, b"{" * 65536)
                    time.sleep(0.001)
            finally:
                os.close(fd)

    writer = threading.Thread(target=stream, daemon=True)
    writer.start()
    try:
        result = run_bounded(cli, "token")
    finally:
        stop.set()
        writer.join(10)
    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert_one_error_line(result.stderr, str(path), "not a regular file")
