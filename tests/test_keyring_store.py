"""Refresh tokens in the OS keyring: a real Secret Service (gnome-keyring-daemon on a
private D-Bus bus), reached through keyring, SecretStorage and jeepney; real CLI
processes against the real emulator."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Cli, EmulatorStarter, ThreadedEmulator, expire, login
from secret_service import SecretService, gnome_keyring, silent_secret_service

from loopback_login.emulator import STATE
from loopback_login.errors import KeyringError, NotLoggedInError
from loopback_login.store.file_store import FileTokenStore
from loopback_login.store.keyring_store import KeyringStore
from loopback_login.store.os_keyring import OSKeyring

BACKEND = "SecretService Keyring"


@pytest.fixture(scope="module")
def secret_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecretService]:
    with gnome_keyring(tmp_path_factory.mktemp("secret-service")) as service:
        yield service


@pytest.fixture
def kcli(tmp_path: Path, secret_service: SecretService) -> Cli:
    """The CLI, in the Secret Service's D-Bus session, with an empty keyring."""
    secret_service.delete_all()
    cli = Cli(tmp_path / "home")
    cli.env.update(secret_service.env)
    return cli


@pytest.fixture
def keyring_env(
    secret_service: SecretService, monkeypatch: pytest.MonkeyPatch
) -> SecretService:
    """This process in the Secret Service's D-Bus session, with an empty keyring."""
    secret_service.delete_all()
    for name, value in secret_service.env.items():
        monkeypatch.setenv(name, value)
    return secret_service


def session_active(emu: ThreadedEmulator, token: str) -> bool:
    return bool(emu.call(lambda: emu.app[STATE].is_session_active(token)))  # type: ignore[index]


def browser_marker(tmp_path: Path) -> tuple[str, Path]:
    """A $BROWSER that only records that it was started."""
    marker = tmp_path / "browser-was-opened"
    script = tmp_path / "browser.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    return f"{sys.executable} {script} %s", marker


def test_keyring_profile_end_to_end(
    kcli: Cli, secret_service: SecretService, threaded_emulator: EmulatorStarter
) -> None:
    """login → token → refresh → token → logout, the keyring item checked at each
    step: the refresh token is never in the file, written only when it changes."""
    emu = threaded_emulator()
    result = login(kcli, emu, "--storage", "keyring")
    assert f"keyring: {BACKEND}" in result.stderr
    entry = kcli.entry()
    assert entry["settings"]["storage"] == "keyring"
    assert entry["tokens"]["refresh_token"] is None
    ref = entry["keyring"]
    assert (ref["backend"], ref["n"]) == (BACKEND, 1)
    items = secret_service.items()
    assert list(items) == [f"{ref['id']}/1"]
    first = items[f"{ref['id']}/1"]
    assert session_active(emu, first)
    assert first not in (kcli.home / "default.json").read_text()

    access = entry["tokens"]["access_token"]
    assert kcli("token").stdout == f"{access}\n"
    status = kcli("status")
    assert f"stored in:   keyring: {BACKEND}" in status.stdout
    (as_json,) = json.loads(kcli("status", "--json", "-p", "default").stdout)
    assert as_json["refresh_token_storage"] == f"keyring: {BACKEND}"
    assert as_json["state"] == "valid"
    assert first not in status.stdout + status.stderr

    expire(kcli)
    refreshed = kcli("token")
    assert refreshed.returncode == 0, refreshed.stderr
    assert refreshed.stdout.strip() != access
    entry = kcli.entry()
    assert entry["keyring"]["n"] == 2
    assert entry["tokens"]["refresh_token"] is None
    items = secret_service.items()
    assert list(items) == [f"{ref['id']}/2"]  # the spent one is gone
    second = items[f"{ref['id']}/2"]
    assert second != first
    assert session_active(emu, second)

    # A token that needs no refresh leaves the keyring as it was.
    assert kcli("token", "--min-valid", "0").returncode == 0
    assert kcli("status").returncode == 0
    assert secret_service.items() == {f"{ref['id']}/2": second}
    assert kcli.entry()["keyring"]["n"] == 2

    out = kcli("logout")
    assert out.returncode == 0, out.stderr
    assert secret_service.items() == {}
    assert not (kcli.home / "default.json").exists()
    assert not session_active(emu, second)


