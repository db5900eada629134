"""``doctor``: the store folder's state and the settings in force, never a secret.

Every line is a fact with ``ok``, ``note`` or ``problem`` in front; the exit code is
1 when there is a problem, and each problem says the command that fixes it.
"""

from __future__ import annotations

import os
import stat
import time
from typing import Any
from urllib.parse import urlsplit

import click

from loopback_login.cli.common import common, setup
from loopback_login.environment import (
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    CONFIG_ENV,
    HOME_ENV,
    PROFILE_ENV,
    SERVER_ENV,
)
from loopback_login.errors import LoopbackLoginError, login_hint
from loopback_login.store.config_file import (
    client_id_known,
    default_config_path,
    read_settings,
)
from loopback_login.store.file_store import decode_entry
from loopback_login.store.private_files import CORRUPT_AGE, corrupt_stamp, read_private

__all__ = ["doctor"]

PROXY_VARS = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
)
CA_VARS = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE")


@click.command()
@common
def doctor(profile: str, cache_dir: str | None, verbose: bool) -> None:
    """Check the store folder (permissions, profiles, stray files) and show which
    settings are in force. Prints no token and no secret."""
    store = setup(verbose, cache_dir)
    problems = 0

    def line(kind: str, text: str) -> None:
        nonlocal problems
        problems += kind == "problem"
        click.echo(f"{kind:8} {text}")

    folder = store.directory
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        line("note", f"store {folder}: not created yet (the first login makes it)")
        st = None
    if st is not None:
        mode = stat.S_IMODE(st.st_mode)
        if st.st_uid != os.geteuid():
            line("problem", f"store {folder}: owned by uid {st.st_uid}, not you")
        elif mode & 0o077:
            line(
                "problem",
                f"store {folder}: mode {mode:o}, open to others; run: chmod 700 {folder}",
            )
        else:
            line("ok", f"store {folder}: mode {mode:o}, yours")
        _files(store, folder, line)
    _settings(line)
    _environment(line)
    if problems:
        raise click.exceptions.Exit(1)


def _files(store: Any, folder: str, line: Any) -> None:
    names = sorted(os.listdir(folder))
    profiles = set(store.profiles())
    for name in sorted(profiles):
        path = os.path.join(folder, name + ".json")
        # Read, not loaded: loading would move a damaged entry aside.
        try:
            read = read_private(path, folder)
        except OSError as exc:
            line("problem", f"profile {name}: {path}: {exc}")
            continue
        if read is None:
            continue  # removed meanwhile
        mode = stat.S_IMODE(read[1].st_mode)
        if decode_entry(read[0]) is None:
            line(
                "problem",
                f"profile {name}: {path} is not a valid entry (the next command "
                f"moves it aside); "
                + login_hint(name, client_id_known=client_id_known(name)),
            )
        elif mode & 0o077:
            line("problem", f"profile {name}: mode {mode:o}; run: chmod 600 {path}")
        else:
            line("ok", f"profile {name}: {path}")
    now = time.time()
    for name in names:
        base, _, ext = name.rpartition(".")
        if (ext == "json" and base in profiles) or (ext == "lock" and base):
            continue
        if (stamp := corrupt_stamp(name)) is not None:
            days = int((now - stamp) // 86400)
            line(
                "note",
                f"damaged entry kept for inspection: {name} ({days} d old; removed "
                f"after {int(CORRUPT_AGE // 86400)} d)",
            )
        elif name.startswith(".") and name.endswith(".tmp"):
            line("note", f"temporary file of an interrupted write: {name}")
        else:
            line("note", f"stray file, not loopback-login's: {name}")
    locks = [n for n in names if n.endswith(".lock") and n[:-5] not in profiles]
    if locks:
        line(
            "note",
            f"{len(locks)} lock file(s) without a profile (removed as they are next used)",
        )


def _settings(line: Any) -> None:
    path = default_config_path()
    try:
        settings = read_settings(path)
    except LoopbackLoginError as exc:
        line("problem", f"settings file: {exc}")
        return
    if not os.path.exists(path):
        line("note", f"settings file {path}: none")
        return
    keys = len(settings.everywhere)
    line("ok", f"settings file {path}: {keys} key(s) for every profile, "
               f"{len(settings.profiles)} profile table(s)")  # fmt: skip


def _environment(line: Any) -> None:
    for name in (PROFILE_ENV, HOME_ENV, CONFIG_ENV, CLIENT_ID_ENV, SERVER_ENV):
        if os.environ.get(name):
            line("note", f"{name}={os.environ[name]}")
    if os.environ.get(CLIENT_SECRET_ENV):
        line("note", f"{CLIENT_SECRET_ENV} is set (its value is not shown)")
    for name in PROXY_VARS:
        if value := os.environ.get(name):
            if "proxy" in name.lower() and "no_proxy" not in name.lower():
                parts = urlsplit(value if "://" in value else "http://" + value)
                # A proxy URL may carry a password: only its scheme, host and port.
                shown = f"{parts.scheme}://{parts.hostname}" + (
                    f":{parts.port}" if parts.port else ""
                )
            else:
                shown = value
            line("note", f"proxy: {name}={shown}")
    for name in CA_VARS:
        if value := os.environ.get(name):
            line("note", f"CA certificates: {name}={value}")
    line("note", "tokens are kept in the store's files (no keyring)")
