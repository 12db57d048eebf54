"""The outside clients every service opens in its lifespan: the Redis pool and the httpx client
(Spotify, the OIDC provider), closed in reverse order, each even when closing another fails."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from redis.asyncio import Redis

from shared.redis_client import create_redis
from shared.settings import AndreSettings
from shared.spotify._http import REQUEST_TIMEOUT


@contextlib.asynccontextmanager
async def open_clients(settings: AndreSettings) -> AsyncIterator[tuple[Redis, httpx.AsyncClient]]:
    """Redis and httpx for the service's lifetime; nothing connects until first used."""
    async with contextlib.AsyncExitStack() as stack:
        redis = create_redis(settings)
        stack.push_async_callback(redis.aclose)
        http = httpx.AsyncClient(timeout=REQUEST_TIMEOUT)
        stack.push_async_callback(http.aclose)
        yield redis, http
