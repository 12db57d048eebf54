from __future__ import annotations

import json
import logging

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue import now_playing
from tests.shared.queue.helpers import event_types, set_playing


async def _now_ms(redis: Redis) -> int:
    sec, usec = await redis.time()
    return int(sec) * 1000 + int(usec) // 1000


async def test_announce_record_replaced_meanwhile_announces_nothing(redis_api: Redis) -> None:
    await set_playing(redis_api, item_id="np1")
    stale = await redis_api.get(keys.NOW_PLAYING)
    assert stale is not None
    await set_playing(redis_api, item_id="np2")
    await now_playing.announce(redis_api, stale, await _now_ms(redis_api), 100)
    assert await event_types(redis_api) == []
    current = await redis_api.get(keys.NOW_PLAYING)
    assert current is not None
    await now_playing.announce(redis_api, current, await _now_ms(redis_api), 100)
    ((_, fields),) = await redis_api.xrange(keys.EVENTS)
    assert fields["type"] == "now_playing" and json.loads(fields["data"])["id"] == "np2"


async def test_announce_record_not_utf8_reported_queue_update_still_sent(
    redis_api: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    await set_playing(redis_api)
    raw = (await redis_api.get(keys.NOW_PLAYING) or "").encode().replace(b'"Now"', b'"N\xff"')
    await redis_api.set(keys.NOW_PLAYING, raw)
    await now_playing.announce(redis_api, raw, await _now_ms(redis_api), 100, queue_update=True)
    assert await event_types(redis_api) == ["queue_update"]
    assert any("damaged now_playing record" in r.getMessage() for r in caplog.records)


def test_view_position_capped_and_frozen_while_paused() -> None:
    record = {
        "item": {
            "id": "1",
            "uri": "spotify:track:x",
            "title": "T",
            "artist": "A",
            "duration_ms": 10_000,
            "user": "u@example.com",
            "added_at": 1.0,
        },
        "started_at": 1.0,
        "pos_ms": 4_000,
        "anchor_ms": 1_000,
        "paused": False,
    }
    state = now_playing.parse_now_playing(json.dumps(record))
    assert state.view(3_000).pos_ms == 6_000 and state.view(99_000).pos_ms == 10_000
    paused = now_playing.parse_now_playing(json.dumps(record | {"paused": True}))
    view = paused.view(99_000)
    assert view.pos_ms == 4_000 and view.paused and view.server_time == 99.0
