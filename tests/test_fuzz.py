"""Property-based tests: whatever a callback, a token response, a cache entry or a
request holds, only the project's own errors come out, never a crash or a hang.

Bounded: modest ``max_examples``, no deadline (CI machines stall), no example
database (no ``.hypothesis/`` in the repo). Inputs known to have broken something
are pinned with ``@example`` so they run every time.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import math
import string
import unicodedata
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import pytest
from helpers import ThreadedEmulator
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from yarl import URL

from loopback_login.emulator import DEMO_CLIENT_ID, DEMO_CONFIDENTIAL_CLIENT_ID
from loopback_login.errors import (
    AuthorizationError,
    LoopbackLoginError,
    RateLimitError,
    StateMismatchError,
    TokenEndpointError,
)
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.server import LoopbackServer, Outcome
from loopback_login.protocol.authorize import parse_callback
from loopback_login.protocol.token_client import _interpret
from loopback_login.protocol.tokens import TokenSet
from loopback_login.session.entry import ProfileEntry, describe

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    # Examples that cross a socket can look slow to Hypothesis on a busy machine.
    suppress_health_check=[HealthCheck.too_slow],
)
STATE = "s" * 43  # the loopback tests' expected state
NOW = 1_800_000_000.0

# -- shared strategies ------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
# Query-string characters, raw: '%' makes broken escapes, '+' and ';' odd separators.
raw_query = st.text(alphabet="abcxyz019=&%+;_-.~!*'()", max_size=40)


_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def one_line(text: str) -> bool:
    """Safe on one terminal line: no line break, no control character (ESC starts
    terminal escape sequences), no bidirectional override."""
    return not any(
        unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI for ch in text
    )


# -- callback query parsing -------------------------------------------------------

CALLBACK_KEYS = st.sampled_from(
    ["state", "code", "error", "error_description", "error_uri", "iss"]
) | st.text(max_size=8)


@FUZZ
@given(
    query=st.dictionaries(CALLBACK_KEYS, st.text(max_size=40), max_size=6),
    expected=st.text(min_size=1, max_size=43),
    issuer=st.none() | st.text(max_size=30),
    ours=st.booleans(),
)
def test_parse_callback_returns_a_code_or_an_authorization_error(
    query: dict[str, str], expected: str, issuer: str | None, ours: bool
) -> None:
    """parse_callback gives the code of a callback with our state and no error, else an
    AuthorizationError; a state mismatch is reported as exactly that."""
    if ours:
        query = {**query, "state": expected}
    outcome: str | AuthorizationError
    try:
        outcome = parse_callback(query, expected_state=expected, expected_issuer=issuer)
    except AuthorizationError as exc:
        outcome = exc
    if isinstance(outcome, StateMismatchError):
        assert query.get("state") != expected
    elif isinstance(outcome, AuthorizationError):
        assert query.get("state") == expected
    else:
        assert query["state"] == expected
        assert outcome == query["code"]
        assert outcome
        assert not query.get("error")


@FUZZ
@given(
    error=st.text(min_size=1, max_size=30),
    description=st.none() | st.text(max_size=60),
)
@example(error="access_denied", description="line one\nline two")
@example(error="x\x1b[2J\x1b[31mred", description=None)
def test_callback_errors_are_one_printable_line(
    error: str, description: str | None
) -> None:
    """The message of an error= callback prints as one line with no control characters,
    whatever the server put in error and error_description."""
    query = {"state": STATE, "error": error}
    if description is not None:
        query["error_description"] = description
    with pytest.raises(AuthorizationError) as info:
        parse_callback(query, expected_state=STATE, expected_issuer=None)
    assert one_line(str(info.value)), repr(str(info.value))


# -- token responses --------------------------------------------------------------

TOKEN_KEYS = st.sampled_from(
    ["access_token", "token_type", "expires_in", "refresh_token",
     "refresh_token_expires_in", "scope", "id_token", "owner_id", "endpoint_id",
     "session_id", "session_expires_in"]
) | st.text(max_size=8)  # fmt: skip


@FUZZ
@given(
    body=st.dictionaries(TOKEN_KEYS, json_values, max_size=8),
    access=st.none() | st.text(min_size=1, max_size=20),
)
@example(body={"expires_in": 10**400}, access="a")
@example(body={"refresh_token_expires_in": -(10**400)}, access="a")
def test_token_response_parses_or_raises_token_endpoint_error(
    body: dict[str, Any], access: str | None
) -> None:
    """TokenSet.from_response gives a TokenSet with finite times, or TokenEndpointError."""
    if access is not None:
        body = {**body, "access_token": access}
    try:
        tokens = TokenSet.from_response(body, now=NOW)
    except TokenEndpointError:
        return
    assert tokens.access_token == body["access_token"]
    assert math.isfinite(tokens.expires_at)
    assert tokens.expires_at >= NOW
    assert TokenSet.from_json(json.loads(json.dumps(tokens.to_json()))) == tokens


CONTENT_TYPES = st.sampled_from(
    ["application/json", "text/html", "text/plain", "", "application/problem+json"]
) | st.text(max_size=20)
BODIES = st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())
ERROR_BODIES = st.fixed_dictionaries(
    {"error": st.text(max_size=30)},
    optional={
        "error_description": json_values,
        "message": json_values,
        "errors": st.lists(
            st.fixed_dictionaries(
                {}, optional={"errorCode": json_values, "message": json_values}
            ),
            max_size=2,
        ),
    },
).map(lambda v: json.dumps(v).encode())


@FUZZ
@given(
    status=st.integers(100, 599),
    content_type=CONTENT_TYPES,
    raw=BODIES | ERROR_BODIES,
    retry_after=st.none() | st.text(max_size=12) | st.integers().map(str),
    endpoint=st.sampled_from(["token", "revoke"]),
)
@example(200, "application/json", b"[" * 100_000, None, "token")
@example(502, "text/html", b"{" * 100_000, None, "revoke")
@example(429, "", b"", "1e400", "token")
@example(429, "", b"", "inf", "token")
def test_interpret_returns_a_dict_or_raises_our_error(
    status: int, content_type: str, raw: bytes, retry_after: str | None, endpoint: str
) -> None:
    """Any answer becomes a dict (2xx) or a TokenEndpointError; a 429's retry_after is
    a finite number of seconds or None."""
    outcome: dict[str, Any] | TokenEndpointError
    try:
        outcome = _interpret(status, content_type, raw, retry_after, endpoint)
    except TokenEndpointError as exc:
        outcome = exc
    if isinstance(outcome, TokenEndpointError):
        assert outcome.endpoint == endpoint
        wait = outcome.retry_after if isinstance(outcome, RateLimitError) else None
        assert wait is None or (math.isfinite(wait) and wait >= 0), wait
    else:
        assert 200 <= status < 300
        assert isinstance(outcome, dict)


@FUZZ
@given(
    status=st.integers(300, 599),
    raw=ERROR_BODIES,
    retry_after=st.none() | st.text(max_size=8),
)
@example(400, b'{"error": "invalid_grant", "error_description": "a\\nb"}', None)
@example(400, b'{"error": "x\\u001b]8;;http://evil/\\u0007click"}', None)
def test_token_endpoint_errors_are_one_printable_line(
    status: int, raw: bytes, retry_after: str | None
) -> None:
    """An error answer prints as one short line with no control characters, whatever
    the server put in error, error_description or errors[]."""
    with pytest.raises(TokenEndpointError) as info:
        _interpret(status, "application/json", raw, retry_after, "token")
    message = str(info.value)
    assert one_line(message), repr(message)
    assert len(message) <= 1000


# -- the cache loader -------------------------------------------------------------


def valid_entry() -> dict[str, Any]:
    tokens = TokenSet.from_response(
        {"access_token": "a", "refresh_token": "r", "expires_in": 3600,
         "refresh_token_expires_in": 86400, "scope": "ReadAccounts"},
        now=NOW,
    )  # fmt: skip
    return ProfileEntry(
        profile="default",
        settings={"server": "https://platform.ringcentral.com", "client_id": "c"},
        tokens=tokens,
        saved_at=NOW,
    ).to_json()


ENTRY_FIELDS = ["profile", "settings", "tokens", "saved_at", "identity",
                "provider_keys", "dead"]  # fmt: skip
TOKEN_FIELDS = list(valid_entry()["tokens"])


@st.composite
def damaged_entries(draw: st.DrawFn) -> Any:
    """A valid entry with fields replaced by anything, or anything at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
    entry = valid_entry()
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()) or not isinstance(entry["tokens"], dict):
            entry[draw(st.sampled_from(ENTRY_FIELDS))] = draw(json_values)
        else:
            entry["tokens"][draw(st.sampled_from(TOKEN_FIELDS))] = draw(json_values)
    return entry