def test_keyring_refresh_is_single_flight_across_processes(
    kcli: Cli, secret_service: SecretService, threaded_emulator: EmulatorStarter
) -> None:
    """Six processes, an expired token: one refresh, one token, one item written."""
    emu = threaded_emulator()
    login(kcli, emu, "--storage", "keyring")
    expire(kcli)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "loopback_login", "token"],
            env=kcli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outputs
    assert len({out for out, _ in outputs}) == 1
    refreshes = emu.call(
        lambda: emu.app[STATE].count("token", grant_type="refresh_token")  # type: ignore[index]
    )
    assert refreshes == 1
    ref = kcli.entry()["keyring"]
    assert ref["n"] == 2
    assert list(secret_service.items()) == [f"{ref['id']}/2"]


def test_storage_is_remembered_and_switching_cleans_up(
    kcli: Cli, secret_service: SecretService, threaded_emulator: EmulatorStarter
) -> None:
    emu = threaded_emulator()
    login(kcli, emu, "--storage", "keyring")
    old_id = kcli.entry()["keyring"]["id"]
    again = login(kcli, emu)  # no --storage: the profile's choice holds
    assert "keyring" in again.stderr
    entry = kcli.entry()
    assert entry["settings"]["storage"] == "keyring"
    assert entry["keyring"]["id"] != old_id  # a new login, a new item
    assert list(secret_service.items()) == [f"{entry['keyring']['id']}/1"]

    to_file = login(kcli, emu, "--storage", "file")
    assert "(file)" in to_file.stderr
    entry = kcli.entry()
    assert entry["settings"]["storage"] == "file"
    assert "keyring" not in entry
    assert entry["tokens"]["refresh_token"]
    assert secret_service.items() == {}
    status = kcli("status")
    assert "plain text on disk" in status.stdout


def test_logout_local_and_all_remove_the_items(
    kcli: Cli, secret_service: SecretService, threaded_emulator: EmulatorStarter
) -> None:
    emu = threaded_emulator()
    login(kcli, emu, "--storage", "keyring")
    login(kcli, emu, "--storage", "keyring", "--profile", "work")
    login(kcli, emu, "--storage", "keyring", "--profile", "home")
    assert len(secret_service.items()) == 3
    local = kcli("logout", "--local", "--profile", "work")
    assert local.returncode == 0, local.stderr
    assert len(secret_service.items()) == 2
    every = kcli("logout", "--all")
    assert every.returncode == 0, every.stderr
    assert secret_service.items() == {}


def test_item_removed_by_hand_is_needs_login(
    kcli: Cli, secret_service: SecretService, threaded_emulator: EmulatorStarter
) -> None:
    emu = threaded_emulator()
    login(kcli, emu, "--storage", "keyring")
    secret_service.delete_all()
    expire(kcli)
    result = kcli("token")
    assert result.returncode == 1
    assert "missing from the OS keyring" in result.stderr
    assert "run: loopback-login login --profile default" in result.stderr
    assert "Traceback" not in result.stderr
    assert kcli("token", "--login").returncode == 0  # and a login is the cure


def test_no_secret_service_fails_before_the_browser(
    tmp_path: Path, threaded_emulator: EmulatorStarter
) -> None:
    """No bus at all: a clear error naming the Secret Service and the fix; no
    browser, nothing written to disk."""
    emu = threaded_emulator()
    cli = Cli(tmp_path / "home")
    browser, marker = browser_marker(tmp_path)
    cli.env.update(
        BROWSER=browser, DBUS_SESSION_BUS_ADDRESS=f"unix:path={tmp_path}/no-bus"
    )
    started = time.monotonic()
    result = cli(
        "login", "--server", emu.url, "--client-id", "demo-cli", "--storage", "keyring"
    )
    assert result.returncode == 1
    assert "no usable OS keyring" in result.stderr
    assert "Secret Service" in result.stderr
    assert "--storage file" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 15
    assert not marker.exists()
    assert not cli.home.exists()


