"""Faults at the token and revoke endpoints, through the CLI: each is one `error:` line
and a hint, a non-zero exit, no traceback, and not a byte of the cache changed."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import (
    Cli,
    ThreadedEmulator,
    assert_one_error_line,
    expire,
    sign_in,
    snapshot,
)

from loopback_login.emulator import (
    FAULTS,
    STATE,
    EmulatorConfig,
    Faults,
)

HTML_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def point_at(cli: Cli, server: str) -> None:
    """Make the profile remember another server (as if it had moved)."""
    path = cli.home / "default.json"
    entry = json.loads(path.read_text())
    entry["settings"]["server"] = server
    path.write_text(json.dumps(entry))


# (fault, what the error line says, what the hint says)
CASES: list[tuple[str, tuple[str, ...], str]] = [
    # `token` has no --server: its hint names the profile's server setting.
    ("refused", ("cannot connect to http://127.0.0.1:",), "server"),
    ("timeout", ("did not answer within 0.5 s",), "--http-timeout"),
    ("5xx", ("HTTP 503", "server_error"), "try again"),
    ("html", ("HTTP 502", "an HTML page"), "try again"),
    ("non-json", ("not a JSON object",), "server"),
    ("truncated", ("broke mid-answer",), "try again"),
]


def arm(emu: ThreadedEmulator, cli: Cli, case: str, endpoint: str) -> list[str]:
    """Set up fault ``case`` at ``endpoint``; returns extra CLI options."""
    faults: Faults = emu.app[FAULTS]  # type: ignore[index]
    if case == "refused":
        point_at(cli, f"http://127.0.0.1:{closed_port()}")
        return []
    if case == "timeout":
        emu.call(lambda: faults.delay(endpoint, 1.5))  # type: ignore[arg-type]
        return ["--http-timeout", "0.5"]
    actions: dict[str, Callable[[], None]] = {
        "5xx": lambda: faults.fail(endpoint, status=503),  # type: ignore[arg-type]
        "html": lambda: faults.raw(endpoint, status=502, body=HTML_502),  # type: ignore[arg-type]
        "non-json": lambda: faults.raw(
            endpoint,  # type: ignore[arg-type]
            status=200,
            body=b"Service is up",
            content_type="text/plain",
        ),
        "truncated": lambda: faults.truncate(endpoint),  # type: ignore[arg-type]
    }
    emu.call(actions[case])
    return []


@contextlib.contextmanager
def emulator_for(case: str, shared: ThreadedEmulator) -> Iterator[ThreadedEmulator]:
    """The shared emulator; for a timeout a private one, so that the late request,
    still running after the test, cannot meet the next test's faults."""
    if case != "timeout":
        yield shared
        return
    with ThreadedEmulator(EmulatorConfig(auto_approve=True)) as private:
        yield private


@pytest.mark.parametrize(("case", "expected", "hint"), CASES, ids=[c[0] for c in CASES])
def test_token_refresh_fault(
    tmp_path: Path,
    emu: ThreadedEmulator,
    case: str,
    expected: tuple[str, ...],
    hint: str,
) -> None:
    """`token` with a refresh the server botches: one error line and a hint, exit 1, the
    cache untouched, and (but for a timeout the server may have acted on) the session
    refreshes fine once the server behaves."""
    cli = Cli(tmp_path / "home")
    with emulator_for(case, emu) as emu:
        sign_in(emu, cli.home)
        expire(cli)
        options = arm(emu, cli, case, "token")
        before = snapshot(cli.home)
        result = cli("token", *options)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert_one_error_line(result.stderr, *expected)
    assert hint in result.stderr.splitlines()[1]
    assert snapshot(cli.home) == before
    if case == "refused":
        return  # the profile points at a dead server on purpose
    if case == "timeout":
        return  # the server refreshed after we gave up: see docs/security.md, limits
    again = cli("token")
    assert again.returncode == 0, again.stderr
    assert (
        again.stdout.strip()
        != json.loads(before["default.json"][0])["tokens"]["access_token"]
    )


