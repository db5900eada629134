"""``login`` that sends the browser off first.

A person waits for the browser tab; nothing in that wait needs aiohttp, click or the
JOSE libraries. So this path reads the options itself, binds the loopback sockets,
makes ``state``, ``nonce``, the PKCE pair and the URL, checks the server over the
standard library's HTTP client, and asks the browser, strictly after the sockets
listen (a browser that comes back early waits in the listen backlog). Only then
does it load the rest and finish the sign-in through the same
:class:`~loopback_login.session.orchestrator.LoginSession` as the full command.

Anything unusual (an option this parser does not know, ``--help``, a value it
would have to judge, a proxy, a JWT client assertion, ``--verbose``) returns
``None`` before anything happened, and the full command takes over with its
complete handling.
"""

from __future__ import annotations

import math
import os
import sys
import time

from loopback_login.environment import (
    CLIENT_ID_ENV,
    CLIENT_SECRET_ENV,
    HOME_ENV,
    PROFILE_ENV,
    SERVER_ENV,
)
from loopback_login.errors import LoopbackLoginError, printable
from loopback_login.protocol.provider import AUTHORIZE_PARAMS

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Mapping, Sequence
    from typing import Any

    from loopback_login.loopback.browser import NoBrowser, SystemBrowser
    from loopback_login.loopback.config import LoopbackConfig
    from loopback_login.loopback.head_start import HeadStart
    from loopback_login.loopback.launch import CommandBrowser
    from loopback_login.protocol.network import NetworkSettings
    from loopback_login.protocol.provider import ProviderConfig
    from loopback_login.store.file_store import FileTokenStore

__all__ = ["DEFAULT_HTTP_TIMEOUT", "try_early_login"]

# Seconds the browser's thread has to itself before the rest loads.
_BROWSER_FIRST = 0.05

# protocol.wiring's, which loads aiohttp (a test keeps the two equal).
DEFAULT_HTTP_TIMEOUT = 30.0

_VALUED = {
    "--server": "server",
    "-s": "server",
    "--client-id": "client_id",
    "--client-auth": "client_auth",
    "--key-id": "key_id",
    "--scope": "scope",
    "--method": "method",
    "--pkce": "pkce",
    "--redirect-uri": "redirect_uri",
    "--timeout": "timeout",
    "--http-timeout": "http_timeout",
    "--browser-command": "browser_command",
    "--proxy": "proxy",
    "--ca-file": "ca_file",
    "--issuer": "issuer",
    "--jwks-uri": "jwks_uri",
    "--endpoint-id": "endpoint_id",
    "--access-token-ttl": "access_token_ttl",
    "--refresh-token-ttl": "refresh_token_ttl",
    "--profile": "profile",
    "-p": "profile",
    "--cache-dir": "cache_dir",
    "--client-secret": "client_secret",
    **{f"--{name.replace('_', '-')}": name for name in AUTHORIZE_PARAMS},
}
_CHOICES = {
    # JWT assertions load the JOSE libraries: the full command handles them.
    "client_auth": ("none", "client_secret_basic"),
    "method": ("get", "post"),
    "pkce": ("S256", "plain"),
}