@pytest.fixture
def hanging_socket(tmp_path: Path) -> Iterator[str]:
    """A Unix socket that accepts connections and never says a word."""
    path = tmp_path / "hang.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"unix:path={path}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("kind", ["silent Secret Service", "silent socket"])
def test_a_keyring_that_never_answers_is_a_bounded_error(
    tmp_path: Path,
    threaded_emulator: EmulatorStarter,
    hanging_socket: str,
    kind: str,
) -> None:
    emu = threaded_emulator()
    cli = Cli(tmp_path / "home")
    browser, marker = browser_marker(tmp_path)

    def run(address: str) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        result = cli(
            "login", "--server", emu.url, "--client-id", "demo-cli",
            "--storage", "keyring",
            BROWSER=browser, DBUS_SESSION_BUS_ADDRESS=address,
            LOOPBACK_LOGIN_KEYRING_TIMEOUT="2",
        )  # fmt: skip
        return result, time.monotonic() - started

    if kind == "silent socket":
        result, took = run(hanging_socket)
    else:
        with silent_secret_service(tmp_path / "silent") as address:
            result, took = run(address)
    assert result.returncode == 1, result.stderr
    assert "did not answer within 2 s" in result.stderr
    assert "LOOPBACK_LOGIN_KEYRING_TIMEOUT" in result.stderr
    assert "--storage file" in result.stderr
    assert took < 12, f"took {took:.1f} s"
    assert not marker.exists()
    assert not cli.home.exists()


def test_locked_keyring_is_a_clear_error(
    tmp_path: Path, threaded_emulator: EmulatorStarter
) -> None:
    """A locked collection: a refresh fails at once, saying so, the entry as it was;
    a login fails before the browser."""
    emu = threaded_emulator()
    with gnome_keyring(tmp_path / "own") as service:
        cli = Cli(tmp_path / "home")
        cli.env.update(service.env)
        login(cli, emu, "--storage", "keyring")
        expire(cli)
        before = (cli.home / "default.json").read_bytes()
        service.lock()
        started = time.monotonic()
        result = cli("token", LOOPBACK_LOGIN_KEYRING_TIMEOUT="3")
        assert result.returncode == 1
        assert "is locked" in result.stderr
        assert "gnome-keyring-daemon --unlock" in result.stderr
        assert time.monotonic() - started < 12
        assert (cli.home / "default.json").read_bytes() == before

        browser, marker = browser_marker(tmp_path)
        again = cli(
            "login", "--storage", "keyring", "--timeout", "20",
            BROWSER=browser, LOOPBACK_LOGIN_KEYRING_TIMEOUT="3",
        )  # fmt: skip
        assert again.returncode == 1
        assert "is locked" in again.stderr
        assert not marker.exists()


def test_cached_token_path_never_loads_the_keyring(
    kcli: Cli, threaded_emulator: EmulatorStarter
) -> None:
    login(kcli, threaded_emulator(), "--storage", "keyring")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "loopback_login", "token"],
        env=kcli.env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert "loopback_login.cli.fast" in imported
    for name in imported:
        for heavy in ("keyring", "jeepney", "secretstorage", "threading"):
            assert heavy not in name, f"{name} imported on the cached path"