@FUZZ
@given(data=damaged_entries())
@example(data={**valid_entry(), "saved_at": 10**400})
@example(
    data={
        **valid_entry(),
        "provider_keys": {
            "issuer": "i",
            "jwks_uri": "u",
            "jwks": {},
            "fetched_at": 10**400,
        },
    }
)
def test_cache_loader_gives_an_entry_or_our_error(data: Any) -> None:
    """ProfileEntry.from_json turns any JSON into an entry or a LoopbackLoginError."""
    try:
        entry = ProfileEntry.from_json(data, "default")
    except LoopbackLoginError:
        return
    assert isinstance(entry, ProfileEntry)


@FUZZ
@given(data=damaged_entries())
@example(
    data={
        **valid_entry(),
        "tokens": {
            **valid_entry()["tokens"],
            "expires_at": NOW - 1,
            "refresh_token_expires_at": "soon",
        },
    }
)
def test_a_loaded_entry_is_usable(data: Any) -> None:
    """An entry the loader accepts can be described and checked for expiry: a damaged
    field is caught when loading, not later as a crash in `status` or `token`."""
    try:
        entry = ProfileEntry.from_json(data, "default")
    except Exception:  # what the loader raises is the test above's business
        return
    try:
        describe(entry, now=NOW)
        entry.tokens.needs_refresh(now=NOW)
        json.dumps(entry.to_json())
    except LoopbackLoginError:
        pass


