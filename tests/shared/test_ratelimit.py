from __future__ import annotations

import pytest
from redis.asyncio import Redis

from shared.queue.errors import RateLimited
from shared.ratelimit import Limit, give_back, hit

LIMIT = Limit("test_bucket", max_hits=2, window_s=60)


async def test_ratelimit_past_max_hits_raises_with_retry_after(redis_api: Redis) -> None:
    await hit(redis_api, LIMIT, "a@example.com")
    await hit(redis_api, LIMIT, "a@example.com")
    with pytest.raises(RateLimited) as exc:
        await hit(redis_api, LIMIT, "A@example.com")
    assert 1 <= exc.value.retry_after_s <= 60


async def test_ratelimit_give_back_returns_one_hit(redis_api: Redis) -> None:
    await hit(redis_api, LIMIT, "b@example.com")
    await hit(redis_api, LIMIT, "b@example.com")
    await give_back(redis_api, LIMIT, "b@example.com")
    await hit(redis_api, LIMIT, "b@example.com")
    assert 0 < await redis_api.pttl(LIMIT.key("b@example.com")) <= 60_000


async def test_ratelimit_give_back_after_window_creates_no_key(redis_api: Redis) -> None:
    await give_back(redis_api, LIMIT, "c@example.com")
    assert not await redis_api.exists(LIMIT.key("c@example.com"))
