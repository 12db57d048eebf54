from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.player.bender import Bender
from services.player.worker import Worker
from shared import keys, playlog
from shared.queue.control import request_skip
from shared.queue.errors import DamagedRecord
from shared.queue.preview import filter_preview
from shared.spotify.demo import DemoCatalog
from shared.spotify.errors import SpotifyNotFound
from tests.services.player.conftest import FakeClock, SteppedWaiter
from tests.services.player.helpers import add, history, now_playing, set_paused

# Bounds a real-time test that would otherwise hang; never a timing assertion.
GUARD_S = 5.0


def demo_bender(settings: Any, redis: Redis, catalog: Any = None) -> Bender:
    return Bender(
        redis,
        catalog or DemoCatalog(),
        bender_email=settings.bender_email,
        play_log_dir=settings.play_log_dir,
        events_max_len=settings.events_max_len,
        rng=random.Random(7),
    )


def make_worker(settings: Any, redis: Redis, clock: FakeClock, **kw: Any) -> Worker:
    return Worker(settings, redis, clock=clock, token="runner", **kw)


def logged_plays(settings: Any) -> list[tuple[str, int, bool]]:
    files = playlog.log_files(settings.play_log_dir)
    plays = [p for _, f in files for p in playlog.read_plays(f)]
    return [(p["id"], p["played_ms"], p["skipped"]) for p in plays]


async def playing_id(redis: Redis) -> str | None:
    np = await now_playing(redis)
    return None if np is None else str(np["item"]["id"])


# --- timing, tick by tick on the fake clock ------------------------------------------------


