from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from shared.spotify.client import SpotifyCatalog
from shared.spotify.tokens import UserTokenStore
from tests.shared.spotify import fakes


@pytest.fixture
def catalog(http: httpx.AsyncClient, redis_api: Redis) -> SpotifyCatalog:
    return SpotifyCatalog(http=http, redis=redis_api, settings=fakes.settings(), backoff_s=0.0)


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(redis_api: Redis, clock: FakeClock) -> UserTokenStore:
    return UserTokenStore(redis_api, fakes.settings().secret_key, clock=clock, backoff_s=0.0)
