from __future__ import annotations

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue import airhorns
from shared.queue.errors import NoFreeAirhorns, NothingPlaying
from tests.shared.queue.helpers import set_playing

U = "u@example.com"


async def test_blast_airhorn_damaged_rate_counter_blasts(redis_api: Redis) -> None:
    await set_playing(redis_api)
    await redis_api.set(keys.rate("airhorn", U), "x")
    await airhorns.blast_airhorn(redis_api, U, "siren")
    assert await redis_api.get(keys.rate("airhorn", U)) == "1"
    assert [r["name"] for r in await airhorns.recent_airhorns(redis_api)] == ["siren"]


async def test_blast_free_airhorn_damaged_credit_no_credit(redis_api: Redis) -> None:
    await set_playing(redis_api)
    await redis_api.set(keys.free_horns(U), "x")
    with pytest.raises(NoFreeAirhorns):
        await airhorns.blast_free_airhorn(redis_api, U)
    assert await airhorns.get_free_airhorns(redis_api, U) == 0
    assert await airhorns.recent_airhorns(redis_api) == []


async def test_blast_airhorn_damaged_playing_record_nothing_playing(redis_api: Redis) -> None:
    await redis_api.set(keys.NOW_PLAYING, '{"item": {"id": "np1"}}')
    with pytest.raises(NothingPlaying):
        await airhorns.blast_airhorn(redis_api, U, "siren")
    assert await redis_api.xlen(keys.EVENTS) == 0
