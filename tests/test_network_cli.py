"""Where people work: behind a real forward proxy (Debian's tinyproxy), and with a
private CA (a corporate proxy's root) trusted only through --ca-file or
SSL_CERT_FILE. Real processes, a real proxy, the emulator over real TLS."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import ssl
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trustme
from forward_proxy import PROXIED_NAME, TinyProxy, tinyproxy_path
from helpers import HERE, Cli, Emulator, SessionFactory, ThreadedEmulator, expire

from loopback_login.clock import FrozenClock
from loopback_login.emulator import DEMO_CLIENT_ID, STATE, EmulatorConfig
from loopback_login.protocol.network import NetworkSettings

BROWSER = f"{sys.executable} {HERE / 'browser_cmd.py'} %s"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_pem(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "corporate-root.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture(scope="module")
def tls_emu(ca: trustme.CA) -> Iterator[ThreadedEmulator]:
    """The emulator over TLS, its certificate from the test's own CA."""
    cert = ca.issue_cert(PROXIED_NAME, "127.0.0.1", "localhost")
    with ThreadedEmulator(
        EmulatorConfig(auto_approve=True), ssl_context=server_context(cert)
    ) as started:
        yield started


@pytest.fixture(scope="module")
def proxied_emu(ca: trustme.CA) -> Iterator[ThreadedEmulator]:
    """The emulator over TLS under a name only the proxy resolves; its issuer is that
    name, as for a server behind a proxy."""
    cert = ca.issue_cert(PROXIED_NAME)
    with ThreadedEmulator(
        EmulatorConfig(auto_approve=True), ssl_context=server_context(cert)
    ) as started:
        state = started.app[STATE]  # type: ignore[index]
        issuer = f"https://{PROXIED_NAME}:{port_of(started)}"
        started.call(
            lambda: setattr(
                state, "config", dataclasses.replace(state.config, issuer=issuer)
            )
        )
        yield started


def start_proxy(folder: Path, **options: Any) -> TinyProxy:
    """tinyproxy, started; missing, it fails the test under CI and skips it
    elsewhere, saying why (as the Chromium tests do)."""
    if tinyproxy_path() is None:
        reason = "no tinyproxy: install Debian's (`apt-get install tinyproxy-bin`)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return TinyProxy(folder, **options).start()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[TinyProxy]:
    started = start_proxy(tmp_path / "proxy")
    yield started
    started.stop()


def count(emu: ThreadedEmulator, endpoint: str, **filters: str) -> int:
    return int(emu.call(lambda: emu.app[STATE].count(endpoint, **filters)))  # type: ignore[index]


def port_of(emu: ThreadedEmulator) -> int:
    return int(emu.url.rsplit(":", 1)[1])


def proxied_url(emu: ThreadedEmulator) -> str:
    return f"https://{PROXIED_NAME}:{port_of(emu)}"


def test_the_proxied_name_resolves_only_in_the_proxy() -> None:
    """The premise of the proxy tests: this process cannot reach emulator.test by
    itself, so whatever reached it went through the proxy."""
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(PROXIED_NAME, 443)