# -- the emulator's request parsing -----------------------------------------------

FORM = "application/x-www-form-urlencoded"
PARAM_NAMES = st.sampled_from(
    ["grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "token",
     "client_id", "client_secret", "client_assertion", "client_assertion_type",
     "response_type", "state", "scope", "prompt", "display", "code_challenge",
     "code_challenge_method", "nonce"]
) | st.text(alphabet=string.ascii_lowercase + "_", max_size=8)  # fmt: skip
PARAM_VALUES = st.sampled_from(
    [DEMO_CLIENT_ID, DEMO_CONFIDENTIAL_CLIENT_ID, "authorization_code", "refresh_token",
     "code", "S256", "plain", "none login", "http://127.0.0.1:5/callback",
     "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
     "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", "a" * 43]
) | st.text(max_size=30)  # fmt: skip
forms = st.lists(st.tuples(PARAM_NAMES, PARAM_VALUES), max_size=6).map(urlencode)
EMU_CONTENT_TYPES = st.sampled_from(
    [FORM, f"{FORM}; charset=utf-8", f"{FORM}; charset=latin-1", f"{FORM}; charset=bogus",
     "multipart/form-data", "multipart/form-data; boundary=x", "application/json",
     "text/plain", None]
)  # fmt: skip
AUTHORIZATION = st.none() | st.sampled_from(
    ["Basic ", "Basic !!!", "Bearer x",
     "Basic " + base64.b64encode(b"a:b").decode(),
     "Basic " + base64.b64encode(f"{DEMO_CONFIDENTIAL_CLIENT_ID}:x".encode()).decode()]
) | st.text(alphabet=string.printable.strip(), max_size=30)  # fmt: skip


