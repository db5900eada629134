"""The one URL policy: every URL it accepts means the same host, port and scheme to
urllib (which checks it), yarl (which aiohttp connects with) and a real Chromium
(which the person's browser is); everything else is one clear ConfigError."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from loopback_login.errors import ConfigError
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.urls import check_url, resolve_server

# Inputs chosen to split parsers: userinfo, backslashes, whitespace and controls,
# odd IPv4 and IPv6 forms, percent-escapes in hosts, ports at and past the edges,
# dot segments, non-ASCII. Some are ordinary, so that the comparison has substance.
CORPUS = [
    "https://platform.ringcentral.com",
    "https://platform.ringcentral.com/",
    "https://PLATFORM.RingCentral.com:443/restapi",
    "https://platform.ringcentral.com:8443/a/b",
    "https://platform.ringcentral.com/jwks?x=1&y=2",
    "https://platform.ringcentral.com:00443/",
    "https://xn--bcher-kva.example/",
    "http://127.0.0.1:8000",
    "http://127.0.0.1:1/",
    "http://127.0.0.1:65535/",
    "http://localhost:8080/p",
    "http://[::1]:8000/",
    "HTTP://127.0.0.1:8000/",
    "http://evil.example\\@127.0.0.1:8000",
    "http://evil.example\\@127.0.0.1:8000/",
    "http://127.0.0.1:8000\\@evil.example/",
    "http://user@127.0.0.1:8000/",
    "http://user:pw@127.0.0.1:8000/",
    "http://127.0.0.1:8000@evil.example/",
    "https://evil.example#@platform.ringcentral.com/",
    "https://evil.example?@platform.ringcentral.com/",
    "http://127.0.0.1\\.evil.example/",
    "http:\\\\127.0.0.1:8000/",
    "http:/127.0.0.1:8000/",
    "http:127.0.0.1:8000/",
    "//127.0.0.1:8000/",
    " http://127.0.0.1:8000/",
    "http://127.0.0.1:8000/ ",
    "http://127.0.0.1 :8000/",
    "http://127.0.0.1: 8000/",
    "http://127.0.0.1:8000/a b",
    "http://127.0.0.1:8000/\t",
    "http://127.0.\t0.1:8000/",
    "http://127.0.0.1:8000/\r\nX: y",
    "http://127.0.0.1\x00.evil.example/",
    "http://127.1:8000/",
    "http://127.0.1:8000/",
    "http://0x7f.0.0.1:8000/",
    "http://0177.0.0.1:8000/",
    "http://2130706433:8000/",
    "http://127.0.0.01:8000/",
    "http://127.0.0.1.:8000/",
    "http://127.0.0.%31:8000/",
    "https://platform%2eringcentral.com/",
    "https://evil.example%2f@platform.ringcentral.com/",
    "http://[::1:8000/",
    "http://[::1",
    "http://[0:0:0:0:0:0:0:1]:8000/",
    "http://[::ffff:127.0.0.1]:8000/",
    "http://[::1%25eth0]:8000/",
    "http://[::1]x:8000/",
    "http://127.0.0.1:0/",
    "http://127.0.0.1:65536/",
    "http://127.0.0.1:99999/",
    "http://127.0.0.1:-1/",
    "http://127.0.0.1:+80/",
    "http://127.0.0.1:0x50/",
    "http://127.0.0.1:/",
    "http://127.0.0.1:8000/a/../b",
    "http://127.0.0.1:8000/a/%2e%2e/b",
    "http://127.0.0.1:8000/./b",
    "https://ⓔxample.com/",
    "https://exa\u00admple.com/",
    "https://example.com\u3002evil/",
    "https://EXAMPLE.com/{x}",
    "https://example.com/a|b",
    "https://exa_mple.com/",
    "https://-example.com/",
    "https:///example.com/",
    "https://:443/",
    "https://example.com:443:443/",
    "ftp://example.com/",
    "javascript://example.com/%0aalert(1)",
    "file:///etc/passwd",
    "http://example.com/",
    "http://localhost.:8000/",
    "http://127.0.0.1#@evil.example/",
]


def policy(url: str) -> tuple[str, str, int] | None:
    """What the policy reads (scheme, host, port), or None if it refuses."""
    try:
        checked = check_url(url, "url")
    except ConfigError:
        return None
    return checked.scheme, checked.host, checked.port


def yarl_reading(url: str) -> tuple[str, str, int]:
    parsed = URL(url)
    host = (parsed.raw_host or "").strip("[]")
    assert parsed.port is not None
    return parsed.scheme, host, parsed.port


JS_READ = """
(inputs) => inputs.map((input) => {
  try {
    const u = new URL(input);
    const port = u.port ? Number(u.port)
      : ({ "http:": 80, "https:": 443 })[u.protocol] ?? -1;
    return [u.protocol.replace(/:$/, ""), u.hostname.replace(/^\\[|\\]$/g, ""),
            port, u.username, u.password];
  } catch (e) {
    return null;
  }
})
"""


@pytest.mark.asyncio(loop_scope="session")  # Chromium lives on the session's loop
async def test_every_accepted_url_means_the_same_to_chromium(
    chromium_context: Any,
) -> None:
    """For each input the policy accepts, Chromium's `new URL()` and yarl read the
    same scheme, host and port as the policy, with no user name or password; the
    tricky half of the corpus is refused."""
    context = await chromium_context()
    page = await context.new_page()
    readings = await page.evaluate(JS_READ, CORPUS)
    accepted = 0
    for url, chromium in zip(CORPUS, readings, strict=True):
        ours = policy(url)
        if ours is None:
            continue
        accepted += 1
        assert chromium is not None, f"{url!r}: Chromium cannot parse it"
        scheme, host, port, username, password = chromium
        assert (scheme, host, port) == ours, f"{url!r}: Chromium reads {chromium}"
        assert (username, password) == ("", ""), url
        assert yarl_reading(url) == ours, f"{url!r}: yarl reads {yarl_reading(url)}"
    assert 10 <= accepted <= len(CORPUS) - 50, accepted
    # The differential that started it: urllib saw 127.0.0.1, Chromium evil.example.
    evil = CORPUS.index("http://evil.example\\@127.0.0.1:8000")
    assert readings[evil][1] == "evil.example"
    assert policy(CORPUS[evil]) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://evil.example\\@127.0.0.1:8000", "character"),
        ("http://user@127.0.0.1:8000", "user name or password"),
        ("http://[::1", "malformed"),
        ("http://127.0.0.1:99999", "outside 1-65535"),
        ("http://127.0.0.1:0", "outside 1-65535"),
        ("http://127.0.0.1:-1", "not a number"),
        ("http://127.0.0.1: 80", "character"),
        ("http://127.1:8000", "IPv4"),
        ("http://example.com", "plain http"),
        ("https://x.example/a/../b", "path segment"),
        ("https://x.example/#f", "fragment"),
        ("https://x.example/" + "a" * 3000, "longer than"),
    ],
)
def test_refusals_say_which_rule(url: str, words: str) -> None:
    """Each refusal is one ConfigError naming the rule broken, never a traceback."""
    with pytest.raises(ConfigError) as caught:
        check_url(url, "--server")
    message = str(caught.value)
    assert words in message
    assert "\n" not in message
    assert len(message) < 400


def test_server_jwks_uri_and_redirect_uri_share_the_policy() -> None:
    """--server, --jwks-uri (given or remembered) and --redirect-uri are all refused
    when they break the policy, at construction: before any browser opens."""
    with pytest.raises(ConfigError, match="plain http"):
        ProviderConfig(server="production", client_id="c", jwks_uri="http://x.example/")
    with pytest.raises(ConfigError, match="--jwks-uri"):
        ProviderConfig.from_profile(
            {"server": "production", "client_id": "c", "jwks_uri": "https://a\\@b/"}
        )
    with pytest.raises(ConfigError, match="user name"):
        resolve_server("https://user@platform.ringcentral.com")
    with pytest.raises(ConfigError, match="character"):
        LoopbackConfig(redirect_uris=("http://127.0.0.1:8400/{x",))
    with pytest.raises(ConfigError, match="malformed"):
        LoopbackConfig(redirect_uris=("http://[::1",))
    assert ProviderConfig(
        server="http://127.0.0.1:9", client_id="c", jwks_uri="http://[::1]:9/jwks"
    ).jwks_uri
    assert LoopbackConfig(redirect_uris=("http://127.0.0.1/cb",)).targets[0].port == 0
