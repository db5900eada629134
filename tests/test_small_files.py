"""The one reader of the small files a person names (a client secret, a JWT
credential, a private key): whole regular files up to a cap, anything else one
clear error in the caller's words, and never a wait on a FIFO."""

from __future__ import annotations

import functools
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from loopback_login.errors import ConfigError
from loopback_login.store.small_files import read_small_file

WORDS = {
    "what": "the test file",
    "hint": "check --test-file",
    "too_large": "larger than the test allows",
    "too_large_hint": "give a smaller one",
}


def read(path: Path | str, limit: int = 16, **options: Any) -> bytes:
    return read_small_file(str(path), limit, **WORDS, **options)


def finishes(call: Callable[[], object], within: float = 10.0) -> object:
    """The call's result or exception, failing the test if it has not returned in
    time (the thread is a daemon: a hung open does not hold pytest)."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:  # handed back to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(within)
    assert outcome, f"still waiting after {within} s"
    return outcome[0]


def test_a_regular_file_is_read_whole_up_to_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"x" * 16)
    assert read(path) == b"x" * 16
    path.write_bytes(b"x" * 17)
    with pytest.raises(ConfigError) as caught:
        read(path)
    assert (str(caught.value), caught.value.hint) == (
        "larger than the test allows",
        "give a smaller one",
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    """No process writes into it: a plain open would wait for one forever."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    error = finishes(lambda: read(fifo))
    assert isinstance(error, ConfigError), error
    assert str(error) == "cannot read the test file: a pipe that nothing was written to"
    assert error.hint == "check --test-file"


def test_a_pipe_with_a_writer_is_read_to_its_end_capped() -> None:
    """What a shell's ``<(pass show x)`` gives: /dev/fd/N, a pipe whose writer is a
    running program. Read until it closes, however slowly it writes."""
    for payload, limit in ((b"secret\n", 16), (b"x" * 17, 16)):
        reader, writer = os.pipe()
        try:

            def write(writer: int = writer, payload: bytes = payload) -> None:
                threading.Event().wait(0.2)  # the read is already waiting
                os.write(writer, payload)
                os.close(writer)

            threading.Thread(target=write, daemon=True).start()
            outcome = finishes(functools.partial(read, f"/dev/fd/{reader}", limit))
        finally:
            os.close(reader)
        if len(payload) <= limit:
            assert outcome == payload
        else:
            assert isinstance(outcome, ConfigError)
            assert str(outcome) == "larger than the test allows"


def test_devices_and_folders_are_refused_unread(tmp_path: Path) -> None:
    """/dev/zero would fill the cap with zeros; a folder has no bytes to give."""
    for path in ("/dev/zero", str(tmp_path)):
        error = finishes(lambda path=path: read(path, 1 << 20))  # type: ignore[misc]
        assert isinstance(error, ConfigError), error
        assert str(error) == "cannot read the test file: not a regular file"


def test_an_unreadable_file_says_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        read(tmp_path / "missing")
    assert str(caught.value) == "cannot read the test file: No such file or directory"
    assert caught.value.hint == "check --test-file"


def test_dash_reads_the_stdin_it_is_given_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert read("-", stdin=io.BytesIO(b"secret\n")) == b"secret\n"
    with pytest.raises(ConfigError, match="larger than the test allows"):
        read("-", stdin=io.BytesIO(b"x" * 17))
    # Without a stdin, '-' is a file's name like any other.
    (tmp_path / "-").write_bytes(b"dash")
    monkeypatch.chdir(tmp_path)
    assert read("-") == b"dash"
