"""What a hostile server, file or argument meets, through real CLI processes: tokens
that could inject headers are refused with the cache untouched, server text reaches
a real terminal inert, a --min-valid no token can meet costs one refresh, and bad
arguments are one clear line with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import Cli, EmulatorStarter, ThreadedEmulator, expire, login, snapshot

from loopback_login.emulator import DEMO_CLIENT_ID, FAULTS, STATE, Faults
from loopback_login.emulator.config import EmulatorUser

# -- tokens the server should never have sent --------------------------------------


def arm_token_answer(emu: ThreadedEmulator, **fields: object) -> None:
    """The next token request is answered 200 with these fields over good ones."""
    body = {
        "access_token": "good-access",
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": "good-refresh",
        "refresh_token_expires_in": 604800,
        "scope": "ReadAccounts",
        **fields,
    }
    faults: Faults = emu.app[FAULTS]  # type: ignore[index]
    emu.call(
        lambda: faults.raw(
            "token",
            status=200,
            body=json.dumps(body).encode(),
            content_type="application/json",
        )
    )


HOSTILE_TOKENS = [
    {"access_token": "good\r\nX-Injected: yes"},
    {"access_token": "good\x1b]0;pwned\x07"},
    {"refresh_token": "good\r\nX-Injected: yes"},
    {"id_token": "a.b.c\x1b[2K"},
    {"expires_in": 0},
    {"expires_in": True},
]


@pytest.mark.parametrize("fields", HOSTILE_TOKENS)
def test_a_refresh_answering_a_hostile_token_is_refused(
    cli: Cli, threaded_emulator: EmulatorStarter, fields: dict[str, object]
) -> None:
    """`token --format header` (the README's curl recipe) on a refresh answered with
    a CR LF or ESC in a token, or a lifetime of 0 or true: refused in one line that
    quotes no token, exit 1, and the cache folder byte-identical."""
    emu = threaded_emulator()
    login(cli, emu)
    expire(cli)
    before = snapshot(cli.home)
    arm_token_answer(emu, **fields)
    result = cli("token", "--format", "header")
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "X-Injected" not in result.stderr
    assert "\x1b" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: the token endpoint refused"), lines
    assert "invalid_response" in lines[0]
    assert len(lines) == 2
    assert snapshot(cli.home) == before


def test_a_login_answered_with_a_hostile_token_saves_nothing(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """The code exchange answered with CR LF in the access token: the login fails,
    and the profile that was there is kept byte for byte."""
    emu = threaded_emulator()
    login(cli, emu)
    before = snapshot(cli.home)
    arm_token_answer(emu, access_token="ok\r\nX-Injected: yes")
    result = cli(
        "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID, "--timeout", "20"
    )
    assert result.returncode == 1
    assert "access_token" in result.stderr
    assert "X-Injected" not in result.stderr
    assert snapshot(cli.home) == before
    # And the header the README's recipe builds is still exactly one line.
    header = cli("token", "--format", "header")
    assert header.returncode == 0
    assert header.stdout.count("\n") == 1
    assert "\r" not in header.stdout


# -- server text on a real terminal ---------------------------------------------

HOSTILE_USER = EmulatorUser(
    username="demo@example.com",
    password="demo",
    owner_id="101\x1b[2K\rerror: fake owner",
    account_id="100",
    given_name="\x1b]0;pwned\x07Dana",
    family_name="\r\x1b[2Kerror: your session is compromised\n",
    email="dana@example.com\x1b[31m",
)


def run_on_pty(cli: Cli, *args: str) -> tuple[int, bytes]:
    """Run the CLI with stdout and stderr on a real pseudo-terminal; all it wrote."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "loopback_login", *args],
        env=cli.env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            output += data
    finally:
        os.close(master)
    return proc.wait(30), bytes(output)


def assert_inert(output: bytes) -> None:
    """No escape sequence, no bare carriage return, no line the server wrote."""
    assert b"\x1b" not in output
    assert b"\x07" not in output
    assert b"\r" not in output.replace(b"\r\n", b"")  # the pty's own newlines
    for line in output.decode().splitlines():
        assert not line.startswith("error:"), line


def test_escape_sequences_in_a_name_are_printed_inert(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """A name, e-mail and owner id carrying a window-title sequence, a line erase, a
    carriage return and a fake `error:` line reach a real terminal as plain text,
    in login's summary and in `status`; `status --json` keeps them, escaped."""
    emu = threaded_emulator(users=(HOSTILE_USER,))
    code, output = run_on_pty(
        cli, "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
        "--scope", "openid profile email ReadAccounts", "--timeout", "20",
    )  # fmt: skip
    assert code == 0, output
    assert b"Signed in to" in output
    assert b"]0;pwned Dana" in output  # shown, but without its ESC and BEL
    assert_inert(output)

    code, output = run_on_pty(cli, "status")
    assert code == 0, output
    assert b"error: your session is compromised" in output  # as text, mid-line
    assert_inert(output)

    as_json = cli("status", "--json", "-p", "default")
    [row] = json.loads(as_json.stdout)
    assert row["owner_id"] == HOSTILE_USER.owner_id
    assert "\\u001b]0;pwned" in as_json.stdout


# -- a --min-valid no token can meet ---------------------------------------------


def test_min_valid_past_the_lifetime_refreshes_once_for_twenty_callers(
    cli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    """Twenty parallel `token --min-valid 7200` against one-hour tokens: one refresh,
    one token for all, and each says on stderr how long the server's tokens live."""
    emu = threaded_emulator()
    login(cli, emu)
    expire(cli)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "loopback_login", "token", "--min-valid", "7200"],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, outputs
    assert len({out for out, _ in outputs}) == 1
    refreshes = emu.call(
        lambda: emu.app[STATE].count("token", grant_type="refresh_token")  # type: ignore[index]
    )
    assert refreshes == 1
    for _, err in outputs:
        assert "this server's tokens live 3600 s" in err, err


# -- arguments: one clear line, never a traceback ----------------------------------


def assert_clear_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 600, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def test_bad_files_and_urls_are_one_line_errors(
    cli: Cli, threaded_emulator: EmulatorStarter, tmp_path: Path
) -> None:
    """A brace in the redirect URI, an unclosed IPv6 host, /dev/zero or a file too
    big to be one as the secret or the key, and deeply nested JSON as the
    emulator's clients: each a clear error and a non-zero exit, before any browser
    opens."""
    emu = threaded_emulator()
    base = ["login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID]
    assert_clear_error(
        cli(*base, "--redirect-uri", "http://127.0.0.1:8400/{x"), "--redirect-uri"
    )
    assert_clear_error(cli("login", "--server", "http://[::1", "--client-id", "c"))
    big = tmp_path / "big"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    key = ["--client-auth", "private_key_jwt", "--private-key"]
    assert_clear_error(
        cli(*base, "--client-secret-file", "/dev/zero"),
        "cannot read the client secret file /dev/zero: not a regular file",
    )
    assert_clear_error(
        cli(*base, "--client-secret-file", str(big)), "larger than 16 KiB"
    )
    assert_clear_error(
        cli(*base, *key, "/dev/zero"),
        "cannot read the private key /dev/zero: not a regular file",
    )
    assert_clear_error(cli(*base, *key, str(big)), "larger than 64 KiB")
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    assert_clear_error(
        cli("emulator", "--clients", str(nested), "--port", "0"), "nested"
    )
    unclosed = tmp_path / "unclosed.json"
    unclosed.write_text(
        json.dumps({"clients": [{"client_id": "a", "redirect_uris": ["http://[::1"]}]})
    )
    assert_clear_error(
        cli("emulator", "--clients", str(unclosed), "--port", "0"), "malformed"
    )
    assert emu.call(lambda: emu.app[STATE].count("authorize")) == 0  # type: ignore[index]
    assert not (cli.home / "default.json").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_given_as_a_secret_credential_or_key_is_refused_at_once(
    cli: Cli, threaded_emulator: EmulatorStarter, tmp_path: Path
) -> None:
    """No process writes into the FIFO: opening it to read would wait for one
    forever. Each option refuses it at once, in its own words."""
    emu = threaded_emulator()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    base = ["login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID]
    cases = {
        "--client-secret-file": (
            "cannot read the client secret file",
            "check --client-secret-file",
        ),
        "--jwt-file": (
            "cannot read the JWT credential from",
            "check --jwt-file",
        ),
        "--private-key": ("cannot read the private key", "check --private-key"),
    }
    for option, (words, hint) in cases.items():
        extra = (
            ["--client-auth", "private_key_jwt"] if option == "--private-key" else []
        )
        result = subprocess.run(
            [sys.executable, "-m", "loopback_login", *base, *extra, option, str(fifo)],
            env=cli.env, capture_output=True, text=True, timeout=20,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert result.returncode == 1, (option, result.stderr)
        assert result.stderr.splitlines() == [
            f"error: {words} {fifo}: a pipe that nothing was written to",
            f"  {hint}",
        ], option
    assert emu.call(lambda: emu.app[STATE].count("authorize")) == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["token", "--min-valid", "nan"], "finite"),
        (["token", "--min-valid", "inf"], "finite"),
        (["token", "--timeout", "nan", "--login"], "finite"),
        (["login", "--timeout", "nan", "--client-id", "c"], "finite"),
        (["logout", "--http-timeout", "nan"], "finite"),
        (["token", "--no-browser"], "--no-browser applies only with --login"),
        (["status", "--all", "-p", "x"], "--all and --profile"),
    ],
)
def test_meaningless_arguments_are_usage_errors(
    cli: Cli, args: list[str], words: str
) -> None:
    """NaN and infinite seconds, and flags that another flag makes meaningless, are
    usage errors (exit 2) naming the problem, not silently ignored."""
    result = cli(*args)
    assert result.returncode == 2, result
    assert words in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "server",
    ["http://127.0.0.1:99999", "http://127.0.0.1:-1", "http://127.0.0.1: 80"],
)
def test_bad_server_ports_are_refused(cli: Cli, server: str) -> None:
    """--server with a port out of range, negative or with a space: one error line."""
    result = cli("login", "--server", server, "--client-id", "c", "--no-browser")
    assert_clear_error(result, "--server")
    assert result.returncode == 2  # a value that cannot work: a usage error