def send(
    base: str, method: str, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str, bytes]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        conn.request(
            method, path, body=body if method == "POST" else None, headers=headers
        )
        response = conn.getresponse()
        return (
            response.status,
            response.getheader("Content-Type") or "",
            response.read(),
        )
    finally:
        conn.close()


def is_ringcentral_error(raw: bytes) -> bool:
    body = json.loads(raw)
    return (
        isinstance(body.get("error"), str)
        and isinstance(body.get("error_description"), str)
        and isinstance(body.get("errors"), list)
        and all("errorCode" in e for e in body["errors"])
    )


@pytest.mark.parametrize(
    "endpoint",
    ["/restapi/oauth/token", "/restapi/oauth/revoke", "/restapi/oauth/authorize"],
)
@FUZZ
@given(
    method=st.sampled_from(["POST", "GET"]),
    query=forms | raw_query,
    body=forms.map(str.encode) | st.binary(max_size=120),
    content_type=EMU_CONTENT_TYPES,
    authorization=AUTHORIZATION,
)
@example(
    method="POST", query="", body=b"\xff\xfe=1", content_type=FORM, authorization=None
)
@example(
    method="POST",
    query="",
    body=b"a=1",
    content_type=f"{FORM}; charset=bogus",
    authorization=None,
)
@example(
    method="POST",
    query="",
    body=b"--x\r\nabc",
    content_type="multipart/form-data; boundary=x",
    authorization=None,
)
@example(
    method="POST",
    query="",
    body=b"abc",
    content_type="multipart/form-data",
    authorization=None,
)
def test_emulator_answers_anything_without_a_5xx(
    emu: ThreadedEmulator,
    endpoint: str,
    method: str,
    query: str,
    body: bytes,
    content_type: str | None,
    authorization: str | None,
) -> None:
    """The emulator answers any request to token, revoke or authorize with a
    RingCentral-style JSON error, a page or a redirect: never a 5xx."""
    if endpoint != "/restapi/oauth/authorize":
        method = "POST"  # GET is not routed there (405 from aiohttp)
    headers = {k: v for k, v in [("Content-Type", content_type),
                                 ("Authorization", authorization)] if v is not None}  # fmt: skip
    status, answer_type, raw = send(
        emu.url, method, f"{endpoint}?{query}" if query else endpoint, body, headers
    )
    assert status < 500, (status, raw[:300])
    if endpoint == "/restapi/oauth/authorize":
        assert status == 302 or answer_type.startswith("text/html"), (status, raw[:200])
    elif status != 200:
        assert answer_type.startswith("application/json"), (status, raw[:200])
        assert is_ringcentral_error(raw), raw[:300]


# -- the loopback server's callback handler ---------------------------------------

callback_queries = (
    st.dictionaries(CALLBACK_KEYS, st.text(max_size=30), max_size=5).map(urlencode)
    | st.dictionaries(CALLBACK_KEYS, st.text(max_size=30), max_size=4).map(
        lambda q: urlencode({**q, "state": STATE})
    )
    | raw_query
)


async def visit(path: str, query: str, host: str | None = None) -> tuple[int, object]:
    """One request to a fresh loopback server; its status and what wait_for_code says."""
    config = LoopbackConfig(timeout=0.01, page_timeout=1)
    async with LoopbackServer(config, expected_state=STATE) as server:
        server.finish(
            Outcome(account="fuzz")
        )  # a valid callback's page answers at once
        base = server.redirect_uri.rsplit("/", 1)[0]
        url = URL(f"{base}{path}{'?' + query if query else ''}", encoded=True)
        headers = {"Host": host} if host is not None else {}
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, headers=headers, allow_redirects=False) as response,
        ):
            status = response.status
        try:
            outcome: object = await server.wait_for_code()
        except AuthorizationError as exc:
            outcome = exc
    return status, outcome


