from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue import airhorns
from shared.queue.errors import InvalidInput, NoFreeAirhorns, NothingPlaying, RateLimited
from shared.queue.queue import QueueRules
from tests.shared.queue.helpers import set_playing

U = "u@example.com"


async def test_blast_airhorn_records_and_emits(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1")
    await airhorns.blast_airhorn(redis_api, U, "siren")
    recent = await airhorns.recent_airhorns(redis_api)
    assert recent[0]["name"] == "siren" and recent[0]["song_id"] == "np1"
    assert recent[0]["free"] is False
    fields = (await redis_api.xrange(keys.EVENTS))[-1][1]
    assert fields["type"] == "airhorn"
    assert json.loads(fields["data"]) == {"name": "siren", "user": U}


async def test_blast_airhorn_over_cap_raises_rate_limited(redis_api: Redis) -> None:
    await set_playing(redis_api)
    rules = QueueRules(airhorn_max_per_window=2, airhorn_window_s=30)
    await airhorns.blast_airhorn(redis_api, U, "airhorn", rules=rules)
    await airhorns.blast_airhorn(redis_api, U, "airhorn", rules=rules)
    with pytest.raises(RateLimited) as info:
        await airhorns.blast_airhorn(redis_api, U, "airhorn", rules=rules)
    assert 1 <= info.value.retry_after_s <= 30
    await airhorns.blast_airhorn(redis_api, "other@example.com", "airhorn", rules=rules)


async def test_blast_airhorn_idle_or_unknown_name_raises(redis_api: Redis) -> None:
    with pytest.raises(NothingPlaying):
        await airhorns.blast_airhorn(redis_api, U, "airhorn")
    await set_playing(redis_api)
    with pytest.raises(InvalidInput):
        await airhorns.blast_airhorn(redis_api, U, "<script>")


async def test_blast_free_airhorn_spends_credits(redis_api: Redis) -> None:
    await set_playing(redis_api)
    with pytest.raises(NoFreeAirhorns):
        await airhorns.blast_free_airhorn(redis_api, U)
    await redis_api.set(keys.free_horns(U), 1)
    assert await airhorns.get_free_airhorns(redis_api, U) == 1
    await airhorns.blast_free_airhorn(redis_api, U)
    assert await airhorns.get_free_airhorns(redis_api, U) == 0
    assert (await airhorns.recent_airhorns(redis_api))[0]["free"] is True


async def test_blast_free_airhorn_announces_the_credits_left(redis_api: Redis) -> None:
    await set_playing(redis_api)
    await redis_api.set(keys.free_horns(U), 2)
    await airhorns.blast_free_airhorn(redis_api, "U@example.com")
    entries = [f for _, f in await redis_api.xrange(keys.EVENTS) if f["type"] == "credits"]
    assert [json.loads(f["data"]) for f in entries] == [{"user": U, "free": 1}]


async def test_recent_airhorns_bounded(redis_api: Redis) -> None:
    await set_playing(redis_api)
    rules = QueueRules(airhorn_max_per_window=100, airhorns_kept=5)
    for _ in range(8):
        await airhorns.blast_airhorn(redis_api, U, "airhorn", rules=rules)
    assert len(await airhorns.recent_airhorns(redis_api)) == 5