@pytest.mark.timeout(1500)
def test_kill_9_during_refresh_never_tears_the_session(
    kcli: Cli, secret_service: SecretService, threaded_emulator: EmulatorStarter
) -> None:
    """50 refreshes killed with SIGKILL just after the server saw them, before,
    while or after the keyring and the entry are written: each leaves a session
    that works, or one that says plainly that it ended (exit 2); never a torn one."""
    emu = threaded_emulator()

    def refreshes() -> int:
        return int(
            emu.call(lambda: emu.app[STATE].count("token", grant_type="refresh_token"))  # type: ignore[index]
        )

    login(kcli, emu, "--storage", "keyring")
    rng = random.Random(14)
    outcomes = {"usable": 0, "ended": 0, "finished first": 0}
    for _ in range(50):
        expire(kcli)
        seen = refreshes()
        proc = subprocess.Popen(
            [sys.executable, "-m", "loopback_login", "token"],
            env=kcli.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while refreshes() == seen and proc.poll() is None:
            assert time.monotonic() < deadline, "no refresh within 30 s"
            time.sleep(0.002)
        # The server has spent the old token: the dangerous window starts here.
        time.sleep(rng.uniform(0, 0.05))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        else:
            outcomes["finished first"] += 1
        proc.wait(10)
        after = kcli("token")
        assert after.returncode in (0, 2), after.stderr
        assert "Traceback" not in after.stderr
        if after.returncode == 0:
            outcomes["usable"] += 1
            entry = kcli.entry()
            assert after.stdout.strip() == entry["tokens"]["access_token"]
            assert session_active(emu, after.stdout.strip())
            ref = entry["keyring"]
            assert f"{ref['id']}/{ref['n']}" in secret_service.items()
        else:
            outcomes["ended"] += 1
            assert "loopback-login login" in after.stderr
            login(kcli, emu)
    print(f"after 50 kills: {outcomes}")
    assert outcomes["usable"] > 0, outcomes


# -- the store on its own, against the real Secret Service ---------------------------


def entry_with(refresh: str | None, **extra: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "settings": {"server": "https://example.test", "client_id": "c", "storage": "keyring"},
        "tokens": {"access_token": "a", "token_type": "bearer", "issued_at": now,
                   "expires_at": now + 3600, "refresh_token": refresh},
        **extra,
    }  # fmt: skip


def test_successor_left_by_a_crash_is_found(
    tmp_path: Path, keyring_env: SecretService
) -> None:
    """Killed after writing the successor, before replacing the entry: the entry
    names item N, the successor is in N + 1, and the next reader finds it."""
    store = KeyringStore(FileTokenStore(tmp_path), OSKeyring(timeout=10))
    store.save("p", entry_with("first"))
    ref = store.load("p")["keyring"]  # type: ignore[index]
    OSKeyring(timeout=10).set(f"{ref['id']}/2", "second")  # the crash's leftover

    fresh = KeyringStore(FileTokenStore(tmp_path), OSKeyring(timeout=10))
    token, found = fresh.read_refresh_token("p", ref)
    assert (token, found["n"]) == ("second", 2)
    fresh.save("p", entry_with("third", keyring=found))
    assert fresh.load("p")["keyring"]["n"] == 3  # type: ignore[index]
    assert keyring_env.items() == {f"{ref['id']}/3": "third"}


def test_unchanged_refresh_token_is_not_written_again(
    tmp_path: Path, keyring_env: SecretService
) -> None:
    store = KeyringStore(FileTokenStore(tmp_path), OSKeyring(timeout=10))
    store.save("p", entry_with("same"))
    ref = store.load("p")["keyring"]  # type: ignore[index]
    other = KeyringStore(FileTokenStore(tmp_path), OSKeyring(timeout=10))
    other.save("p", entry_with("same", keyring=ref))  # compares by reading, once
    store.save("p", entry_with("same", keyring=ref))  # compares with what it wrote
    assert store.load("p")["keyring"]["n"] == 1  # type: ignore[index]
    assert keyring_env.items() == {f"{ref['id']}/1": "same"}


def test_missing_item_raises_not_logged_in(
    tmp_path: Path, keyring_env: SecretService
) -> None:
    store = KeyringStore(FileTokenStore(tmp_path), OSKeyring(timeout=10))
    store.save("p", entry_with("gone"))
    keyring_env.delete_all()
    with pytest.raises(NotLoggedInError, match="missing from the OS keyring"):
        store.read_refresh_token("p", store.load("p")["keyring"])  # type: ignore[index]


def test_value_over_the_backend_limit_is_refused(
    tmp_path: Path, keyring_env: SecretService
) -> None:
    """As Windows' 2,560-byte credential limit would: refused whole, never cut,
    and the entry not written."""
    limited = OSKeyring(
        timeout=10, limits={"keyring.backends.SecretService.Keyring": 20}
    )
    store = KeyringStore(FileTokenStore(tmp_path), limited)
    with pytest.raises(KeyringError, match=r"21 characters long.*at most 20"):
        store.save("p", entry_with("x" * 21))
    assert keyring_env.items() == {}
    assert store.load("p") is None