def test_login_token_and_logout_go_through_the_proxy(
    cli: Cli, proxied_emu: ThreadedEmulator, proxy: TinyProxy, ca_pem: Path
) -> None:
    """--proxy and --ca-file at login; token (a refresh) and logout find both in the
    profile, with no proxy or CA in their environment. The proxy's log shows the
    tunnels to the server and no loopback traffic."""
    server = proxied_url(proxied_emu)
    before = {
        e: count(proxied_emu, e) for e in ("discovery", "jwks", "token", "revoke")
    }
    login = cli(
        "login", "--server", server, "--client-id", DEMO_CLIENT_ID,
        "--scope", "openid profile", "--proxy", proxy.url, "--ca-file", str(ca_pem),
        # The stand-in browser is another program: it finds the proxy and the CA
        # in its environment, as a browser would in its settings.
        HTTPS_PROXY=proxy.url, SSL_CERT_FILE=str(ca_pem),
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    settings = cli.entry()["settings"]
    assert settings["proxy"] == proxy.url
    assert settings["ca_file"] == str(ca_pem)

    expire(cli)
    refreshed = cli("token")
    assert refreshed.returncode == 0, refreshed.stderr
    logout = cli("logout")
    assert logout.returncode == 0, logout.stderr

    assert count(proxied_emu, "discovery") > before["discovery"]
    assert count(proxied_emu, "jwks") > before["jwks"]
    assert count(proxied_emu, "token", grant_type="authorization_code") >= 1
    assert count(proxied_emu, "token") - before["token"] == 2  # the code, one refresh
    assert count(proxied_emu, "revoke") - before["revoke"] == 1
    asked = proxy.requests()
    assert ("CONNECT", f"{PROXIED_NAME}:{port_of(proxied_emu)}") in asked
    assert all(target.startswith(PROXIED_NAME) for _, target in asked), asked


def test_loopback_is_never_proxied(
    cli: Cli, emu: ThreadedEmulator, proxy: TinyProxy
) -> None:
    """With every proxy variable set and no NO_PROXY, a server on 127.0.0.1 is
    reached directly: the proxy sees nothing, and the login works."""
    every = {
        name: proxy.url
        for name in (
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "https_proxy",
            "http_proxy",
        )
    }
    # The stand-in browser must not use the proxy either: its requests are not ours.
    browser = f"env -u HTTPS_PROXY -u HTTP_PROXY -u ALL_PROXY -u https_proxy -u http_proxy {BROWSER}"
    login = cli(
        "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
        "--browser-command", browser, **every,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    expire(cli)
    assert cli("token", **every).returncode == 0
    assert cli("logout", **every).returncode == 0
    assert proxy.log.exists()  # it ran and logged, and was asked nothing
    assert proxy.requests() == []


def test_proxy_credentials_work_and_are_never_kept_or_shown(
    cli: Cli, proxied_emu: ThreadedEmulator, ca_pem: Path, tmp_path: Path
) -> None:
    """A proxy that wants a password: given in --proxy it works; the profile keeps
    the proxy without it; a refresh without it is refused by the proxy in one clear
    line; with it in HTTPS_PROXY the remembered proxy borrows it."""
    password = "s3cr3tW0rd42"  # tinyproxy's configuration takes letters and digits
    proxy = start_proxy(tmp_path / "auth-proxy", basic_auth=("alice", password))
    try:
        quoted = password
        with_password = proxy.url.replace("http://", f"http://alice:{quoted}@")
        login = cli(
            "login", "--server", proxied_url(proxied_emu), "--client-id", DEMO_CLIENT_ID,
            "--proxy", with_password, "--ca-file", str(ca_pem),
            HTTPS_PROXY=with_password, SSL_CERT_FILE=str(ca_pem),
        )  # fmt: skip
        assert login.returncode == 0, login.stderr
        saved = (cli.home / "default.json").read_text()
        assert json.loads(saved)["settings"]["proxy"] == proxy.url
        assert password not in saved

        refused = cli("logout")
        assert refused.returncode == 1
        first = refused.stderr.strip().splitlines()[0]
        assert first == (
            "error: profile 'default' kept: the revocation failed: the proxy "
            f"{proxy.url} (from --proxy) refused to connect to "
            f"{PROXIED_NAME}:{port_of(proxied_emu)}: HTTP 407 Proxy Authentication Required"
        ), refused.stderr
        assert "user:password" in refused.stderr

        expire(cli)
        borrowed = cli("token", HTTPS_PROXY=with_password)
        assert borrowed.returncode == 0, borrowed.stderr
        assert "warning" not in borrowed.stderr
        logout = cli("logout", HTTPS_PROXY=with_password)
        assert logout.returncode == 0, logout.stderr
        for result in (login, refused, borrowed, logout):
            assert password not in result.stderr
    finally:
        proxy.stop()


def test_an_unreachable_proxy_is_named_and_no_browser_opens(
    cli: Cli, proxied_emu: ThreadedEmulator, tmp_path: Path
) -> None:
    marker = tmp_path / "browser-opened"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://bob:hunter2@127.0.0.1:{sock.getsockname()[1]}"
    result = cli(
        "login", "--server", proxied_url(proxied_emu), "--client-id", DEMO_CLIENT_ID,
        "--proxy", dead, "--browser-command", f"touch {marker}",
    )  # fmt: skip
    assert result.returncode == 1
    assert "error: cannot connect to the proxy http://127.0.0.1:" in result.stderr
    assert "hunter2" not in result.stderr
    assert not marker.exists()


# -- trust: the server's certificate comes from a CA only the test knows ---------------


def test_ca_file_trusts_the_private_ca_and_is_remembered(
    cli: Cli, tls_emu: ThreadedEmulator, ca_pem: Path
) -> None:
    login = cli(
        "login", "--server", tls_emu.url, "--client-id", DEMO_CLIENT_ID,
        "--ca-file", str(ca_pem), SSL_CERT_FILE=str(ca_pem),  # the browser's trust
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert cli.entry()["settings"]["ca_file"] == str(ca_pem)
    expire(cli)
    refreshed = cli("token")
    assert refreshed.returncode == 0, refreshed.stderr


def test_ssl_cert_file_is_honoured(
    cli: Cli, tls_emu: ThreadedEmulator, ca_pem: Path
) -> None:
    login = cli(
        "login", "--server", tls_emu.url, "--client-id", DEMO_CLIENT_ID,
        SSL_CERT_FILE=str(ca_pem),
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert cli.entry()["settings"]["ca_file"] is None


def test_an_untrusted_certificate_fails_fast_naming_host_reason_and_fix(
    cli: Cli, tls_emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """Without the CA: one line naming the host and why, a hint naming --ca-file,
    exit 1, no browser opened; never an option to turn verification off."""
    marker = tmp_path / "browser-opened"
    result = cli(
        "login", "--server", tls_emu.url, "--client-id", DEMO_CLIENT_ID,
        "--browser-command", f"touch {marker}",
    )  # fmt: skip
    assert result.returncode == 1
    host = tls_emu.url.removeprefix("https://")
    assert result.stderr.splitlines()[0] == (
        f"error: the TLS certificate of {host} is not trusted: "
        "it is signed by an unknown authority"
    ), result.stderr
    assert "--ca-file" in result.stderr
    assert "IT" in result.stderr
    assert "insecure" not in result.stderr.lower()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("issue", "reason"),
    [
        ({"identities": ("other.example",)}, "its certificate is for another name"),
        (
            {"identities": ("127.0.0.1",), "not_after": "past"},
            "its certificate has expired",
        ),
    ],
)
def test_a_wrong_certificate_says_why(
    cli: Cli, ca: trustme.CA, ca_pem: Path, issue: dict[str, object], reason: str
) -> None:
    import datetime

    options: dict[str, object] = {}
    if issue.get("not_after") == "past":
        now = datetime.datetime.now(datetime.UTC)
        options = {
            "not_before": now - datetime.timedelta(days=30),
            "not_after": now - datetime.timedelta(days=1),
        }
    cert = ca.issue_cert(*issue["identities"], **options)  # type: ignore[arg-type]
    with ThreadedEmulator(
        EmulatorConfig(auto_approve=True), ssl_context=server_context(cert)
    ) as emu:
        result = cli(
            "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
            "--ca-file", str(ca_pem), "--no-browser",
        )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].endswith(reason), result.stderr


def test_a_missing_ca_file_is_a_clear_error(
    cli: Cli, tls_emu: ThreadedEmulator
) -> None:
    started = time.monotonic()
    result = cli(
        "login", "--server", tls_emu.url, "--client-id", DEMO_CLIENT_ID,
        "--ca-file", "/nonexistent/root.pem",
    )  # fmt: skip
    assert result.returncode == 1
    assert "error: --ca-file /nonexistent/root.pem: no such file" in result.stderr
    assert time.monotonic() - started < 30


async def test_the_proxy_log_names_discovery_keys_token_and_revoke(
    make_session: SessionFactory, emulator: Emulator, clock: FrozenClock, tmp_path: Path
) -> None:
    """Through the library, with the loopback rule swapped out by its seam (the only
    way to send a 127.0.0.1 server through a proxy): the proxy's own log names each
    request the session made, by method and URL. The browser's trip to the
    loopback server is not among them."""
    proxy = start_proxy(tmp_path / "proxy")
    try:
        network = NetworkSettings(proxy=proxy.url, direct=lambda host: False)
        session = make_session(http=None, network=network)
        async with session:
            await session.login()
            clock.advance(4000)  # past the access token's hour: a refresh
            await session.get_token()
            assert await session.logout()
    finally:
        proxy.stop()
    base = f"http://{urlsplit(emulator.url).netloc}"
    asked = proxy.requests()
    assert ("GET", f"{base}/.well-known/openid-configuration") in asked
    assert ("GET", f"{base}/restapi/oauth/jwks") in asked
    assert asked.count(("POST", f"{base}/restapi/oauth/token")) == 2
    assert ("POST", f"{base}/restapi/oauth/revoke") in asked
    assert not [
        target for _, target in asked if "/callback" in target or "authorize" in target
    ]


def test_a_bad_ca_file_ends_a_login_to_a_plain_http_server_too(
    cli: Cli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """Trust is not needed to check a plain-http server (an emulator), so the CA
    files are read alongside; a bad one still ends the login, one clear line, before
    any code is exchanged and with nothing saved."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for given, says in (
        (
            "/nonexistent/root.pem",
            "error: --ca-file /nonexistent/root.pem: no such file",
        ),
        (str(junk), f"error: --ca-file {junk} holds no usable PEM certificate"),
    ):
        result = cli(
            "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
            "--ca-file", given,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert says in result.stderr
        assert not list(cli.home.glob("*.json")), "nothing is saved"
