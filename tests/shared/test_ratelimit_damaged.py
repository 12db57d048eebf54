from __future__ import annotations

import logging

import pytest
from redis.asyncio import Redis

from shared.queue.errors import RateLimited
from shared.ratelimit import Limit, check, hit

LIMIT = Limit("test_bucket", max_hits=2, window_s=60)
WHO = "d@example.com"


async def test_ratelimit_hit_damaged_counter_starts_new_window(
    redis_api: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    await redis_api.set(LIMIT.key(WHO), "not a number")
    await check(redis_api, LIMIT, WHO)
    await hit(redis_api, LIMIT, WHO)
    assert await redis_api.get(LIMIT.key(WHO)) == "1"
    assert 0 < await redis_api.pttl(LIMIT.key(WHO)) <= 60_000
    await hit(redis_api, LIMIT, WHO)
    with pytest.raises(RateLimited):
        await hit(redis_api, LIMIT, WHO)
    reports = [r.getMessage() for r in caplog.records if r.name == "shared.queue.records"]
    assert len(reports) == 1 and "damaged rate counter record" in reports[0]
