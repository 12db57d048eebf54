from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from redis.asyncio import Redis

from shared import keys
from tests.services.player.conftest import FakeClock
from tests.services.player.helpers import add, events, history, now_playing
from tests.services.player.test_worker import make_worker


def _reports(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "shared.queue.records"]


async def test_worker_tick_damaged_next_item_skipped_and_clock_runs_on(
    settings: Any, redis_player: Redis, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    first = await add(redis_player, 1, duration_ms=10_000)
    bad = await add(redis_player, 2)
    last = await add(redis_player, 3)
    # Valid JSON, but not an item: no title, a string for a number.
    record = json.loads(await redis_player.get(keys.item(bad)) or "")
    del record["title"]
    record["duration_ms"] = "long"
    await redis_player.set(keys.item(bad), json.dumps(record))
    worker = make_worker(settings, redis_player, clock)

    await worker.tick()
    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == first
    clock.advance(10_000)
    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == last
    assert [p["id"] for p in await history(redis_player)] == [first]
    assert not await redis_player.exists(keys.item(bad))
    assert _reports(caplog) == [f"damaged queue item record {bad} skipped: skipped by the player"]
    for _, data in await events(redis_player, "now_playing"):
        assert data["id"] in (first, last)


async def test_worker_tick_only_damaged_items_goes_idle(
    settings: Any, redis_player: Redis, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    bad = await add(redis_player, 1)
    await redis_player.set(keys.item(bad), "[]")
    worker = make_worker(settings, redis_player, clock)

    for _ in range(3):
        await worker.tick()
        clock.advance(1_000)

    assert await now_playing(redis_player) is None
    assert await redis_player.llen(keys.QUEUE) == 0
    assert len(_reports(caplog)) == 1


async def test_worker_tick_now_playing_not_utf8_moves_on_reported_once(
    settings: Any, redis_player: Redis, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    second = await add(redis_player, 2, duration_ms=60_000)
    await redis_player.set(keys.NOW_PLAYING, b'{"item": {"title": "\xff\xfe"}}')
    worker = make_worker(settings, redis_player, clock)

    for _ in range(3):
        await worker.tick()
        clock.advance(1_000)

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == second
    assert len(_reports(caplog)) == 1 and "damaged now_playing record" in _reports(caplog)[0]


async def test_worker_tick_next_item_not_utf8_skipped_on_next_tick(
    settings: Any, redis_player: Redis, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    bad = await add(redis_player, 1)
    good = await add(redis_player, 2)
    raw = (await redis_player.get(keys.item(bad)) or "").encode()
    # Readable to Lua's cjson (it does not check UTF-8), not to any JSON reader.
    await redis_player.set(keys.item(bad), raw.replace(b'"Song 1"', b'"Song \xff"'))
    worker = make_worker(settings, redis_player, clock)

    for _ in range(3):
        await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == good
    assert len(_reports(caplog)) == 1 and "damaged now_playing record" in _reports(caplog)[0]


async def test_worker_tick_damaged_streak_start_still_plays(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1)
    await redis_player.set(keys.BENDER_STREAK_START, b"\xff\xfe")
    worker = make_worker(settings, redis_player, clock, bender=True)

    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == first
