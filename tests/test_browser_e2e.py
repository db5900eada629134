"""A real headless Chromium logs in through the emulator's own sign-in and consent
pages, by GET and by POST, with and without JavaScript, and meets hostile input.

Screenshots of every page land in ``test-artifacts/screenshots/<test>/``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from browser_driver import ChromiumBrowser, screenshot_dir
from helpers import Emulator
from playwright.async_api import BrowserContext, Page

from loopback_login.emulator import (
    DEMO_CLIENT_ID,
    EmulatorConfig,
    EmulatorState,
    serve,
)
from loopback_login.errors import AuthorizationError
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.tokens import TokenSet
from loopback_login.session.orchestrator import LoginSession
from loopback_login.store.memory_store import MemoryTokenStore

# Chromium is launched once per session (tests/conftest.py): its loop is theirs too.
pytestmark = pytest.mark.asyncio(loop_scope="session")

SCOPE = "openid profile email ReadAccounts"
WAIT = 10.0
# Breaks out of an attribute, then tries markup, an event handler and a script; any
# one of them running changes the title or opens a dialog.
PAYLOAD = (
    "\"'><img src=x onerror=\"document.title='pwned';alert('pwned')\">"
    "<script>document.title='pwned';alert('pwned')</script>"
)


@pytest_asyncio.fixture(loop_scope="session")
async def emulator() -> AsyncIterator[Emulator]:
    """The emulator with its real sign-in and consent pages, on 127.0.0.1."""
    runner, url = await serve(EmulatorConfig(auto_approve=False))
    try:
        yield Emulator(url=url, app=runner.app)
    finally:
        await runner.cleanup()


BrowserFactory = Callable[..., Awaitable[ChromiumBrowser]]


@pytest_asyncio.fixture(loop_scope="session")
async def make_browser(
    chromium_context: Callable[..., Awaitable[BrowserContext]],
    request: pytest.FixtureRequest,
) -> AsyncIterator[BrowserFactory]:
    """ChromiumBrowser openers, each in a fresh context, sharing the test's
    screenshot folder."""
    shots = screenshot_dir(request.node.name)
    made: list[ChromiumBrowser] = []

    async def make(*, javascript: bool = True, **options: Any) -> ChromiumBrowser:
        context = await chromium_context(java_script_enabled=javascript)
        browser = ChromiumBrowser(
            context, javascript=javascript, screenshots=shots, timeout=WAIT, **options
        )
        made.append(browser)
        return browser

    yield make
    for browser in made:
        await browser.aclose()


def login_session(
    emulator: Emulator, opener: Any, **provider_options: Any
) -> LoginSession:
    provider = ProviderConfig(
        server=emulator.url, client_id=DEMO_CLIENT_ID, scope=SCOPE, **provider_options
    )
    return LoginSession(
        provider,
        loopback=LoopbackConfig(timeout=30),
        store=MemoryTokenStore(),
        opener=opener,
        notify=lambda message: None,
    )


async def login(
    emulator: Emulator, browser: ChromiumBrowser, **provider_options: Any
) -> TokenSet:
    async with login_session(emulator, browser, **provider_options) as session:
        async with asyncio.timeout(30):
            return await browser.run(session.login())


def authorize_requests(state: EmulatorState, method: str) -> list[dict[str, str]]:
    return [
        r.params
        for r in state.requests
        if r.endpoint == "authorize" and r.method == method
    ]


def code_verifier_sent(state: EmulatorState) -> str:
    (exchange,) = [
        r.params
        for r in state.requests
        if r.endpoint == "token" and r.params.get("grant_type") == "authorization_code"
    ]
    return exchange["code_verifier"]


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def nothing_ran(browser: ChromiumBrowser, page: Page) -> None:
    """Assert that no part of PAYLOAD ran or became markup in ``page``."""
    assert await page.title() != "pwned"
    assert await page.locator("img, body script").count() == 0
    assert browser.watch.dialogs == []
    assert browser.watch.page_errors == []
    # The page's CSP would block an injected script, and say so on the console.
    assert not [
        line
        for line in browser.watch.console
        if "pwned" in line or "Content Security Policy" in line
    ]


@pytest.mark.parametrize("pkce_method", ["S256", "plain"])
async def test_get_login_through_signin_and_consent(
    emulator: Emulator, make_browser: BrowserFactory, pkce_method: str
) -> None:
    """A GET login through the real sign-in and consent pages ends signed in, with
    the PKCE method asked for and a verifier that matches its challenge."""
    browser = await make_browser()

    tokens = await login(emulator, browser, pkce_method=pkce_method)
    visit = await browser.finished()

    assert tokens.access_token
    assert visit.steps == ["signin", "consent", "result"]
    assert visit.title == "Signed in · loopback-login"
    assert "You are signed in" in visit.text
    assert browser.page is not None
    user = emulator.state.config.users[0]
    assert user.full_name in await browser.page.locator("#account").inner_text()
    asked = emulator.state.last_authorize
    assert asked is not None
    assert asked["code_challenge_method"] == pkce_method
    verifier = code_verifier_sent(emulator.state)
    expected = verifier if pkce_method == "plain" else s256(verifier)
    assert asked["code_challenge"] == expected
    assert authorize_requests(emulator.state, "POST") == []


@pytest.mark.parametrize("javascript", [True, False], ids=["script", "no-script"])
async def test_post_login(
    emulator: Emulator, make_browser: BrowserFactory, javascript: bool
) -> None:
    """A POST login reaches the emulator by POST: the local page submits itself, or
    without JavaScript the person presses its visible Continue button."""
    browser = await make_browser(javascript=javascript)

    tokens = await login(emulator, browser, method="post")
    visit = await browser.finished()

    assert tokens.access_token
    assert urlsplit(browser.opened[0]).hostname == "127.0.0.1"
    pressed = [] if javascript else ["authorize-post"]
    assert visit.steps == [*pressed, "signin", "consent", "result"]
    assert "You are signed in" in visit.text
    (posted,) = authorize_requests(emulator.state, "POST")
    assert posted["client_id"] == DEMO_CLIENT_ID
    assert posted["code_challenge_method"] == "S256"
    assert authorize_requests(emulator.state, "GET") == []


@pytest.mark.parametrize("method", ["get", "post"])
async def test_the_browser_opens_the_short_local_url(
    emulator: Emulator, make_browser: BrowserFactory, method: str
) -> None:
    """Chromium is sent to http://127.0.0.1:PORT/ and nothing longer; that page takes
    it on to the authorize endpoint by a redirect (GET) or the form (POST)."""
    browser = await make_browser()

    tokens = await login(emulator, browser, method=method)
    visit = await browser.finished()

    assert tokens.access_token
    (opened,) = browser.opened
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", opened)
    assert browser.watch.requests[0] == opened
    assert "You are signed in" in visit.text
    (asked,) = authorize_requests(emulator.state, method.upper())
    assert asked["client_id"] == DEMO_CLIENT_ID
    assert (
        authorize_requests(emulator.state, "POST" if method == "get" else "GET") == []
    )


async def test_deny_on_consent_fails_the_login(
    emulator: Emulator, make_browser: BrowserFactory
) -> None:
    """Deny on the consent page fails the login with access_denied, and Chromium
    shows the loopback server's error page."""
    browser = await make_browser(decision="deny")

    with pytest.raises(AuthorizationError) as failure:
        await login(emulator, browser)
    visit = await browser.finished()

    assert failure.value.error == "access_denied"
    assert visit.steps == ["signin", "consent", "result"]
    assert visit.title == "Sign-in failed · loopback-login"
    assert browser.page is not None
    assert await browser.page.locator("#error").inner_text() == "access_denied"
    assert emulator.state.count("token") == 0


