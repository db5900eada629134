"""The network policy as a pure function of the environment it is given: which proxy
each URL takes, what a profile remembers, which CA files are read."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopback_login.errors import ConfigError
from loopback_login.protocol.network import NetworkSettings, is_loopback_host, redact

PROXY = "http://proxy.corp.example:3128"
RC = "https://platform.ringcentral.com/restapi/oauth/token"


def proxy_of(url: str, **settings: object) -> str | None:
    chosen = NetworkSettings(**settings).proxy_for(url)  # type: ignore[arg-type]
    return None if chosen is None else chosen.url


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST.", "127.0.0.1", "127.8.9.10", "::1", "[::1]",
     "::ffff:127.0.0.1", "emulator.localhost"],
)  # fmt: skip
def test_loopback_hosts_are_never_proxied(host: str) -> None:
    """localhost, 127.0.0.0/8 and ::1 go direct, whatever --proxy or the
    environment say."""
    assert is_loopback_host(host)
    bracketed = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"https://{bracketed}:8443/restapi/oauth/token"
    env = {"HTTPS_PROXY": PROXY, "HTTP_PROXY": PROXY, "ALL_PROXY": PROXY}
    assert proxy_of(url, environ=env) is None
    assert proxy_of(url, proxy=PROXY, environ={}) is None


@pytest.mark.parametrize("host", ["platform.ringcentral.com", "10.0.0.1", "128.0.0.1"])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_the_environment_names_the_proxy_by_scheme() -> None:
    """HTTPS_PROXY for https URLs, HTTP_PROXY for http ones, ALL_PROXY for both."""
    env = {"HTTPS_PROXY": "http://tls-proxy:1", "HTTP_PROXY": "http://plain-proxy:2"}
    assert proxy_of(RC, environ=env) == "http://tls-proxy:1"
    assert proxy_of("http://rc.example/x", environ=env) == "http://plain-proxy:2"
    assert proxy_of(RC, environ={"ALL_PROXY": "http://all:3"}) == "http://all:3"
    assert proxy_of(RC, environ={}) is None


def test_lower_case_names_win_as_in_curl() -> None:
    env = {"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2"}
    assert proxy_of(RC, environ=env) == "http://lower:1"
    assert proxy_of(RC, environ={"https_proxy": "", "HTTPS_PROXY": "http://u:2"}) == (
        "http://u:2"
    )


def test_a_bare_host_and_port_is_an_http_proxy() -> None:
    assert proxy_of(RC, environ={"HTTPS_PROXY": "proxy:3128"}) == "http://proxy:3128"


@pytest.mark.parametrize(
    ("no_proxy", "bypassed"),
    [
        ("*", True),
        ("ringcentral.com", True),
        (".ringcentral.com", True),
        ("platform.ringcentral.com", True),
        ("other.com, ringcentral.com", True),
        ("platform.ringcentral.com:443", True),
        ("platform.ringcentral.com:8443", False),
        ("central.com", False),
        ("ringcentral.biz", False),
        ("", False),
    ],
)
def test_no_proxy(no_proxy: str, bypassed: bool) -> None:
    """NO_PROXY entries match the host and its subdomains, with an optional port."""
    env = {"HTTPS_PROXY": PROXY, "NO_PROXY": no_proxy}
    url = "https://platform.ringcentral.com:443/restapi/oauth/token"
    assert (proxy_of(url, environ=env) is None) is bypassed


def test_no_proxy_with_addresses_and_ranges() -> None:
    env = {"HTTPS_PROXY": PROXY, "no_proxy": "10.0.0.0/8,192.168.1.5"}
    assert proxy_of("https://10.20.30.40/", environ=env) is None
    assert proxy_of("https://192.168.1.5/", environ=env) is None
    assert proxy_of("https://192.168.1.6/", environ=env) == PROXY


def test_the_option_overrides_the_environment() -> None:
    """--proxy wins over HTTPS_PROXY and over NO_PROXY."""
    env = {"HTTPS_PROXY": "http://env-proxy:1", "NO_PROXY": "*"}
    assert proxy_of(RC, proxy=PROXY, environ=env) == PROXY


def test_httpoxy_a_cgi_request_cannot_choose_the_proxy() -> None:
    env = {"REQUEST_METHOD": "GET", "HTTP_PROXY": "http://attacker:1"}
    assert proxy_of("http://rc.example/", environ=env) is None


def test_credentials_go_into_the_proxy_auth_and_nowhere_else() -> None:
    chosen = NetworkSettings(
        proxy="http://alice:p%40ss@proxy.corp.example:3128", environ={}
    ).proxy_for(RC)
    assert chosen is not None
    assert chosen.url == "http://proxy.corp.example:3128"
    assert chosen.auth is not None
    assert chosen.auth == ("alice", "p@ss")
    assert chosen.headers() == {"Proxy-Authorization": "Basic YWxpY2U6cEBzcw=="}
    assert "p@ss" not in repr(chosen)
    assert "p%40ss" not in repr(chosen)


def test_a_profile_never_remembers_the_proxy_password(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    settings = NetworkSettings(
        proxy="https://alice:secret@proxy.corp.example:3129", ca_file=str(ca)
    )
    remembered = settings.to_profile()
    assert remembered == {
        "proxy": "https://proxy.corp.example:3129",
        "ca_file": str(ca),
    }
    assert "secret" not in repr(settings)


def test_a_remembered_proxy_takes_its_password_from_the_environment() -> None:
    env = {"HTTPS_PROXY": "http://alice:secret@proxy.corp.example:3128"}
    settings = NetworkSettings.from_profile(
        {"proxy": "http://proxy.corp.example:3128"}, environ=env
    )
    chosen = settings.proxy_for(RC)
    assert chosen is not None
    assert chosen.auth is not None
    assert chosen.auth == ("alice", "secret")
    other = NetworkSettings.from_profile(
        {"proxy": "http://other-proxy:3128"}, environ=env
    ).proxy_for(RC)
    assert other is not None
    assert other.auth is None


@pytest.mark.parametrize(
    "value",
    ["socks5://proxy:1080", "http://proxy:3128/path", "http://:3128", "ftp://p"],
)
def test_unusable_proxy_urls_are_refused_at_once(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        NetworkSettings(proxy=value)
    assert "proxy" in str(info.value)


def test_a_bad_proxy_url_never_shows_its_password() -> None:
    with pytest.raises(ConfigError) as info:
        NetworkSettings(proxy="socks5://alice:hunter2@proxy:1080")
    assert "hunter2" not in str(info.value) + (info.value.hint or "")


def test_redact() -> None:
    assert redact("http://a:b@proxy:3128") == "http://proxy:3128"
    assert redact("http://proxy:3128") == "http://proxy:3128"
    assert redact("http://a@[::1]:3128") == "http://[::1]:3128"
    assert redact("http://a:b@proxy:port") == "http://proxy:port"


def test_a_bad_port_never_shows_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        NetworkSettings(proxy="http://alice:hunter2@proxy:notaport")
    assert "bad port" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_a_missing_or_bad_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--ca-file .*no such file"):
        NetworkSettings(ca_file=str(tmp_path / "nope.pem")).ssl_context()
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="no usable PEM certificate"):
        NetworkSettings(ca_file=str(junk)).ssl_context()
    with pytest.raises(ConfigError, match="SSL_CERT_FILE"):
        NetworkSettings(environ={"SSL_CERT_FILE": str(junk)}).ssl_context()


def test_the_system_trust_is_loaded_once_and_shared_unchanged(tmp_path: Path) -> None:
    """Loading the system's certificates costs tens of milliseconds: a process does
    it once. The shared context is never added to; a CA file makes a new one."""
    import trustme

    shared = NetworkSettings().ssl_context()
    assert NetworkSettings().ssl_context() is shared
    before = shared.cert_store_stats()["x509_ca"]
    pem = tmp_path / "private-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(pem))
    for settings in (
        NetworkSettings(ca_file=str(pem)),
        # SSL_CERT_FILE other than the process's: OpenSSL does not read it itself.
        NetworkSettings(environ={"SSL_CERT_FILE": str(pem)}),
    ):
        own = settings.ssl_context()
        assert own is not shared
        assert own.cert_store_stats()["x509_ca"] >= 1
        assert settings.ssl_context() is not own  # never shared either
    assert shared.cert_store_stats()["x509_ca"] == before
