"""A real Secret Service for the tests: Debian's gnome-keyring-daemon on a private
D-Bus session bus, its login keyring unlocked with a known password; and a D-Bus
service that takes the Secret Service's name and never answers.

Each bus has its own configuration, with no activation folders: nothing on it is
started behind the tests' back, and nothing reaches the developer's own session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import secretstorage
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

SECRETS = "org.freedesktop.secrets"
PASSWORD = "correct horse battery staple"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def tools_present() -> bool:
    return all(shutil.which(t) for t in ("dbus-daemon", "gnome-keyring-daemon"))


@contextmanager
def private_bus(folder: Path) -> Iterator[str]:
    """A D-Bus session bus of its own; yields its address."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=folder / "bus.sock"))
    bus = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert bus.stdout is not None
        address = bus.stdout.readline().strip()
        assert address.startswith("unix:"), address
        yield address
    finally:
        bus.terminate()
        bus.wait(10)
        if bus.stdout is not None:
            bus.stdout.close()


def name_has_owner(address: str, name: str) -> bool:
    with closing(open_dbus_connection(bus=address)) as conn:
        reply = conn.send_and_get_reply(message_bus.NameHasOwner(name), timeout=5)
    return bool(reply.body[0])


class SecretService:
    """gnome-keyring-daemon, serving the Secret Service on a private bus."""

    def __init__(self, address: str, home: Path) -> None:
        self.address = address
        self.home = home
        runtime = home / "run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.env = {
            "DBUS_SESSION_BUS_ADDRESS": address,
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_RUNTIME_DIR": str(runtime),
        }

    def connect(self) -> Any:
        return open_dbus_connection(bus=self.address)

    def items(self) -> dict[str, str]:
        """Every loopback-login secret: its user name → its value."""
        with closing(self.connect()) as conn:
            collection = secretstorage.get_default_collection(conn)
            found = {}
            for item in collection.search_items({"service": "loopback-login"}):
                user = item.get_attributes()["username"]
                found[user] = item.get_secret().decode()
            return found

    def delete_all(self) -> None:
        with closing(self.connect()) as conn:
            collection = secretstorage.get_default_collection(conn)
            for item in collection.search_items({"service": "loopback-login"}):
                item.delete()

    def lock(self) -> None:
        with closing(self.connect()) as conn:
            collection = secretstorage.get_default_collection(conn)
            collection.lock()
            assert collection.is_locked()


@contextmanager
def gnome_keyring(folder: Path) -> Iterator[SecretService]:
    """gnome-keyring-daemon on its own bus, its login keyring unlocked."""
    with private_bus(folder / "bus") as address:
        service = SecretService(address, folder / "home")
        daemon = subprocess.Popen(
            [
                "gnome-keyring-daemon",
                "--foreground",
                "--unlock",
                "--components=secrets",
            ],
            env={**os.environ, **service.env},
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert daemon.stdin is not None
            daemon.stdin.write(PASSWORD.encode())
            daemon.stdin.close()  # the password ends where the input does
            deadline = time.monotonic() + 20
            while not name_has_owner(address, SECRETS):
                assert daemon.poll() is None, "gnome-keyring-daemon exited"
                assert time.monotonic() < deadline, "no Secret Service after 20 s"
                time.sleep(0.05)
            yield service
        finally:
            daemon.terminate()
            daemon.wait(10)


@contextmanager
def silent_secret_service(folder: Path) -> Iterator[str]:
    """A bus whose Secret Service takes every call and never answers; its address."""
    with private_bus(folder) as address:
        conn = open_dbus_connection(bus=address)
        reply = conn.send_and_get_reply(message_bus.RequestName(SECRETS), timeout=5)
        assert reply.body[0] == 1  # primary owner
        stop = threading.Event()

        def swallow() -> None:  # read each call, answer none
            while not stop.is_set():
                try:
                    conn.receive(timeout=0.2)
                except TimeoutError:
                    continue
                except OSError:
                    return

        thread = threading.Thread(target=swallow, daemon=True)
        thread.start()
        try:
            yield address
        finally:
            stop.set()
            thread.join(5)
            conn.close()
