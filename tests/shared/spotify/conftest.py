from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
from redis.asyncio import Redis

from shared.spotify.client import SpotifyCatalog
from tests.shared.spotify import fakes


@pytest.fixture
def spotify() -> Iterator[respx.MockRouter]:
    # Every request must match a route: nothing leaves the test for a real host.
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def catalog(http: httpx.AsyncClient, redis_api: Redis) -> SpotifyCatalog:
    return SpotifyCatalog(http=http, redis=redis_api, settings=fakes.settings(), backoff_s=0.0)
