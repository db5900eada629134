"""The loopback server under hostile local traffic, through a real `login` process:
malformed requests stay off the terminal, and idle connections cannot keep the
real callback out, even with few file descriptors to spare."""

from __future__ import annotations

import http.client
import queue
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from helpers import Cli, LoginProcess, ThreadedEmulator, query_of, redirect_of

from loopback_login.emulator import DEMO_CLIENT_ID

# Requests aiohttp cannot parse, one of each kind it refuses with a 400.
MALFORMED = (
    b"GET / HTTP/1.1\r\nHost: %(host)s\r\nContent-Length: nope\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: %(host)s\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: %(host)s\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: %(host)s\r\nBad Header: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: %(host)s\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: %(host)s\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # TLS to a plain HTTP port
)
FD_LIMIT = 64


class BoundedLogin(LoginProcess):
    """`login --no-browser`, optionally with a low open-file limit of its own."""

    def __init__(
        self, cli: Cli, emu: ThreadedEmulator, *args: str, nofile: int | None = None
    ) -> None:
        def limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "loopback_login", "login", "--no-browser",
                "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
                "--timeout", "30", *args,
            ],
            env=cli.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, preexec_fn=limit,
        )  # fmt: skip
        self.stderr = ""
        self.stdout = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, True)),
            threading.Thread(target=self._pump, args=(self.proc.stdout, False)),
        ]
        for reader in self._readers:
            reader.start()


@pytest.fixture
def logins(cli: Cli, emu: ThreadedEmulator) -> Iterator[list[BoundedLogin]]:
    started: list[BoundedLogin] = []
    yield started
    for login in started:
        login.close()


def send_raw(netloc: str, data: bytes) -> None:
    host, port = netloc.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass  # a reset after the 400 is as good as the 400


def call_back(location: str) -> int:
    """Play the browser's second step: GET the callback, return its status."""
    parts = urlsplit(location)
    conn = http.client.HTTPConnection(parts.netloc, timeout=20)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_malformed_requests_stay_off_the_terminal(
    cli: Cli, emu: ThreadedEmulator, logins: list[BoundedLogin]
) -> None:
    """200 malformed requests add at most a short line per kind; the login completes."""
    login = BoundedLogin(cli, emu)
    logins.append(login)
    authorize = login.authorize_url()
    before = len(login.stderr)
    flood(authorize)
    assert call_back(redirect_of(authorize)) == 200
    assert login.finish() == 0, login.stderr[-2000:]
    assert "Signed in to" in login.stderr
    noise = len(login.stderr) - before
    assert noise < 600, login.stderr[before : before + 2000]
    assert "Traceback" not in login.stderr


def test_malformed_requests_are_one_debug_line_per_kind(
    cli: Cli, emu: ThreadedEmulator, logins: list[BoundedLogin]
) -> None:
    """With --verbose, each kind of unreadable request is named once, briefly."""
    login = BoundedLogin(cli, emu, "--verbose")
    logins.append(login)
    authorize = login.authorize_url()
    flood(authorize)
    assert call_back(redirect_of(authorize)) == 200
    assert login.finish() == 0, login.stderr[-2000:]
    refused = [
        line for line in login.stderr.splitlines() if "could not be read" in line
    ]
    assert 1 <= len(refused) <= len(MALFORMED), refused
    assert all(len(line) < 200 for line in refused), refused
    assert "Traceback" not in login.stderr


def flood(authorize: str) -> None:
    """200 malformed requests to the redirect URI's port, each on its own connection."""
    netloc = urlsplit(query_of(authorize)["redirect_uri"]).netloc
    for i in range(200):
        send_raw(netloc, MALFORMED[i % len(MALFORMED)] % {b"host": netloc.encode()})


def test_idle_connections_cannot_keep_the_callback_out(
    cli: Cli, emu: ThreadedEmulator, logins: list[BoundedLogin]
) -> None:
    """With 64 file descriptors, 300 idle connections still let the callback in."""
    login = BoundedLogin(cli, emu, nofile=FD_LIMIT)
    logins.append(login)
    authorize = login.authorize_url()
    location = redirect_of(authorize)
    host, port = urlsplit(location).netloc.rsplit(":", 1)
    idle: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        # Another local user's program: connect, send nothing (or one byte), keep open.
        while not stop.is_set() and len(idle) < 300:
            try:
                sock = socket.create_connection((host, int(port)), timeout=2)
            except OSError:
                time.sleep(0.01)
                continue
            if len(idle) % 2:
                sock.sendall(b"G")
            idle.append(sock)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        time.sleep(1.0)  # the flood is on before the callback arrives
        started = time.monotonic()
        assert call_back(location) == 200
        assert time.monotonic() - started < 10
        assert login.finish() == 0, login.stderr[-2000:]
    finally:
        stop.set()
        holder.join(10)
        for sock in idle:
            sock.close()
    assert "Signed in to" in login.stderr
    assert len(login.stderr) < 4000, login.stderr[:4000]
