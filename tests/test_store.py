"""The token store: one contract for both stores, then what only the file store promises."""

from __future__ import annotations

import json
import os
import random
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopback_login.errors import (
    ConfigError,
    CorruptEntryError,
    NewerEntryError,
    TokenStoreError,
)
from loopback_login.store.file_store import (
    FORMAT_VERSION,
    FileTokenStore,
    TokenStore,
    default_store_dir,
    validate_profile_name,
)
from loopback_login.store.memory_store import MemoryTokenStore
from loopback_login.store.private_files import ORPHAN_AGE

WRITER = str(Path(__file__).with_name("store_writer.py"))
POSIX = os.name == "posix"
posix_only = pytest.mark.skipif(not POSIX, reason="POSIX modes, owners and signals")
BAD_NAMES = ["../x", "", "a/b", "a" * 65, ".hidden", "-x", "a b", "é", "x\0y", "x\\y"]


def writer(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """Start tests/store_writer.py in a new process."""
    return subprocess.Popen([sys.executable, WRITER, *args], text=True, **kwargs)


def write_private(path: str, data: bytes) -> None:
    """Put raw bytes where an entry lives, 0600 like the store's own files."""
    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def run_save(files: FileTokenStore, entry: dict[str, Any], *options: str) -> Any:
    """Save ``entry`` as profile "work" in a child process; return its JSON report."""
    command = ["save", files.directory, "work", json.dumps(entry), *options]
    out = subprocess.run(
        [sys.executable, WRITER, *command],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(out.stdout)


class StoreContract:
    """What every TokenStore does; subclasses supply the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> TokenStore:
        raise NotImplementedError

    def test_round_trip(self, store: TokenStore) -> None:
        """A saved entry loads back with the format number added."""
        entry = {"access_token": "a", "nested": {"scopes": ["x", "y"]}, "text": "é✓"}
        store.save("work", entry)
        assert store.load("work") == {"format": FORMAT_VERSION, **entry}

    def test_missing_entry_is_none(self, store: TokenStore) -> None:
        """Loading a profile never saved gives None."""
        assert store.load("work") is None
        assert store.profiles() == []

    def test_save_replaces(self, store: TokenStore) -> None:
        """A second save replaces the first entry whole."""
        store.save("work", {"a": 1, "b": 2})
        store.save("work", {"c": 3})
        assert store.load("work") == {"format": FORMAT_VERSION, "c": 3}

    def test_format_is_ours(self, store: TokenStore) -> None:
        """The stored format is the writer's, whatever the caller's dict says."""
        store.save("work", {"format": 99, "a": 1})
        assert store.load("work") == {"format": FORMAT_VERSION, "a": 1}

    def test_delete(self, store: TokenStore) -> None:
        """Delete removes the entry once and then reports there was nothing."""
        store.save("work", {"a": 1})
        assert store.delete("work") is True
        assert store.load("work") is None
        assert store.delete("work") is False

    def test_profiles_listed_and_kept_apart(self, store: TokenStore) -> None:
        """Profiles are listed sorted and one profile's entry never leaks into another."""
        store.save("work", {"who": "work"})
        store.save("home.2", {"who": "home"})
        assert store.profiles() == ["home.2", "work"]
        store.delete("home.2")
        assert store.profiles() == ["work"]
        assert store.load("work") == {"format": FORMAT_VERSION, "who": "work"}

    def test_loaded_entry_is_a_copy(self, store: TokenStore) -> None:
        """Changing a loaded or saved dict does not change what is stored."""
        entry = {"scopes": ["a"]}
        store.save("work", entry)
        entry["scopes"].append("saved-then-changed")
        loaded = store.load("work")
        assert loaded is not None
        loaded["scopes"].append("loaded-then-changed")
        assert store.load("work") == {"format": FORMAT_VERSION, "scopes": ["a"]}

    def test_entry_must_be_a_dict(self, store: TokenStore) -> None:
        """Anything but a dict is refused before it is stored."""
        with pytest.raises(TypeError, match="dict"):
            store.save("work", ["not", "a", "dict"])  # type: ignore[arg-type]
        assert store.load("work") is None

    @pytest.mark.parametrize("name", BAD_NAMES)
    @pytest.mark.parametrize("operation", ["load", "save", "delete", "lock"])
    def test_bad_profile_names_refused(
        self, store: TokenStore, name: str, operation: str
    ) -> None:
        """A name that could escape the folder or hide a file is a ConfigError."""
        calls: dict[str, Callable[[], object]] = {
            "load": lambda: store.load(name),
            "save": lambda: store.save(name, {}),
            "delete": lambda: store.delete(name),
            "lock": lambda: store.lock(name).__enter__(),
        }
        with pytest.raises(ConfigError, match="invalid profile name"):
            calls[operation]()

    def test_longest_and_shortest_names_accepted(self, store: TokenStore) -> None:
        """One character and 64 characters are both fine."""
        for name in ["a", "A" * 64, "0.x_y-z"]:
            assert validate_profile_name(name) == name
            store.save(name, {})
        assert store.profiles() == sorted(["a", "A" * 64, "0.x_y-z"])

    def test_lock_keeps_others_out(self, store: TokenStore) -> None:
        """While one thread holds a profile, another times out; it gets in after."""
        held, done = threading.Event(), threading.Event()

        def hold() -> None:
            with store.lock("work"):
                held.set()
                done.wait(10)

        thread = threading.Thread(target=hold)
        thread.start()
        try:
            assert held.wait(10)
            with (
                pytest.raises(TokenStoreError, match="work"),
                store.lock("work", timeout=0.1),
            ):
                pass
            with store.lock("other", timeout=1):  # other profiles are not held
                pass
        finally:
            done.set()
            thread.join(10)
        with store.lock("work", timeout=5):
            store.save("work", {"ok": True})

    def test_lock_released_after_error(self, store: TokenStore) -> None:
        """An exception inside lock() still releases it."""
        with pytest.raises(RuntimeError), store.lock("work"):
            raise RuntimeError("boom")
        with store.lock("work", timeout=1):
            pass


class TestFileStoreContract(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> TokenStore:
        return FileTokenStore(tmp_path / "tokens")


class TestMemoryStoreContract(StoreContract):
    @pytest.fixture
    def store(self) -> TokenStore:
        return MemoryTokenStore()


@pytest.fixture
def files(tmp_path: Path) -> FileTokenStore:
    return FileTokenStore(tmp_path / "tokens")


@posix_only
def test_folder_0700_and_file_0600(files: FileTokenStore) -> None:
    """Right after a save the folder is 0700 and the entry 0600."""
    files.save("work", {"a": 1})
    assert mode(files.directory) == 0o700
    assert mode(files.path_for("work")) == 0o600


@posix_only
def test_private_from_the_first_byte(files: FileTokenStore) -> None:
    """Under umask 0 the entry is still 0600 and no chmod ran, so it never had other modes."""
    report = run_save(files, {"a": 1}, "--umask", "0")
    assert report["error"] is None
    assert report["chmods"] == []
    assert mode(files.path_for("work")) == 0o600
    assert mode(files.directory) == 0o700


@posix_only
def test_loose_folder_tightened_on_save(files: FileTokenStore) -> None:
    """Saving into our own 0755 folder makes it 0700."""
    os.makedirs(files.directory)
    os.chmod(files.directory, 0o755)
    files.save("work", {"a": 1})
    assert mode(files.directory) == 0o700


def test_atomic_replace(files: FileTokenStore) -> None:
    """A save writes a new file and renames it over the old one, leaving no temp file."""
    files.save("work", {"n": 1})
    before = os.stat(files.path_for("work")).st_ino
    files.save("work", {"n": 2})
    assert os.stat(files.path_for("work")).st_ino != before
    assert sorted(os.listdir(files.directory)) == ["work.json"]
    assert files.load("work") == {"format": FORMAT_VERSION, "n": 2}


@pytest.mark.parametrize(
    "data",
    [b'{"format": 1, "access_tok', b"[1, 2]", b"\xff\xfe\x00garbage", b"", b'{"a": 1}'],
    ids=["truncated", "not-an-object", "not-utf8", "empty", "no-format"],
)
def test_corrupt_entry_moved_aside(files: FileTokenStore, data: bytes) -> None:
    """A broken entry is moved to .corrupt-<time> with its bytes intact, and named."""
    path = files.path_for("work")
    write_private(path, data)
    with pytest.raises(CorruptEntryError) as caught:
        files.load("work")
    aside = [n for n in os.listdir(files.directory) if ".corrupt-" in n]
    assert len(aside) == 1
    assert aside[0].startswith("work.json.corrupt-")
    assert Path(files.directory, aside[0]).read_bytes() == data
    assert not os.path.exists(path)
    assert path in str(caught.value)
    assert os.path.join(files.directory, aside[0]) in str(caught.value)
    assert caught.value.hint == "run: loopback-login login --profile work"
    assert files.load("work") is None
    assert files.profiles() == []


def test_newer_format_refused_and_kept(files: FileTokenStore) -> None:
    """An entry from a newer version is neither used, moved nor overwritten."""
    path = files.path_for("work")
    data = json.dumps({"format": FORMAT_VERSION + 1, "more": "fields"}).encode()
    write_private(path, data)
    with pytest.raises(NewerEntryError, match="newer loopback-login"):
        files.load("work")
    with pytest.raises(NewerEntryError, match="newer loopback-login"):
        files.save("work", {"a": 1})
    assert Path(path).read_bytes() == data
    assert os.listdir(files.directory) == ["work.json"]


@posix_only
@pytest.mark.parametrize(
    ("folder_mode", "file_mode", "fix"),
    [
        (0o700, 0o644, "chmod 600 {file}"),
        (0o700, 0o604, "chmod 600 {file}"),
        (0o700, 0o660, "chmod 600 {file}"),
        (0o755, 0o600, "chmod 700 {folder}"),
        (0o710, 0o600, "chmod 700 {folder}"),
    ],
)
def test_open_permissions_refused(
    files: FileTokenStore, folder_mode: int, file_mode: int, fix: str
) -> None:
    """Tokens others could read are refused with the exact chmod; running it fixes it."""
    files.save("work", {"a": 1})
    path = files.path_for("work")
    os.chmod(path, file_mode)
    os.chmod(files.directory, folder_mode)
    with pytest.raises(TokenStoreError, match="open to other users") as caught:
        files.load("work")
    assert not isinstance(caught.value, CorruptEntryError)
    command = fix.format(file=path, folder=files.directory)
    assert caught.value.hint == f"run: {command}"
    subprocess.run(command.split(), check=True)
    assert files.load("work") == {"format": FORMAT_VERSION, "a": 1}


@pytest.mark.skipif(not POSIX or os.geteuid() != 0, reason="only root can chown")
def test_other_owner_refused(files: FileTokenStore) -> None:
    """An entry owned by another account is refused, even with 0600."""
    files.save("work", {"a": 1})
    os.chown(files.path_for("work"), 65534, 65534)
    with pytest.raises(TokenStoreError, match="belongs to user id 65534") as caught:
        files.load("work")
    assert caught.value.hint is not None
    assert "chown" in caught.value.hint


@pytest.mark.skipif(sys.platform != "linux", reason="capset and RLIMIT_FSIZE")
@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (["--no-root-powers"], "permission denied"),  # folder made 0500 below
        (["--fsize", "4096"], "file too large"),  # stands in for a full disk
    ],
    ids=["read-only-folder", "disk-full"],
)
def test_failed_save_keeps_old_entry(
    files: FileTokenStore, options: list[str], reason: str
) -> None:
    """A save the OS refuses raises TokenStoreError with path and reason; nothing changes."""
    files.save("work", {"old": True})
    before = Path(files.path_for("work")).read_bytes()
    if "--no-root-powers" in options:
        os.chmod(files.directory, 0o500)
    try:
        report = run_save(files, {"blob": "x" * 100_000}, *options)
    finally:
        os.chmod(files.directory, 0o700)
    assert report["error"] == "TokenStoreError"
    assert files.path_for("work") in report["message"]
    assert reason in report["message"]
    assert Path(files.path_for("work")).read_bytes() == before
    assert os.listdir(files.directory) == ["work.json"]


def test_delete_keeps_lock_file(files: FileTokenStore) -> None:
    """Delete removes the entry and leaves the (harmless) lock file."""
    with files.lock("work"):
        files.save("work", {"a": 1})
    assert files.delete("work") is True
    assert os.listdir(files.directory) == ["work.lock"]


def test_profiles_ignore_other_files(files: FileTokenStore) -> None:
    """Temp, lock, corrupt and foreign files are not profiles."""
    files.save("work", {"a": 1})
    for name in [".work.0a1b2c.tmp", "home.lock", "home.json.corrupt-20250101T000000Z"]:
        write_private(os.path.join(files.directory, name), b"{}")
    write_private(os.path.join(files.directory, "notes.txt"), b"")
    assert files.profiles() == ["work"]


def test_missing_folder_is_empty(files: FileTokenStore) -> None:
    """Reading from a folder that does not exist finds nothing and creates nothing."""
    assert files.load("work") is None
    assert files.profiles() == []
    assert files.delete("work") is False
    assert not os.path.exists(files.directory)


@posix_only
def test_sigkill_mid_write_leaves_whole_entry(files: FileTokenStore) -> None:
    """A writer killed at random moments leaves the old or the new entry, never a torn one."""
    size, rng = 256 * 1024, random.Random(7)
    mid_write = rounds = 0
    while (rounds < 30 or mid_write < 10) and rounds < 200:  # enough kills mid-write
        rounds += 1
        with writer(
            "churn", files.directory, "work", str(size), stdout=subprocess.PIPE
        ) as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "ready\n"
            time.sleep(rng.uniform(0, 0.02))
            proc.kill()
            proc.wait(10)
        temps = [n for n in os.listdir(files.directory) if n.endswith(".tmp")]
        mid_write += bool(temps)
        for name in temps:
            os.unlink(os.path.join(files.directory, name))
        entry = files.load("work")
        assert entry is not None
        assert entry["blob"] == f"{entry['seq']:08d}" * (size // 8)
    assert mid_write >= 10, f"only {mid_write} of {rounds} kills landed mid-write"


def test_save_sweeps_what_killed_writers_left(files: FileTokenStore) -> None:
    """Old temp files go on the next save, whichever profile they were for; recent
    ones stay (a writer may be at work on them)."""
    files.save("work", {"n": 1})
    old = Path(files.directory, ".work.0a1b2c3d4e5f.tmp")
    recent = Path(files.directory, ".work.ffffffffffff.tmp")
    other = Path(files.directory, ".home.0a1b2c3d4e5f.tmp")
    for path in (old, recent, other):
        path.write_bytes(b'{"format": 1, "half')
    long_ago = time.time() - ORPHAN_AGE - 60
    for path in (old, other):
        os.utime(path, (long_ago, long_ago))
    files.save("work", {"n": 2})
    assert not old.exists()
    assert not other.exists()
    assert recent.exists()
    assert files.load("work") == {"format": FORMAT_VERSION, "n": 2}


def test_many_processes_count_exactly(files: FileTokenStore) -> None:
    """16 processes each adding 1 twenty times under lock() end at exactly 320."""
    procs = [writer("count", files.directory, "counter", "20") for _ in range(16)]
    try:
        codes = [proc.wait(60) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    assert codes == [0] * 16
    assert files.load("counter") == {"format": FORMAT_VERSION, "count": 320}


def test_lock_timeout_names_the_lock_file(files: FileTokenStore) -> None:
    """Waiting on a lock another process holds fails with its path; it frees on exit."""
    with writer(
        "hold", files.directory, "work", stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdin is not None
        assert proc.stdout.readline() == "locked\n"
        started = time.monotonic()
        with pytest.raises(TokenStoreError) as caught, files.lock("work", timeout=0.3):
            pass
        assert time.monotonic() - started >= 0.3
        proc.stdin.close()
        assert proc.wait(10) == 0
    message = str(caught.value)
    assert "another loopback-login process holds profile 'work'" in message
    assert os.path.join(files.directory, "work.lock") in message
    with files.lock("work", timeout=5):
        pass


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
_json = st.recursive(
    _scalars | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=10,
)
_entries = st.dictionaries(st.text(), _json).flatmap(
    lambda d: st.builds(
        lambda fmt: {**d, "format": fmt}, st.integers(-1, 3) | _scalars | st.text()
    )
)
_bytes = st.binary(max_size=200) | (_json | _entries).map(
    lambda v: json.dumps(v).encode()
)


@settings(max_examples=200, deadline=None, database=None)  # no .hypothesis/ in the repo
@given(data=_bytes)
def test_any_bytes_load_or_store_error(data: bytes) -> None:
    """Whatever bytes an entry holds, load returns a dict or raises a store error."""
    with tempfile.TemporaryDirectory() as directory:
        files = FileTokenStore(directory)
        path = files.path_for("work")
        write_private(path, data)
        try:
            entry = files.load("work")
        except NewerEntryError:  # left where it was
            assert json.loads(data)["format"] > FORMAT_VERSION
            assert Path(path).read_bytes() == data
        except CorruptEntryError:  # broken: moved aside intact
            (aside,) = Path(directory).glob("work.json.corrupt-*")
            assert aside.read_bytes() == data
        except TokenStoreError:
            pass
        else:
            assert isinstance(entry, dict)
            assert entry == json.loads(data)
            assert entry["format"] == FORMAT_VERSION


def test_store_dir_from_environment() -> None:
    """LOOPBACK_LOGIN_HOME wins over everything else."""
    env = {"LOOPBACK_LOGIN_HOME": "/srv/tokens", "XDG_STATE_HOME": "/x"}
    assert default_store_dir(env) == "/srv/tokens"


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux shortcut")
@pytest.mark.parametrize(
    ("xdg_state_home", "home"),
    [
        ("/xdg/state", "/home/u"),
        ("/xdg/state/", "/home/u"),
        ("relative/state", "/home/u"),
        ("", "/home/u/"),
        (None, "/"),
        (None, None),
        (None, "relative-home"),
    ],
)
def test_store_dir_matches_platformdirs(
    monkeypatch: pytest.MonkeyPatch, xdg_state_home: str | None, home: str | None
) -> None:
    """The Linux shortcut gives exactly platformdirs' user_state_path."""
    import platformdirs

    monkeypatch.delenv("LOOPBACK_LOGIN_HOME", raising=False)
    for name, value in [("XDG_STATE_HOME", xdg_state_home), ("HOME", home)]:
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    expected = platformdirs.user_state_path("loopback-login", appauthor=False)
    assert default_store_dir() == str(expected)


def test_import_is_light() -> None:
    """Importing the store loads none of the modules that would slow `token` down."""
    probe = (
        "import sys, loopback_login; before = set(sys.modules);"
        "import loopback_login.store.file_store; print(*sorted(set(sys.modules) - before))"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    loaded = set(out.stdout.split())
    assert "loopback_login.store.file_store" in loaded
    heavy = {"typing", "pathlib", "tempfile", "dataclasses", "filelock", "platformdirs"}
    assert loaded & heavy == set()