class UrlCatcher:
    """An opener that only notes the URL, for a test that browses by itself."""

    def __init__(self) -> None:
        self.url: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def open(self, url: str) -> bool:
        self.url.set_result(url)
        return True


async def test_callback_error_description_is_shown_escaped(
    emulator: Emulator, make_browser: BrowserFactory
) -> None:
    """Markup and script in a callback's error_description are shown as text on the
    loopback error page, and none of it runs."""
    browser = await make_browser()
    catcher = UrlCatcher()
    async with login_session(emulator, catcher) as session:
        attempt = asyncio.create_task(session.login())
        start_url = await asyncio.wait_for(catcher.url, WAIT)
        # The opener gets the short local URL; it redirects to the authorize URL.
        async with (
            aiohttp.ClientSession() as http,
            http.get(start_url, allow_redirects=False) as response,
        ):
            authorize_url = response.headers["Location"]
        asked = dict(parse_qsl(urlsplit(authorize_url).query))
        callback = (
            asked["redirect_uri"]
            + "?"
            + urlencode(
                {
                    "state": asked["state"],
                    "error": "access_denied",
                    "error_description": PAYLOAD,
                }
            )
        )
        page = await browser.new_page()
        await page.goto(callback)
        await browser.screenshot(page, "callback-error")
        with pytest.raises(AuthorizationError) as failure:
            await asyncio.wait_for(attempt, WAIT)

    assert failure.value.error == "access_denied"
    assert await page.title() == "Sign-in failed · loopback-login"
    assert await page.locator("#description").inner_text() == PAYLOAD
    await nothing_ran(browser, page)


