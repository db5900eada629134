"""A real forward proxy for the tests: Debian's tinyproxy on 127.0.0.1, with its
own configuration and log in a temporary folder.

The tool never sends loopback traffic through a proxy, so the emulator is reached
through the proxy by a name only the proxy can resolve: tinyproxy runs in a mount
namespace of its own where its private ``/etc/hosts`` maps ``emulator.test`` to
127.0.0.1. The machine's ``/etc/hosts`` is left alone, and the test process cannot
resolve that name at all: whatever reached ``emulator.test`` went through the proxy.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["PROXIED_NAME", "TinyProxy", "tinyproxy_path"]

PROXIED_NAME = "emulator.test"
_REQUEST = re.compile(r"Request \(file descriptor \d+\): (\S+) (\S+) HTTP/")


def tinyproxy_path() -> str | None:
    return shutil.which("tinyproxy") or (
        "/usr/bin/tinyproxy" if os.access("/usr/bin/tinyproxy", os.X_OK) else None
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TinyProxy:
    """tinyproxy on a free port of 127.0.0.1; ``basic_auth`` as (user, password)."""

    def __init__(
        self, folder: Path, *, basic_auth: tuple[str, str] | None = None
    ) -> None:
        self.folder = folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "tinyproxy.log"
        self._basic_auth = basic_auth
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> TinyProxy:
        executable = tinyproxy_path()
        if executable is None:
            raise RuntimeError(
                "tinyproxy is not installed: apt-get install tinyproxy-bin (.ci/run does)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o777)  # tinyproxy may drop to another user for its log
        hosts = self.folder / "hosts"
        hosts.write_text(f"127.0.0.1 localhost\n127.0.0.1 {PROXIED_NAME}\n")
        config = self.folder / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            f'LogFile "{self.log}"',
            "LogLevel Info",
            "MaxClients 50",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
        ]
        if self._basic_auth:
            lines.append("BasicAuth {} {}".format(*self._basic_auth))
        config.write_text("\n".join(lines) + "\n")
        # unshare(1) execs the shell, which execs tinyproxy: one process, one pid.
        with (self.folder / "stderr").open("wb") as stderr:
            self._process = subprocess.Popen(
                [
                    "unshare", "--mount", "sh", "-c",
                    f'mount --bind "{hosts}" /etc/hosts && exec "{executable}" -d -c "{config}"',
                ],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    "tinyproxy did not start: "
                    + (self.folder / "stderr").read_text(errors="replace")
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("tinyproxy did not listen within 10 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)

    def requests(self) -> list[tuple[str, str]]:
        """Every request the proxy was asked to make: (method, target)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return _REQUEST.findall(text)
