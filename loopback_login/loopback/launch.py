"""Which browser to open, where a person actually works: a desktop, an SSH session
without a display (print the URL, take a paste), WSL (the Windows browser), or a
command of their own (``--browser-command``).

:func:`detect` is a pure function of the environment it is given, so each case is
tested without being in it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from loopback_login.debuglog import debug
from loopback_login.errors import ConfigError
from loopback_login.loopback.browser import (
    BrowserOpener,
    NoBrowser,
    SystemBrowser,
    Verdict,
)

__all__ = [
    "CommandBrowser",
    "Place",
    "choose_opener",
    "detect",
    "powershell_start",
]


Place = Literal["desktop", "ssh", "wsl"]

# How long a browser command may take to fail before it counts as started: many
# never return while the browser runs.
_SETTLE = 3.0


def detect(environ: Mapping[str, str], *, proc_version: str = "") -> Place:
    """Where we run: ``ssh`` (a remote shell with no display to open a browser on),
    ``wsl`` (Linux under Windows, whose browser is Windows'), else ``desktop``."""
    if "microsoft" in proc_version.lower() or environ.get("WSL_DISTRO_NAME"):
        return "wsl"
    remote = bool(environ.get("SSH_CONNECTION") or environ.get("SSH_TTY"))
    display = bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))
    if remote and not display:
        return "ssh"
    return "desktop"


def powershell_start(url: str) -> list[str]:
    """``powershell.exe Start-Process 'url'``: the URL in a single-quoted PowerShell
    string (a quote doubled), one argument, so nothing in it is run."""
    quoted = "'" + url.replace("'", "''") + "'"
    return [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-Command",
        f"Start-Process {quoted}",
    ]


class CommandBrowser:
    """Runs ``argv + [url]`` (no shell). A command that fails within a few seconds
    did not open a browser; one still running, or done with status 0, did."""

    def __init__(self, argv: Sequence[str], *, settle: float = _SETTLE) -> None:
        if not argv:
            raise ConfigError("--browser-command is empty")
        self.argv = list(argv)
        self._settle = settle

    @classmethod
    def parse(cls, command: str) -> CommandBrowser:
        """``--browser-command``: split as a shell would, ``%s`` replaced by the URL
        (else the URL comes last)."""
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ConfigError(f"--browser-command {command!r}: {exc}") from exc
        return cls(argv)

    def _argv(self, url: str) -> list[str]:
        if any("%s" in arg for arg in self.argv):
            return [arg.replace("%s", url) for arg in self.argv]
        return [*self.argv, url]

    def start(self, url: str) -> Verdict:
        """Run the command now, from a daemon thread; the verdict comes later."""
        argv = self._argv(url)
        verdict = Verdict()

        def run() -> None:
            # A thread, as for SystemBrowser: the command may outlive the login, and
            # this thread reaps it whenever it exits.
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                debug(__name__, "cannot run %s: %s", argv[0], exc)
                verdict.settle(False)
                return
            try:
                status = process.wait(self._settle)
            except subprocess.TimeoutExpired:
                verdict.settle(True)  # still running: a browser in the foreground
                process.wait()
                return
            debug(__name__, "%s exited with status %s", argv[0], status)
            verdict.settle(status == 0)

        threading.Thread(target=run, name="browser-command", daemon=True).start()
        return verdict

    async def open(self, url: str) -> bool:
        return await self.start(url).wait()


def choose_opener(
    *,
    no_browser: bool = False,
    browser_command: str | None = None,
    environ: Mapping[str, str] | None = None,
    proc_version: str | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> tuple[BrowserOpener, str | None]:
    """The opener for this machine, and a line saying why it is not the usual one."""
    if browser_command:
        return CommandBrowser.parse(browser_command), None
    if no_browser:
        return NoBrowser(), None
    environ = os.environ if environ is None else environ
    if proc_version is None:
        proc_version = _read_proc_version()
    place = detect(environ, proc_version=proc_version)
    if place == "ssh" and not environ.get("BROWSER"):
        return NoBrowser(), (
            "This is an SSH session without a display, so no browser is opened here "
            "(as with --no-browser)."
        )
    if place == "wsl" and not environ.get("BROWSER"):
        wslview = which("wslview")
        if wslview:
            return CommandBrowser([wslview]), None
        powershell = which("powershell.exe")
        if powershell:
            return _PowerShellBrowser(powershell), None
    return SystemBrowser(), None


class _PowerShellBrowser(CommandBrowser):
    def __init__(self, powershell: str) -> None:
        super().__init__([powershell])

    def _argv(self, url: str) -> list[str]:
        return [self.argv[0], *powershell_start(url)[1:]]


def _read_proc_version() -> str:
    try:
        with open("/proc/version", encoding="utf-8", errors="replace") as file:
            return file.read(4096)
    except OSError:
        return ""
