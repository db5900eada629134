"""Where we run (a desktop, SSH without a display, WSL) as a pure function of the
environment given, and how a browser is started there."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from loopback_login.loopback.browser import NoBrowser, SystemBrowser
from loopback_login.loopback.launch import (
    CommandBrowser,
    choose_opener,
    detect,
    powershell_start,
)


@pytest.mark.parametrize(
    ("environ", "proc_version", "place"),
    [
        ({}, "", "desktop"),
        ({"DISPLAY": ":0"}, "", "desktop"),
        ({"SSH_CONNECTION": "10.0.0.2 5000 10.0.0.1 22"}, "", "ssh"),
        ({"SSH_TTY": "/dev/pts/3"}, "", "ssh"),
        ({"SSH_CONNECTION": "1 2 3 4", "DISPLAY": "localhost:10.0"}, "", "desktop"),
        ({"SSH_TTY": "/dev/pts/1", "WAYLAND_DISPLAY": "wayland-0"}, "", "desktop"),
        ({}, "Linux version 5.15.90.1-microsoft-standard-WSL2", "wsl"),
        ({"WSL_DISTRO_NAME": "Debian"}, "", "wsl"),
        ({"SSH_CONNECTION": "1 2 3 4"}, "Linux version 6.1.0-13-amd64 (Debian)", "ssh"),
    ],
)
def test_detect(environ: dict[str, str], proc_version: str, place: str) -> None:
    assert detect(environ, proc_version=proc_version) == place


def test_ssh_without_a_display_behaves_like_no_browser() -> None:
    opener, why = choose_opener(environ={"SSH_TTY": "/dev/pts/0"}, proc_version="")
    assert isinstance(opener, NoBrowser)
    assert why is not None
    assert "SSH" in why
    assert "--no-browser" in why


def test_ssh_with_a_browser_set_uses_it() -> None:
    opener, why = choose_opener(
        environ={"SSH_TTY": "/dev/pts/0", "BROWSER": "lynx"}, proc_version=""
    )
    assert isinstance(opener, SystemBrowser)
    assert why is None


def test_wsl_opens_the_windows_browser() -> None:
    """wslview when installed, else PowerShell's Start-Process."""
    wsl = "5.15.90.1-microsoft-standard-WSL2"
    with_wslview = {"wslview": "/usr/bin/wslview"}
    opener, _ = choose_opener(environ={}, proc_version=wsl, which=with_wslview.get)
    assert isinstance(opener, CommandBrowser)
    assert opener._argv("http://127.0.0.1:1/") == [
        "/usr/bin/wslview",
        "http://127.0.0.1:1/",
    ]

    only_powershell = {"powershell.exe": "/mnt/c/WINDOWS/powershell.exe"}
    opener, _ = choose_opener(environ={}, proc_version=wsl, which=only_powershell.get)
    assert isinstance(opener, CommandBrowser)
    argv = opener._argv("http://127.0.0.1:1/")
    assert argv[0] == "/mnt/c/WINDOWS/powershell.exe"
    assert argv[-1] == "Start-Process 'http://127.0.0.1:1/'"

    opener, _ = choose_opener(environ={}, proc_version=wsl, which=lambda name: None)
    assert isinstance(opener, SystemBrowser)


def test_powershell_quoting_keeps_the_url_one_string() -> None:
    """A quote in the URL is doubled inside the single-quoted string, so nothing
    after it can run as a command."""
    argv = powershell_start("https://x.example/?a='; Remove-Item C:\\ ;'&b=$(calc)")
    assert argv[:4] == ["powershell.exe", "-NoProfile", "-NonInteractive", "-Command"]
    assert argv[4] == (
        "Start-Process 'https://x.example/?a=''; Remove-Item C:\\ ;''&b=$(calc)'"
    )
    inner = argv[4][len("Start-Process '") : -1]
    assert "'" not in inner.replace("''", "")


def test_browser_command_wins_and_no_browser_is_honoured() -> None:
    opener, _ = choose_opener(browser_command="firefox --new-window %s", environ={})
    assert isinstance(opener, CommandBrowser)
    assert opener._argv("http://127.0.0.1:1/") == [
        "firefox", "--new-window", "http://127.0.0.1:1/"
    ]  # fmt: skip
    opener, _ = choose_opener(no_browser=True, environ={}, proc_version="")
    assert isinstance(opener, NoBrowser)


async def test_a_browser_command_that_fails_or_is_missing_opened_nothing(
    tmp_path: Path,
) -> None:
    assert not await CommandBrowser(["false"]).open("http://127.0.0.1:1/")
    assert not await CommandBrowser([str(tmp_path / "missing")]).open("http://x/")
    marker = tmp_path / "opened"
    script = f"import sys; open({str(marker)!r}, 'w').write(sys.argv[1])"
    assert await CommandBrowser([sys.executable, "-c", script]).open("http://u/")
    assert marker.read_text() == "http://u/"
    # One that keeps running (a browser in the foreground) counts as opened.
    started = asyncio.get_running_loop().time()
    slow = CommandBrowser(
        [sys.executable, "-c", "import time; time.sleep(3)"], settle=0.3
    )
    assert await slow.open("http://u/")
    assert asyncio.get_running_loop().time() - started < 5