def _say(message: str) -> None:
    """As the full command's ``say``: stderr, each line made printable."""
    lines = []
    for line in message.split("\n"):
        body = line.lstrip(" ")
        lines.append(
            line[: len(line) - len(body)] + printable(body, 4000) if body else ""
        )
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def _seconds(value: str, low: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= low else None


def _parse(args: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The options as click would give them to ``login``, or None to let it."""
    opts: dict[str, Any] = {"redirect_uri": [], "no_browser": False}
    items = iter(args)
    for arg in items:
        if arg == "--no-browser":
            opts["no_browser"] = True
            continue
        name, eq, value = arg.partition("=")
        key = _VALUED.get(name)
        if key is None or (eq and not name.startswith("--")):
            return None
        if not eq:
            value = next(items, "")
            if not value or value.startswith("-"):
                return None
        if key == "redirect_uri":
            opts["redirect_uri"].append(value)
        elif key in opts:
            return None  # given twice: click's rule (the last wins) is not ours
        else:
            opts[key] = value
    for key, allowed in _CHOICES.items():
        if key in opts and opts[key] not in allowed:
            return None
    for key, low in (("timeout", 1.0), ("http_timeout", 0.1)):
        if key in opts:
            opts[key] = _seconds(opts[key], low)
            if opts[key] is None:
                return None
    opts.setdefault("timeout", 300.0)
    opts.setdefault("http_timeout", DEFAULT_HTTP_TIMEOUT)
    for key in ("access_token_ttl", "refresh_token_ttl"):
        if key in opts:
            if not opts[key].isdigit() or int(opts[key]) < 1:
                return None
            opts[key] = int(opts[key])
    for key, env in (("profile", PROFILE_ENV), ("cache_dir", HOME_ENV)):
        if key not in opts and env in environ:
            opts[key] = environ[env]
    if opts.get("cache_dir") == "" or os.path.isfile(opts.get("cache_dir") or ""):
        return None
    opts.setdefault("profile", "default")
    opts["redirect_uri"] = tuple(opts["redirect_uri"])
    for key in ("server", "client_id", "client_auth", "private_key", "key_id",
                "scope", "method", "pkce", "issuer", "jwks_uri", "proxy", "ca_file",
                "browser_command", "endpoint_id", "access_token_ttl",
                "refresh_token_ttl", "client_secret", "cache_dir",
                *AUTHORIZE_PARAMS):  # fmt: skip
        opts.setdefault(key, None)
    return opts


def _settings_given_elsewhere(environ: Mapping[str, str]) -> bool:
    """Settings from the environment or the settings file rank between the options
    and the profile's last login: the full command layers them."""
    if environ.get(CLIENT_ID_ENV) or environ.get(SERVER_ENV):
        return True
    from loopback_login.store.config_file import default_config_path

    return os.path.exists(default_config_path(environ))


class _Trust:
    """The CA files checked (and, for an https server, the whole TLS context made)
    on a thread of its own: OpenSSL lets go of the interpreter lock while it parses
    certificates, tens of milliseconds for a system bundle, so the imports and the
    socket work that follow run meanwhile."""

    def __init__(self, network: NetworkSettings, *, full: bool) -> None:
        import threading

        self._network, self.full = network, full
        self._context: ssl.SSLContext | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._make, daemon=True)
        self._thread.start()

    def _make(self) -> None:
        try:
            if self.full:
                self._context = self._network.ssl_context()
            else:
                self._network.check_ca_files()
        except BaseException as exc:  # raised in the caller's thread, by result()
            self._error = exc

    def result(self) -> ssl.SSLContext | None:
        """The context (None for a plain-http server); raises what making it did."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._context


def try_early_login(
    args: Sequence[str], environ: Mapping[str, str] | None = None
) -> int | None:
    """Run ``login`` from here if it can; ``None`` hands over to the full command
    (nothing was done then: no lock, no socket, no browser)."""
    environ = os.environ if environ is None else environ
    if _settings_given_elsewhere(environ):
        return None
    opts = _parse(args, environ)
    if opts is None:
        return None
    prepared = _prepare(opts, environ)
    if prepared is None:
        return None
    try:
        return _run(opts, *prepared)
    except LoopbackLoginError as exc:
        from loopback_login.cli.output import report

        return report(exc)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        return 130


def _prepare(
    opts: dict[str, Any], environ: Mapping[str, str]
) -> (
    tuple[
        FileTokenStore, ProviderConfig, LoopbackConfig, NetworkSettings, _Trust,
        SystemBrowser | CommandBrowser | NoBrowser, str | None,
    ]
    | None
):  # fmt: skip
    """Everything decided before anything is done; None where the full command
    must decide (it then says what is wrong, in its own words)."""
    from loopback_login.cli.login_settings import build_network, build_provider
    from loopback_login.errors import ConfigError, CorruptEntryError, TokenStoreError
    from loopback_login.store.file_store import (
        FileTokenStore,
        default_store_dir,
        validate_profile_name,
    )

    try:
        profile = validate_profile_name(opts["profile"])
        store = FileTokenStore(opts["cache_dir"] or default_store_dir(environ))
        try:
            raw = store.load(profile)
        except CorruptEntryError as exc:
            # Moved aside already: the full command could no longer say so.
            _say(f"warning: {exc}")
            raw = None
        settings = None if raw is None else raw.get("settings")
        if raw is not None and not isinstance(settings, dict):
            return None
        secret = opts["client_secret"] or environ.get(CLIENT_SECRET_ENV) or None
        provider = build_provider(opts, settings, secret)
        # A JWT profile signs in with no browser at all, and a keyring profile
        # keeps its secret through the keyring: both the full command's job.
        if provider.grant != "authorization_code":
            return None
        if (settings or {}).get("storage", "file") != "file":
            return None
        if provider.auth_method not in _CHOICES["client_auth"]:
            return None
        network = build_network(opts, settings, check=False)
        if network.proxy_for(provider.server) is not None:
            return None  # only aiohttp's check speaks to proxies
        # As early as it can start: the rest loads while OpenSSL reads certificates.
        trust = _Trust(network, full=provider.server.startswith("https:"))

        from loopback_login.loopback.browser import NoBrowser, SystemBrowser
        from loopback_login.loopback.config import LoopbackConfig
        from loopback_login.loopback.launch import CommandBrowser, choose_opener
        from loopback_login.protocol.client_auth import client_auth

        uris = opts["redirect_uri"] or tuple(
            (settings or {}).get("redirect_uris") or ()
        )
        loopback = LoopbackConfig(redirect_uris=uris, timeout=opts["timeout"])
        client_auth(provider, provider.token_endpoint, now=time.time())
        opener, why = choose_opener(
            no_browser=opts["no_browser"], browser_command=opts["browser_command"]
        )
    except (ConfigError, TokenStoreError, TypeError, ValueError):
        return None
    if not isinstance(opener, SystemBrowser | CommandBrowser | NoBrowser):
        return None
    return store, provider, loopback, network, trust, opener, why


def _run(
    opts: dict[str, Any],
    store: FileTokenStore,
    provider: ProviderConfig,
    loopback: LoopbackConfig,
    network: NetworkSettings,
    trust: _Trust,
    opener: SystemBrowser | CommandBrowser | NoBrowser,
    why: str | None,
) -> int:
    from loopback_login.loopback.browser import NoBrowser
    from loopback_login.loopback.head_start import (
        HeadStart,
        Launched,
        local_start_url,
        sign_in_urls,
    )
    from loopback_login.loopback.listen import bind_first_free
    from loopback_login.protocol.authorize import build_authorization_params
    from loopback_login.protocol.pkce import PkcePair, new_nonce, new_state
    from loopback_login.protocol.server_check import check_directly

    # Committed from here on: the browser and any other child must not inherit it.
    os.environ.pop(CLIENT_SECRET_ENV, None)
    if why:
        _say(why)
    profile = opts["profile"]
    lock = store.lock(profile)
    lock.__enter__()
    try:
        # Before the browser, as the full command: a session that cannot be saved
        # must not have the person sign in for nothing.
        with store.reserve(profile) as room:
            target, sockets = bind_first_free(loopback.targets)
            try:
                port = sockets[0].getsockname()[1]
                state, nonce = new_state(), new_nonce()
                pkce = PkcePair.generate(provider.pkce_method)
                params = build_authorization_params(
                    provider, redirect_uri=target.with_port(port), state=state,
                    nonce=nonce, pkce=pkce,
                )  # fmt: skip
                urls = sign_in_urls(
                    provider, params, local_start_url(target, port),
                    no_browser=isinstance(opener, NoBrowser),
                )  # fmt: skip
                # A wrong server must never open a browser. The trust it is checked
                # with matters only to https; a plain-http server (an emulator on
                # loopback) is checked without waiting for the CA files.
                context = trust.result() if trust.full else None
                check_directly(provider, network, opts["http_timeout"], context)
                _say(f"To sign in, open this URL in your browser:\n\n    {urls.url}\n")
                verdict = opener.start(urls.url)
                # The browser's thread gets the CPU first: loading the rest at once
                # would slow its start (one interpreter lock, often few cores). Most
                # openers answer within this; a command still running is let be.
                verdict.settled(_BROWSER_FIRST)
                trust.result()  # a bad CA file ends the login here, before any https
                # The rest loads while the browser starts and the person signs in.
                import asyncio

                head = HeadStart(
                    target, sockets, state, nonce, pkce, Launched(verdict), urls, room
                )
                return asyncio.run(
                    _finish(opts, store, loopback, provider, network, lock, head)
                )
            finally:
                for sock in sockets:
                    sock.close()  # no-op for those the server took over and closed
    finally:
        lock.__exit__(None, None, None)


async def _finish(
    opts: dict[str, Any],
    store: FileTokenStore,
    loopback: LoopbackConfig,
    provider: ProviderConfig,
    network: NetworkSettings,
    lock: Any,
    head: HeadStart,
) -> int:
    from loopback_login.cli.common import say, stdin_lines, summary, warn_if_ending
    from loopback_login.errors import CorruptEntryError
    from loopback_login.session.entry import load_entry
    from loopback_login.session.orchestrator import LoginSession

    try:
        load_entry(store, opts["profile"])
    except CorruptEntryError as exc:
        say(f"warning: {exc}")  # as the full command says it; a login is the cure
    session = LoginSession(
        provider, profile=opts["profile"], store=store, opener=head.opener,
        loopback=type(loopback)(redirect_uris=opts["redirect_uri"],
                                timeout=opts["timeout"]),
        http_timeout=opts["http_timeout"], notify=say, network=network,
        pasted=stdin_lines(),
    )  # fmt: skip
    # The session takes the profile's lock back from here, without waiting.
    lock.hand_over()
    async with session:
        await session.login(head_start=head)
        entry = session.entry()
    if entry is not None:
        say(summary(entry))
        warn_if_ending(entry)  # as the full command: a session near its absolute end
    return 0
