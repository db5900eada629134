"""``login`` sends the browser off before loading aiohttp, click or the JOSE
libraries, and hands anything unusual to the full command untouched."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from helpers import Cli, ThreadedEmulator, login

from loopback_login.cli.early_login import DEFAULT_HTTP_TIMEOUT, _parse
from loopback_login.emulator import DEMO_CLIENT_ID
from loopback_login.protocol.wiring import DEFAULT_HTTP_TIMEOUT as WIRING_TIMEOUT

HEAVY = (
    "aiohttp", "yarl", "multidict", "click", "joserfc", "authlib", "cryptography",
    # Not heavy, but ten milliseconds of a person's wait for nothing: no handler
    # can exist before it loads, so the debug lines on this path skip it.
    "logging",
)  # fmt: skip


def heavy_before(stderr: str, line: str) -> list[str]:
    """Modules of HEAVY that ``-X importtime`` shows loaded before ``line``."""
    before = stderr[: stderr.index(line)]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", before, re.M)
    return sorted({n for n in names if n.split(".")[0] in HEAVY})


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_browser_is_asked_before_the_heavy_libraries_load(
    cli: Cli, emu: ThreadedEmulator, method: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "loopback_login", "login",
         "--server", emu.url, "--client-id", DEMO_CLIENT_ID, "--method", method,
         "--scope", "openid profile email ReadAccounts", "--timeout", "20"],
        env=cli.env, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    # Said right before the browser is asked, after the server check.
    said = "To sign in, open this URL in your browser:"
    assert heavy_before(result.stderr, said) == []
    assert heavy_before(result.stderr, "Signed in to") != []  # the check can fail
    assert "Signed in to" in result.stderr


def test_the_full_command_still_signs_in_when_it_takes_over(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    result = login(cli, emu, "--verbose")  # --verbose: the full command's path
    assert "listening for the callback at" in result.stderr
    assert cli.entry()["settings"]["client_id"] == DEMO_CLIENT_ID


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-v"],
        ["--private-key", "key.pem"],
        ["--client-secret-file", "-"],
        ["--client-auth", "private_key_jwt"],
        ["--method", "put"],
        ["--timeout", "nan"],
        ["--timeout", "0.5"],
        ["--access-token-ttl", "0"],
        ["--scope", "a", "--scope", "b"],
        ["--server"],
        ["-pwork"],
        ["--unknown"],
    ],
)
def test_what_the_early_parser_does_not_judge_goes_to_the_full_command(
    args: list[str],
) -> None:
    assert _parse(args, {}) is None


def test_the_early_parser_reads_options_as_click_would() -> None:
    opts = _parse(
        ["--server=https://example.com", "--client-id", "abc", "--redirect-uri",
         "http://127.0.0.1:1/a", "--redirect-uri", "http://127.0.0.1:2/b",
         "--no-browser", "--timeout", "12", "--prompt", "login"],
        {"LOOPBACK_LOGIN_PROFILE": "work"},
    )  # fmt: skip
    assert opts is not None
    assert opts["server"] == "https://example.com"
    assert opts["redirect_uri"] == ("http://127.0.0.1:1/a", "http://127.0.0.1:2/b")
    assert (opts["no_browser"], opts["timeout"], opts["prompt"]) == (
        True,
        12.0,
        "login",
    )
    assert opts["profile"] == "work"
    assert opts["http_timeout"] == DEFAULT_HTTP_TIMEOUT == WIRING_TIMEOUT