async def test_worker_tick_short_songs_end_exactly_on_time(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    ids = [await add(redis_player, n, duration_ms=800) for n in range(3)]
    worker = make_worker(settings, redis_player, clock)
    start = clock.now

    waits = []
    for _ in range(3):
        waits.append(await worker.tick())
        clock.advance(round(waits[-1] * 1000))
    idle_wait = await worker.tick()

    assert waits == [0.8, 0.8, 0.8]
    plays = list(reversed(await history(redis_player)))
    assert [p["id"] for p in plays] == ids
    assert [round(p["ended_at"] * 1000) - start for p in plays] == [800, 1_600, 2_400]
    assert logged_plays(settings) == [(i, 800, False) for i in ids]
    assert idle_wait == settings.leader_refresh_s
    assert await now_playing(redis_player) is None


async def test_worker_tick_after_skip_request_next_song_starts_on_that_tick(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1, duration_ms=60_000)
    second = await add(redis_player, 2, duration_ms=60_000)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    assert await playing_id(redis_player) == first
    clock.advance(300)

    assert await request_skip(redis_player)
    wait = await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == second and np["pos_ms"] == 0
    assert np["started_at"] * 1000 == pytest.approx(clock.now)
    assert logged_plays(settings) == [(first, 300, True)]
    assert wait == settings.leader_refresh_s


async def test_worker_wait_while_leading_wakes_at_once_on_skip_request(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    await add(redis_player, 1, duration_ms=60_000)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    await redis_player.delete(keys.PLAYER_WAKE)  # the add's own wake-up
    waiting = asyncio.create_task(worker.wait(30.0))

    assert await request_skip(redis_player)

    await asyncio.wait_for(waiting, GUARD_S)  # far sooner than the 30 s it was due
    assert await redis_player.exists(keys.PLAYER_WAKE) == 0


async def test_worker_tick_pause_freezes_and_resume_ends_song_exactly_on_time(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1, duration_ms=1_500)
    second = await add(redis_player, 2, duration_ms=60_000)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    clock.advance(500)
    await set_paused(redis_player, True, clock.now)

    paused_wait = await worker.tick()
    clock.advance(1_500)
    await worker.tick()
    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == first and np["pos_ms"] == 500
    await set_paused(redis_player, False, clock.now)
    resumed_wait = await worker.tick()
    clock.advance(round(resumed_wait * 1000))
    await worker.tick()

    assert paused_wait == settings.leader_refresh_s
    assert resumed_wait == 1.0
    assert await playing_id(redis_player) == second
    assert logged_plays(settings) == [(first, 1_500, False)]


# --- the run loop, on a stepped waiter ----------------------------------------------------


class FailingTicks(Worker):
    """A worker whose first ticks raise the given errors."""

    def __init__(self, *args: Any, errors: list[Exception], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.errors = errors

    async def tick(self) -> float:
        if self.errors:
            raise self.errors.pop(0)
        return await super().tick()


@pytest.mark.parametrize(
    ("error", "leader_refresh_s", "expected"),
    [
        (RedisConnectionError("down"), 5.0, [0.2, 0.4, 0.8, 1.0, 1.0]),  # outage: capped at 1 s
        (DamagedRecord("bad record"), 0.5, [0.2, 0.4, 0.5, 0.5, 0.5]),
        (RuntimeError("bug"), 0.5, [0.2, 0.4, 0.5, 0.5, 0.5]),
    ],
)
async def test_worker_run_failed_ticks_back_off_to_cap_then_tick_again(
    make_settings: Any,
    redis_player: Redis,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    leader_refresh_s: float,
    expected: list[float],
) -> None:
    settings = make_settings(leader_refresh_s=leader_refresh_s)
    waiter = SteppedWaiter(clock, stop_after=6)
    worker = FailingTicks(
        settings, redis_player, clock=clock, token="runner", waiter=waiter, errors=[error] * 5
    )

    with caplog.at_level(logging.INFO, logger="services.player.worker"):
        await asyncio.wait_for(worker.run(), GUARD_S)

    assert waiter.timeouts[:5] == expected
    assert "ticking again after 5 failed ticks" in caplog.text
    assert await redis_player.exists(keys.PLAYER_LEADER) == 0  # released on the way out


async def test_worker_bender_loop_finding_nothing_backs_off_and_kicks_never_cut_it_short(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    catalog = EmptyCatalog()
    waiter = SteppedWaiter(clock, stop_after=3)
    bender = demo_bender(settings, redis_player, catalog)
    worker = make_worker(settings, redis_player, clock, bender=bender, waiter=waiter)
    waiter.script = [worker.tick, worker.tick]  # idle ticks kick the bender meanwhile
    await worker.tick()

    await asyncio.wait_for(worker._bender_loop(), GUARD_S)

    assert waiter.calls == [(2.0, None), (4.0, None), (8.0, None)]  # no wake: not cut short
    assert bender.failures == 3
    assert catalog.calls <= 3 * (1 + 4)  # per refill: a few lookups and fallback searches
    assert await now_playing(redis_player) is None


async def test_worker_bender_loop_filtered_preview_is_replaced_on_the_kick(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    await add(redis_player, 1, duration_ms=60_000)
    bender = demo_bender(settings, redis_player)
    waiter = SteppedWaiter(clock, stop_after=2)
    worker = make_worker(settings, redis_player, clock, bender=bender, waiter=waiter)
    await worker.tick()
    assert await bender.step() == 0.0
    uri = json.loads(await redis_player.get(keys.PREVIEW) or "{}")["uri"]

    async def filter_then_tick() -> None:
        assert await filter_preview(redis_player, uri)
        await worker.tick()  # sees no preview: kicks the bender

    waiter.script = [filter_then_tick]
    started = clock.now

    await asyncio.wait_for(worker._bender_loop(), GUARD_S)

    assert waiter.calls == [(30.0, True), (30.0, False)]
    assert clock.now == started  # woken by the kick, not by the 30 s timeout
    assert json.loads(await redis_player.get(keys.PREVIEW) or "{}")["uri"] != uri


async def test_worker_tick_on_demo_catalog_each_song_follows_without_silence(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    bender = demo_bender(settings, redis_player)
    worker = make_worker(settings, redis_player, clock, bender=bender)
    assert await worker.tick() == settings.leader_refresh_s  # idle, kicks the bender

    seen: list[str] = []
    for _ in range(4):
        assert await bender.step() == 0.0  # what the kicked bender loop does
        await worker.tick()
        np = await now_playing(redis_player)
        assert np is not None and np["item"]["auto"] is True
        assert np["item"]["id"] not in seen
        seen.append(str(np["item"]["id"]))
        clock.advance(1_000)
        assert await request_skip(redis_player)

    uris = [p["uri"] for p in await history(redis_player)]
    assert len(uris) == 3 and len(set(uris + [np["item"]["uri"]])) == 4


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


# --- one real-time smoke test of run(): stop handling -------------------------------------


async def test_worker_stop_releases_lock_within_5s(settings: Any, redis_player: Redis) -> None:
    await add(redis_player, 1, duration_ms=60_000)
    worker = Worker(settings, redis_player, token="stopper")
    task = asyncio.create_task(worker.run())

    async def leading() -> bool:
        return await redis_player.get(keys.PLAYER_LEADER) == "stopper"

    deadline = time.monotonic() + GUARD_S
    while not await leading():
        assert time.monotonic() < deadline, "never became leader"
        await asyncio.sleep(0.02)
    started = time.monotonic()
    worker.stop()
    await asyncio.wait_for(task, 5)

    assert time.monotonic() - started < 5
    assert await redis_player.exists(keys.PLAYER_LEADER) == 0
    assert await now_playing(redis_player) is not None
