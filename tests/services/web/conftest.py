"""Web fixtures: the app over ASGI with a real Redis, and signed-in browser-like clients.

- ``web_settings``: dev ``WebSettings`` on the test Redis as ``andre-web``, URL ``PUBLIC_URL``.
  Other variants: ``build_settings(redis_clean, env="prod", ...)`` and ``running(create_app(s))``.
- ``web_app``: ``create_app(web_settings)`` with its lifespan running (Redis, httpx client).
- ``web_client``: an anonymous ``httpx.AsyncClient`` over ``ASGITransport`` from 127.0.0.1, no
  Origin header (add ``headers=same_origin()`` yourself).
- ``signed_in``: a ``SignedIn`` for ``alice@example.com``, signed in through ``/login/dev``; its
  client sends ``Origin`` and ``X-CSRF-Token`` by default, so ``await signed_in.client.post(
  "/queue/add", json={...})`` is a valid browser action. Drop them with ``headers={...: ""}``
  or use ``signed_in.bare()`` (same cookies, no default headers).
- ``sign_in``: ``await sign_in("bob@example.com")`` signs in more people, each with own cookies.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.web.app import create_app
from services.web.limits import WebLimits
from services.web.settings import WebSettings
from services.web.state import web_state
from shared import keys
from tests.support.redis_server import RedisServer

PUBLIC_URL = "https://andre.test"
TEST_SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnop"
LOOPBACK = "127.0.0.1"

_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def same_origin() -> dict[str, str]:
    return {"Origin": PUBLIC_URL}


def form_token(html: str) -> str:
    """The hidden ``csrf_token`` of a rendered form."""
    match = _FORM_TOKEN.search(html)
    assert match, "no csrf_token field in the form"
    return match.group(1)


def build_settings(redis_server: RedisServer, **overrides: object) -> WebSettings:
    values: dict[str, object] = {
        "env": "dev",
        "public_url": PUBLIC_URL,
        "secret_key": TEST_SECRET_KEY,
        # The tests play a TCP proxy on loopback (compose trusts Caddy's address the same way).
        "trusted_proxies": ["127.0.0.1", "::1"],
        **redis_server.settings_kwargs("andre-web"),
    }
    values.update(overrides)
    return WebSettings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    """Run the app's lifespan (ASGITransport does not)."""
    async with app.router.lifespan_context(app):
        yield app


def make_client(app: FastAPI, *, client_ip: str = LOOPBACK, **kwargs: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(client_ip, 50123))
    return httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL, **kwargs)  # type: ignore[arg-type]


@dataclass
class SignedIn:
    client: httpx.AsyncClient
    email: str
    csrf_token: str
    session_id: str

    def bare(self) -> httpx.AsyncClient:
        """A client with the same cookies but no default Origin / CSRF headers."""
        return httpx.AsyncClient(
            transport=self.client._transport,  # noqa: SLF001 - same app, same peer
            base_url=PUBLIC_URL,
            cookies=self.client.cookies,
        )


async def dev_sign_in(
    app: FastAPI, redis_server: RedisServer, email: str, *, client_ip: str = LOOPBACK
) -> SignedIn:
    settings = web_state(app).settings
    client = make_client(app, client_ip=client_ip)
    page = await client.get("/login/dev")
    assert page.status_code == 200, page.text
    resp = await client.post(
        "/login/dev",
        data={"email": email, "csrf_token": form_token(page.text)},
        headers=same_origin(),
    )
    assert resp.status_code == 303, resp.text
    session_id = client.cookies[settings.session_cookie_name]
    redis = redis_server.client("andre-web")
    try:
        raw = await redis.get(keys.session(hashlib.sha256(session_id.encode()).hexdigest()))
    finally:
        await redis.aclose()
    assert raw is not None
    csrf = json.loads(raw)["csrf_token"]
    client.headers.update({"Origin": PUBLIC_URL, "X-CSRF-Token": csrf})
    return SignedIn(client=client, email=email.lower(), csrf_token=csrf, session_id=session_id)


@pytest.fixture
def web_settings(redis_clean: RedisServer) -> WebSettings:
    return build_settings(redis_clean)


@pytest.fixture
async def web_app(web_settings: WebSettings) -> AsyncIterator[FastAPI]:
    async with running(create_app(web_settings)) as app:
        yield app


@pytest.fixture
def web_limits(web_app: FastAPI) -> WebLimits:
    """The running app's rate limits (from settings)."""
    return web_state(web_app).limits


@pytest.fixture
async def web_client(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(web_app) as client:
        yield client


@pytest.fixture
async def sign_in(
    web_app: FastAPI, redis_clean: RedisServer
) -> AsyncIterator[Callable[[str], Awaitable[SignedIn]]]:
    opened: list[SignedIn] = []

    async def _sign_in(email: str) -> SignedIn:
        who = await dev_sign_in(web_app, redis_clean, email)
        opened.append(who)
        return who

    yield _sign_in
    for who in opened:
        await who.client.aclose()


@pytest.fixture
async def signed_in(sign_in: Callable[[str], Awaitable[SignedIn]]) -> SignedIn:
    return await sign_in("alice@example.com")