@FUZZ
@given(
    path=st.just("/callback")
    | st.text(alphabet="abcklo_-", max_size=10).map("/{}".format),
    query=callback_queries,
)
@example(path="/callback", query=f"state={STATE}&code=%")
@example(path="/callback", query=f"state={STATE}&code=abc&code=def")
@example(path="/favicon.ico", query="")
def test_loopback_answers_any_callback_without_a_5xx(path: str, query: str) -> None:
    """The callback handler answers 200 (a code was taken), 400 (a callback that is not
    ours or failed) or 404, never a 5xx; 200 means wait_for_code has a code."""
    status, outcome = asyncio.run(visit(path, query))
    if path not in ("/callback", "/"):
        assert status == 404
        assert isinstance(outcome, AuthorizationError)
    elif status == 200 and path == "/callback":
        assert isinstance(outcome, str)
        assert outcome
    else:
        assert status in (200, 400), status
        assert isinstance(outcome, AuthorizationError)


@FUZZ
@given(
    host=st.text(
        alphabet=string.ascii_letters + string.digits + ".:-[]", min_size=1, max_size=30
    )
)
@example(host="evil.example")
@example(host="127.0.0.1")
def test_loopback_refuses_every_other_host(host: str) -> None:
    """Only 127.0.0.1, localhost and [::1] with our port get past the Host check (421 else)."""
    status, outcome = asyncio.run(visit("/callback", f"state={STATE}&code=c", host))
    assert status == 421
    assert isinstance(outcome, AuthorizationError)  # the login did not end


# -- the loopback server's limits: methods and sizes ------------------------------


@pytest.fixture
async def loopback() -> Any:
    async with LoopbackServer(
        LoopbackConfig(timeout=5), expected_state=STATE
    ) as server:
        yield server


async def raw_exchange(server: LoopbackServer, request: bytes) -> int:
    """Send raw bytes; the status of the answer (0 if the server just hung up)."""
    port = urlsplit(server.redirect_uri).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
    return int(line.split()[1]) if line else 0


def host_of(server: LoopbackServer) -> str:
    return f"Host: 127.0.0.1:{urlsplit(server.redirect_uri).port}\r\n"


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]
)
@pytest.mark.parametrize("path", ["/callback", "/"])
async def test_loopback_serves_only_get(
    loopback: LoopbackServer, method: str, path: str
) -> None:
    """Any method but GET is 405, with the state and code right, and the login goes on."""
    request = (
        f"{method} {path}?state={STATE}&code=c HTTP/1.1\r\n{host_of(loopback)}"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert await raw_exchange(loopback, request.encode()) == 405
    with pytest.raises(TimeoutError):  # still waiting: the login did not end
        await asyncio.wait_for(loopback.wait_for_code(), 0.2)


async def test_loopback_bounds_request_sizes(loopback: LoopbackServer) -> None:
    """An oversized request line, header or header count is refused with a 4xx before
    any handler runs; a 100 MB body is never awaited."""
    host = host_of(loopback)
    huge_query = (
        f"GET /callback?state={STATE}&code=c&pad={'a' * 100_000} HTTP/1.1\r\n{host}\r\n"
    )
    huge_header = f"GET /callback HTTP/1.1\r\n{host}X-Pad: {'a' * 100_000}\r\n\r\n"
    many = "".join(f"X-{i}: a\r\n" for i in range(1000))
    many_headers = f"GET /callback HTTP/1.1\r\n{host}{many}\r\n"
    for request in (huge_query, huge_header, many_headers):
        status = await raw_exchange(loopback, request.encode())
        assert 400 <= status < 500, status
    big_body = (
        f"POST /callback HTTP/1.1\r\n{host}Content-Length: 100000000\r\n\r\nhello"
    )
    assert await asyncio.wait_for(raw_exchange(loopback, big_body.encode()), 5) == 405
    with pytest.raises(TimeoutError):  # none of them ended the login
        await asyncio.wait_for(loopback.wait_for_code(), 0.2)
