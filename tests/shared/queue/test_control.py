from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue import control
from shared.queue.airhorns import blast_airhorn
from shared.queue.errors import ItemNotFound, NothingPlaying
from shared.queue.queue import toggle_jam
from tests.shared.queue.helpers import event_types, set_playing


async def test_pause_idle_is_noop(redis_api: Redis) -> None:
    assert await control.pause(redis_api) is False
    assert await control.resume(redis_api) is False
    assert await control.request_skip(redis_api) is False
    assert not await redis_api.exists(keys.PAUSED, keys.SKIP, keys.EVENTS)
    assert await control.get_now_playing(redis_api) is None


async def test_pause_freezes_position_and_resume_reanchors(redis_api: Redis) -> None:
    sec, usec = await redis_api.time()
    now_ms = int(sec) * 1000 + int(usec) // 1000
    await set_playing(redis_api, pos_ms=1000, anchor_ms=now_ms - 5000)
    assert await control.pause(redis_api) is True
    assert await redis_api.exists(keys.PAUSED)
    record = json.loads(await redis_api.get(keys.NOW_PLAYING))
    assert record["paused"] is True and 6000 <= record["pos_ms"] < 7000
    frozen = record["pos_ms"]
    assert await control.pause(redis_api) is False
    await asyncio.sleep(0.05)
    view = await control.get_now_playing(redis_api)
    assert view is not None and view.paused and view.pos_ms == frozen
    assert await control.resume(redis_api) is True
    assert not await redis_api.exists(keys.PAUSED)
    await asyncio.sleep(0.05)
    view = await control.get_now_playing(redis_api)
    assert view is not None and not view.paused and view.pos_ms >= frozen + 40
    assert await redis_api.lrange(keys.PLAYER_WAKE, 0, -1) == ["resume", "pause"]
    assert await event_types(redis_api) == ["now_playing", "now_playing"]


async def test_get_now_playing_caps_position_at_duration(redis_api: Redis) -> None:
    await set_playing(redis_api, pos_ms=0, duration_ms=1000, anchor_ms=1)
    view = await control.get_now_playing(redis_api)
    assert view is not None and view.pos_ms == 1000 and view.server_time > 1_700_000_000


async def test_request_skip_sets_flag_wakes_player(redis_api: Redis) -> None:
    await set_playing(redis_api)
    assert await control.request_skip(redis_api) is True
    assert await redis_api.get(keys.SKIP) == "1"
    assert 0 < await redis_api.ttl(keys.SKIP) <= 120
    assert await redis_api.lrange(keys.PLAYER_WAKE, 0, -1) == ["skip"]
    assert await event_types(redis_api) == ["now_playing"]


async def test_player_wake_list_stays_bounded(redis_api: Redis) -> None:
    await set_playing(redis_api)
    for _ in range(8):
        await control.pause(redis_api)
        await control.resume(redis_api)
    assert await redis_api.llen(keys.PLAYER_WAKE) == 10


async def test_unreadable_now_playing_reads_as_idle(redis_api: Redis) -> None:
    for raw in ("not json", "[]", '{"item": 5}'):
        await redis_api.set(keys.NOW_PLAYING, raw)
        assert await control.get_now_playing(redis_api) is None
        assert await control.pause(redis_api) is False
        assert await control.request_skip(redis_api) is False
        with pytest.raises(ItemNotFound):
            await toggle_jam(redis_api, "np1", "u@example.com")
        with pytest.raises(NothingPlaying):
            await blast_airhorn(redis_api, "u@example.com", "airhorn")
    assert not await redis_api.exists(keys.EVENTS)
