"""Small tools for driving the emulator from tests: PKCE pairs,
redirect parsing, form scraping, and a client wrapper that speaks the protocol."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from loopback_login.emulator import DEMO_CLIENT_ID, FAULTS, STATE, EmulatorState, Faults

REDIRECT = "http://127.0.0.1:53682/callback"


def pkce_pair(method: str = "S256") -> tuple[str, str]:
    """A (verifier, challenge) pair per RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An RFC 6749 §2.3.1 Authorization header (form-encode, then base64)."""
    from urllib.parse import quote_plus

    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def query_of(location: str) -> dict[str, str]:
    """The single-valued query parameters of a redirect."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")
        for attr in ("src", "href"):
            if values.get(attr, "").startswith(("http:", "https:", "//")):
                self.external.append(values[attr])
        if tag == "link":
            self.external.append(values.get("href", ""))


def inputs_of(page: str) -> dict[str, str]:
    """The named inputs of a page's form(s), as a browser would submit them."""
    parser = _Inputs()
    parser.feed(page)
    return parser.fields


def external_resources(page: str) -> list[str]:
    """Anything a page would load from elsewhere (there should be nothing)."""
    parser = _Inputs()
    parser.feed(page)
    found = list(parser.external)
    found += re.findall(r"url\(|@import|<script[ >]", page)
    return found


@dataclass
class Emu:
    """A test client bound to one emulator app, with protocol shortcuts."""

    client: TestClient[web.Request, web.Application]
    app: web.Application

    @property
    def state(self) -> EmulatorState:
        return self.app[STATE]

    @property
    def faults(self) -> Faults:
        return self.app[FAULTS]

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def authorize(
        self, method: str = "GET", **params: str
    ) -> aiohttp.ClientResponse:
        """An authorization request; redirects are not followed."""
        params = {
            "client_id": DEMO_CLIENT_ID,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "state": "st-1",
            **params,
        }
        params = {k: v for k, v in params.items() if v != "<omit>"}
        if method == "GET":
            return await self.client.get(
                "/restapi/oauth/authorize", params=params, allow_redirects=False
            )
        return await self.client.post(
            "/restapi/oauth/authorize", data=params, allow_redirects=False
        )

    async def code(self, **params: str) -> str:
        """A fresh code from an auto-approving emulator."""
        response = await self.authorize(**params)
        assert response.status == 302, await response.text()
        return query_of(response.headers["Location"])["code"]

    async def token(
        self, headers: dict[str, str] | None = None, /, **form: str
    ) -> aiohttp.ClientResponse:
        return await self.client.post(
            "/restapi/oauth/token", data=form, headers=headers or {}
        )

    async def login(self, scope: str = "ReadAccounts", **params: str) -> dict[str, Any]:
        """Authorize and redeem the code as the public demo client."""
        verifier, challenge = pkce_pair()
        code = await self.code(
            scope=scope,
            code_challenge=challenge,
            code_challenge_method="S256",
            **params,
        )
        response = await self.token(
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            client_id=DEMO_CLIENT_ID,
            code_verifier=verifier,
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def refresh(self, refresh_token: str) -> aiohttp.ClientResponse:
        return await self.token(
            grant_type="refresh_token",
            refresh_token=refresh_token,
            client_id=DEMO_CLIENT_ID,
        )

    async def me(self, access_token: str) -> aiohttp.ClientResponse:
        return await self.client.get(
            "/restapi/v1.0/account/~/extension/~",
            headers={"Authorization": f"Bearer {access_token}"},
        )