def test_refresh_fault_inside_the_margin_prints_the_cached_token(
    tmp_path: Path, emu: ThreadedEmulator
) -> None:
    """Due for a refresh but not yet expired: a failed refresh still hands out the
    cached token (exit 0, a warning on stderr), and the cache stays as it was."""
    cli = Cli(tmp_path / "home")
    sign_in(emu, cli.home)
    path = cli.home / "default.json"
    entry = json.loads(path.read_text())
    tokens = entry["tokens"]
    tokens["expires_at"] = time.time() + 60  # the margin of a 1 h token is 300 s
    tokens["issued_at"] = tokens["expires_at"] - 3600
    path.write_text(json.dumps(entry))
    options = arm(emu, cli, "5xx", "token")
    before = snapshot(cli.home)
    result = cli("token", *options)
    assert result.returncode == 0, result.stderr
    assert result.stdout == tokens["access_token"] + "\n"
    assert "warning: could not refresh" in result.stderr
    assert "using the cached token" in result.stderr
    assert snapshot(cli.home) == before


# A 200 from revoke is a success whatever its body (RFC 7009 §2.2).
LOGOUT_CASES = [(case, expected) for case, expected, _ in CASES if case != "non-json"]


@pytest.mark.parametrize(
    ("case", "expected"), LOGOUT_CASES, ids=[c[0] for c in LOGOUT_CASES]
)
def test_logout_fault_keeps_the_entry(
    tmp_path: Path, emu: ThreadedEmulator, case: str, expected: tuple[str, ...]
) -> None:
    """`logout` whose revocation fails exits 1 naming the cause, with no traceback, and
    keeps the entry byte for byte (the server session may still be alive)."""
    cli = Cli(tmp_path / "home")
    with emulator_for(case, emu) as emu:
        sign_in(emu, cli.home)
        options = arm(emu, cli, case, "revoke")
        before = snapshot(cli.home)
        result = cli("logout", *options)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert any(
        line.startswith("error: ") and all(text in line for text in expected)
        for line in result.stderr.splitlines()
    ), result.stderr
    assert snapshot(cli.home) == before


def test_logout_failure_is_one_error_line_with_the_causes_hint(
    tmp_path: Path, emu: ThreadedEmulator
) -> None:
    """A failed revocation reads as one `error:` line with the cause, then the cause's
    own hint (here: try again later), not a second, generic error."""
    cli = Cli(tmp_path / "home")
    sign_in(emu, cli.home)
    arm(emu, cli, "5xx", "revoke")
    result = cli("logout")
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "HTTP 503")
    assert "try again in a minute" in result.stderr.splitlines()[1]


def test_rate_limited_token_and_logout(tmp_path: Path) -> None:
    """429 with Retry-After at token and at revoke: one line saying how long to wait,
    exit 1, and the entry unchanged."""
    cli = Cli(tmp_path / "home")
    # Two auth requests a minute: the login's authorize and token use them up.
    with ThreadedEmulator(EmulatorConfig(auto_approve=True, rate_limit=2)) as emu:
        sign_in(emu, cli.home)
        expire(cli)
        before = snapshot(cli.home)
        token = cli("token")
        assert token.returncode == 1, token.stderr
        assert_one_error_line(token.stderr, "HTTP 429")
        assert "wait 60 seconds" in token.stderr.splitlines()[1]
        logout = cli("logout")
        assert logout.returncode == 1, logout.stderr
        assert "Traceback" not in logout.stderr
        assert "HTTP 429" in logout.stderr
        assert snapshot(cli.home) == before
        limited = emu.call(lambda: emu.app[STATE].count("token"))  # type: ignore[index]
        assert limited == 2  # the login's exchange and the one refused refresh


def test_default_http_timeout_is_sensible() -> None:
    """The HTTP timeout has a default of tens of seconds, and every command that talks
    to the server takes --http-timeout."""
    from click.testing import CliRunner

    from loopback_login.cli.commands import cli
    from loopback_login.protocol.token_client import DEFAULT_HTTP_TIMEOUT

    assert 5 <= DEFAULT_HTTP_TIMEOUT <= 60
    for command in ("login", "token", "logout"):
        shown = CliRunner().invoke(cli, [command, "--help"]).output
        assert "--http-timeout" in shown, command
