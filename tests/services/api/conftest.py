"""Api fixtures: the app over ASGI (lifespan running) on the test Redis, and a live uvicorn.

``api_client`` sends the main token by default; ``build_settings`` makes variants. The live
server (``live_api``) is for streams: httpx's ASGI transport buffers whole responses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.api.app import create_app
from services.api.settings import ApiSettings
from tests.support.redis_server import RedisServer, free_port

TOKEN = "main-token-0123456789abcdef"
BOT_TOKEN = "bot-token-abcdef0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def build_settings(server: RedisServer, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "env": "dev",
        "api_token": TOKEN,
        "api_tokens": f"bot={BOT_TOKEN}",
        "api_bad_token_max": 1000,
        # The tests play a TCP proxy on loopback (compose trusts Caddy's address the same way).
        "trusted_proxies": ["127.0.0.1", "::1"],
        # Both tokens are moderation admins here (bots that run the room); test_moderation.py
        # builds plain tokens with api_admin_tokens="".
        "api_admin_tokens": "main,bot",
        **server.settings_kwargs("andre-api"),
    }
    values.update(overrides)
    return ApiSettings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def running(
    app: FastAPI, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api.test", headers=headers or {}
        ) as client:
            yield client


@asynccontextmanager
async def live(app: FastAPI) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, ws="none", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def api_settings(redis_clean: RedisServer) -> ApiSettings:
    return build_settings(redis_clean)


@pytest.fixture
async def api_app(api_settings: ApiSettings) -> FastAPI:
    return create_app(api_settings)


@pytest.fixture
async def api_client(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(api_app, AUTH) as client:
        yield client


@pytest.fixture
async def live_api(api_app: FastAPI) -> AsyncIterator[str]:
    async with live(api_app) as url:
        yield url