async def test_login_hint_is_shown_escaped_on_signin_page(
    emulator: Emulator, make_browser: BrowserFactory
) -> None:
    """A login_hint carrying markup and script fills the sign-in page's username
    field as plain text, runs nothing, and the login still completes."""
    seen: dict[str, str] = {}

    async def on_page(step: str, page: Page) -> None:
        if step == "signin":
            seen["username"] = await page.input_value("#username")
            await nothing_ran(browser, page)

    browser = await make_browser(on_page=on_page)

    tokens = await login(emulator, browser, authorize_params={"login_hint": PAYLOAD})
    visit = await browser.finished()

    assert tokens.access_token
    assert seen["username"] == PAYLOAD
    assert emulator.state.last_authorize is not None
    assert emulator.state.last_authorize["login_hint"] == PAYLOAD
    assert visit.steps == ["signin", "consent", "result"]
    assert browser.page is not None
    await nothing_ran(browser, browser.page)


@pytest.mark.parametrize("decision", ["allow", "deny"])
async def test_result_pages_load_nothing_external(
    emulator: Emulator, make_browser: BrowserFactory, decision: str
) -> None:
    """Every request of the login tab, the success or error page included, goes to
    127.0.0.1: no font, script or image from anywhere else."""
    browser = await make_browser(decision=decision)

    if decision == "allow":
        await login(emulator, browser)
    else:
        with pytest.raises(AuthorizationError):
            await login(emulator, browser)
    visit = await browser.finished()

    expected = "Signed in" if decision == "allow" else "Sign-in failed"
    assert visit.title.startswith(expected)
    requested = browser.watch.requests
    assert visit.url in requested  # the result page itself was seen, and counted
    elsewhere = [url for url in requested if urlsplit(url).hostname != "127.0.0.1"]
    assert elsewhere == []


async def test_error_page_speaks_to_a_person(
    emulator: Emulator, make_browser: BrowserFactory
) -> None:
    """On a narrow screen the error page's hint is a sentence whose options never
    break across lines, and the exact command to try again is in a code block."""
    browser = await make_browser()
    catcher = UrlCatcher()
    retry = "loopback-login login --profile work --client-id loopback-login-demo"
    session = LoginSession(
        ProviderConfig(server=emulator.url, client_id=DEMO_CLIENT_ID, scope=SCOPE),
        loopback=LoopbackConfig(timeout=30, retry_command=retry),
        store=MemoryTokenStore(),
        opener=catcher,
        notify=lambda message: None,
    )
    async with session:
        attempt = asyncio.create_task(session.login())
        start_url = await asyncio.wait_for(catcher.url, WAIT)
        async with (
            aiohttp.ClientSession() as http,
            http.get(start_url, allow_redirects=False) as response,
        ):
            authorize_url = response.headers["Location"]
        asked = dict(parse_qsl(urlsplit(authorize_url).query))
        query = urlencode({"state": asked["state"], "error": "invalid_scope"})
        page = await browser.new_page()
        await page.set_viewport_size({"width": 240, "height": 800})
        await page.goto(asked["redirect_uri"] + "?" + query)
        await browser.screenshot(page, "error-page")
        with pytest.raises(AuthorizationError):
            await asyncio.wait_for(attempt, WAIT)

    hint = await page.locator("#hint").inner_text()
    assert hint[0].isupper(), hint
    assert hint.endswith("."), hint
    assert "--client-id" in hint
    lines_per_flag = await page.eval_on_selector_all(
        "code.flag", "els => els.map(e => e.getClientRects().length)"
    )
    assert lines_per_flag, "no option in the hint"
    assert set(lines_per_flag) == {1}, lines_per_flag
    assert await page.locator("pre.command #command").inner_text() == retry
