from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from services.player.bender import Bender
from services.player.worker import Worker
from shared import keys
from shared.queue.control import pause, request_skip, resume
from shared.queue.preview import filter_preview
from shared.spotify.demo import DemoCatalog
from shared.spotify.errors import SpotifyNotFound
from tests.services.player.helpers import add, history, now_playing


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout_s: float, step_s: float = 0.01
) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if await check():
            return time.monotonic() - start
        await asyncio.sleep(step_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


@pytest.fixture
async def running(settings: Any, redis_player: Redis) -> AsyncIterator[Worker]:
    worker = Worker(settings, redis_player, token="runner")
    task = asyncio.create_task(worker.run())
    yield worker
    worker.stop()
    await asyncio.wait_for(task, 5)


async def playing_id(redis: Redis) -> str | None:
    np = await now_playing(redis)
    return None if np is None else str(np["item"]["id"])


async def test_worker_run_short_songs_end_on_time(running: Worker, redis_player: Redis) -> None:
    ids = [await add(redis_player, n, duration_ms=800) for n in range(3)]

    async def all_played() -> bool:
        return len(await history(redis_player)) == 3

    await wait_until(all_played, 6)

    plays = list(reversed(await history(redis_player)))
    assert [p["id"] for p in plays] == ids
    for before, after in zip(plays, plays[1:], strict=False):
        assert after["ended_at"] - before["ended_at"] == pytest.approx(0.8, abs=0.25)


async def test_worker_run_skip_takes_effect_within_300ms(
    running: Worker, redis_player: Redis
) -> None:
    first = await add(redis_player, 1, duration_ms=60_000)
    second = await add(redis_player, 2, duration_ms=60_000)

    async def is_first() -> bool:
        return await playing_id(redis_player) == first

    async def is_second() -> bool:
        return await playing_id(redis_player) == second

    await wait_until(is_first, 2)
    await asyncio.sleep(0.3)
    assert await request_skip(redis_player)

    assert await wait_until(is_second, 1, step_s=0.005) < 0.3


async def test_worker_run_pause_freezes_and_resume_continues(
    running: Worker, redis_player: Redis
) -> None:
    first = await add(redis_player, 1, duration_ms=1_500)
    second = await add(redis_player, 2, duration_ms=60_000)

    async def is_first() -> bool:
        return await playing_id(redis_player) == first

    async def is_second() -> bool:
        return await playing_id(redis_player) == second

    await wait_until(is_first, 2)
    await asyncio.sleep(0.5)
    assert await pause(redis_player)
    await asyncio.sleep(1.5)
    assert await playing_id(redis_player) == first
    assert await resume(redis_player)

    elapsed = await wait_until(is_second, 3, step_s=0.005)
    assert elapsed == pytest.approx(1.0, abs=0.3)


async def test_worker_stop_releases_lock_within_5s(settings: Any, redis_player: Redis) -> None:
    await add(redis_player, 1, duration_ms=60_000)
    worker = Worker(settings, redis_player, token="stopper")
    task = asyncio.create_task(worker.run())

    async def leading() -> bool:
        return await redis_player.get(keys.PLAYER_LEADER) == "stopper"

    await wait_until(leading, 2)
    started = time.monotonic()
    worker.stop()
    await asyncio.wait_for(task, 5)

    assert time.monotonic() - started < 5
    assert await redis_player.exists(keys.PLAYER_LEADER) == 0
    assert await now_playing(redis_player) is not None


async def test_worker_run_on_demo_catalog_never_silent_over_5s(
    settings: Any, redis_player: Redis
) -> None:
    bender = Bender(
        redis_player,
        DemoCatalog(),
        bender_email=settings.bender_email,
        play_log_dir=settings.play_log_dir,
        events_max_len=settings.events_max_len,
    )
    worker = Worker(settings, redis_player, bender=bender, token="demo")
    task = asyncio.create_task(worker.run())
    try:
        seen: list[str] = []
        for _ in range(4):

            async def new_song() -> bool:
                current = await playing_id(redis_player)
                return current is not None and current not in seen

            assert await wait_until(new_song, 5) < 5
            np = await now_playing(redis_player)
            assert np is not None and np["item"]["auto"] is True
            seen.append(str(np["item"]["id"]))
            assert await request_skip(redis_player)
        uris = [json.loads(r)["uri"] for r in await redis_player.lrange(keys.HISTORY, 0, -1)]
        assert len(set(uris)) == len(uris)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 5)


def demo_bender(settings: Any, redis: Redis, catalog: Any = None) -> Bender:
    return Bender(
        redis,
        catalog or DemoCatalog(),
        bender_email=settings.bender_email,
        play_log_dir=settings.play_log_dir,
        events_max_len=settings.events_max_len,
    )


async def test_worker_run_filtered_preview_is_replaced_within_1s(
    settings: Any, redis_player: Redis
) -> None:
    await add(redis_player, 1, duration_ms=60_000)
    worker = Worker(settings, redis_player, bender=demo_bender(settings, redis_player), token="f")
    task = asyncio.create_task(worker.run())
    try:

        async def has_preview() -> bool:
            return bool(await redis_player.exists(keys.PREVIEW))

        await wait_until(has_preview, 3)
        uri = json.loads(await redis_player.get(keys.PREVIEW) or "{}")["uri"]
        assert await filter_preview(redis_player, uri)

        assert await wait_until(has_preview, 1) < 1
        assert json.loads(await redis_player.get(keys.PREVIEW) or "{}")["uri"] != uri
    finally:
        worker.stop()
        await asyncio.wait_for(task, 5)


class EmptyCatalog(DemoCatalog):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def search(self, query: str, limit: int = 10) -> list[Any]:
        self.calls += 1
        return []

    async def lookup(self, uri: str) -> Any:
        self.calls += 1
        raise SpotifyNotFound("gone")


async def test_worker_run_bender_finding_nothing_backs_off_not_hot_loop(
    settings: Any, redis_player: Redis
) -> None:
    catalog = EmptyCatalog()
    worker = Worker(
        settings, redis_player, bender=demo_bender(settings, redis_player, catalog), token="e"
    )
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(1.5)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 5)

    assert worker.bender is not None and worker.bender.failures == 1
    assert catalog.calls <= 2 * (1 + 4)  # one refill: a few lookups and fallback searches
    assert await now_playing(redis_player) is None
