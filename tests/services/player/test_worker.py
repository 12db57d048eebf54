from __future__ import annotations

import json
import random
from typing import Any

import pytest
from redis.asyncio import Redis

from services.player.bender import Bender
from services.player.worker import Worker
from shared import keys, playlog
from shared.queue.control import request_skip
from shared.queue.errors import DamagedRecord
from shared.queue.playback import acquire_leader
from shared.spotify.demo import DemoCatalog
from tests.services.player.conftest import FakeClock
from tests.services.player.helpers import add, events, history, now_playing, set_paused


def make_worker(
    settings: Any, redis: Redis, clock: FakeClock, *, bender: bool = False, token: str = "w1"
) -> Worker:
    b = None
    if bender:
        b = Bender(
            redis,
            DemoCatalog(),
            bender_email=settings.bender_email,
            play_log_dir=settings.play_log_dir,
            events_max_len=settings.events_max_len,
            rng=random.Random(7),
        )
    return Worker(settings, redis, clock=clock, bender=b, token=token)


async def test_worker_tick_with_queued_song_starts_it(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1)
    await add(redis_player, 2)
    worker = make_worker(settings, redis_player, clock)

    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None
    assert np["item"]["id"] == first
    assert np["pos_ms"] == 0 and np["anchor_ms"] == clock.now and np["paused"] is False
    assert await redis_player.llen(keys.QUEUE) == 1
    assert await redis_player.exists(keys.item(first)) == 0
    assert worker.is_leader
    assert [t for t, _ in await events(redis_player) if t != "queue_update"][-2:] == [
        "now_playing",
        "player_position",
    ]


async def test_worker_tick_before_song_end_keeps_song_and_waits_until_end(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1, duration_ms=3_000)
    await add(redis_player, 2)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    clock.advance(2_500)

    wait_s = await worker.tick()

    assert (await now_playing(redis_player) or {})["item"]["id"] == first
    assert 0 < wait_s <= 0.5


async def test_worker_tick_at_song_end_logs_it_and_starts_next(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1, duration_ms=3_000)
    second = await add(redis_player, 2)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    clock.advance(3_000)

    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == second
    plays = await history(redis_player)
    assert [p["id"] for p in plays] == [first]
    assert plays[0]["ended_at"] == clock.now / 1000
    files = playlog.log_files(settings.play_log_dir)
    logged = [p for _, f in files for p in playlog.read_plays(f)]
    assert [(p["id"], p["skipped"], p["played_ms"]) for p in logged] == [(first, False, 3_000)]


async def test_worker_tick_while_paused_freezes_position_and_resume_continues(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1, duration_ms=10_000)
    second = await add(redis_player, 2)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    clock.advance(4_000)
    await set_paused(redis_player, True, clock.now)
    clock.advance(60_000)

    paused_wait = await worker.tick()
    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == first and np["pos_ms"] == 4_000
    assert paused_wait == settings.leader_refresh_s

    await set_paused(redis_player, False, clock.now)
    clock.advance(5_999)
    await worker.tick()
    assert (await now_playing(redis_player) or {})["item"]["id"] == first
    clock.advance(1)
    await worker.tick()
    assert (await now_playing(redis_player) or {})["item"]["id"] == second


async def test_worker_tick_after_skip_request_starts_next_and_logs_skip(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1)
    second = await add(redis_player, 2)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    clock.advance(1_234)
    assert await request_skip(redis_player)

    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == second and np["paused"] is False
    assert await redis_player.exists(keys.SKIP) == 0
    logged = [p for _, f in playlog.log_files(settings.play_log_dir) for p in playlog.read_plays(f)]
    assert [(p["id"], p["skipped"], p["played_ms"]) for p in logged] == [(first, True, 1_234)]


async def test_worker_skip_while_paused_cues_next_song_paused(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    await add(redis_player, 1)
    second = await add(redis_player, 2)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    await set_paused(redis_player, True, clock.now)
    assert await request_skip(redis_player)

    await worker.tick()
    clock.advance(30_000)
    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == second
    assert np["paused"] is True and np["pos_ms"] == 0
    assert await redis_player.exists(keys.PAUSED) == 1


async def test_worker_tick_with_empty_queue_and_no_bender_goes_idle(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    await add(redis_player, 1, duration_ms=1_000)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    clock.advance(1_000)

    await worker.tick()

    assert await now_playing(redis_player) is None
    assert (await events(redis_player, "now_playing"))[-1][1] == {}


async def test_worker_empty_queue_with_bender_plays_preview(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    worker = make_worker(settings, redis_player, clock, bender=True)
    assert worker.bender is not None
    await worker.tick()
    assert await now_playing(redis_player) is None

    assert await worker.bender.step() == 0.0
    preview = json.loads(await redis_player.get(keys.PREVIEW) or "{}")
    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None
    assert np["item"]["uri"] == preview["uri"] and np["item"]["auto"] is True
    assert np["item"]["user"] == settings.bender_email
    assert await redis_player.exists(keys.PREVIEW) == 0
    assert await redis_player.get(keys.filtered(preview["uri"])) == "play"
    assert await redis_player.get(keys.BENDER_STREAK_START) == str(clock.now)


async def test_worker_streak_cap_reached_stops_autofill_until_human_adds(
    make_settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    settings = make_settings(bender_max_minutes=10)
    worker = make_worker(settings, redis_player, clock, bender=True)
    assert worker.bender is not None
    await worker.bender.step()
    await worker.tick()
    first = await now_playing(redis_player)
    assert first is not None and first["item"]["auto"]

    # Auto-fill keeps going within the cap...
    clock.advance(first["item"]["duration_ms"])
    await worker.bender.step()
    await worker.tick()
    second = await now_playing(redis_player)
    assert second is not None and second["item"]["auto"]
    # ...and stops once it has run for 10 minutes, even with a preview ready.
    clock.advance(10 * 60_000)
    await worker.bender.step()
    await worker.tick()
    assert await now_playing(redis_player) is None
    assert await redis_player.exists(keys.PREVIEW) == 1
    clock.advance(60_000)
    await worker.tick()
    assert await now_playing(redis_player) is None

    human = await add(redis_player, 9)
    await worker.tick()
    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == human
    assert await redis_player.exists(keys.BENDER_STREAK_START) == 0


async def test_worker_throwback_song_does_not_reset_streak(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    await redis_player.set(keys.BENDER_STREAK_START, str(clock.now - 5_000))
    throwback = {
        "id": "77",
        "uri": "spotify:track:" + "t" * 22,
        "title": "Old",
        "artist": "Band",
        "duration_ms": 1000,
        "user": "bob@example.com",
        "auto": True,
        "added_at": 1.0,
    }
    await redis_player.set(keys.PREVIEW, json.dumps(throwback))
    worker = make_worker(settings, redis_player, clock, bender=True)

    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["user"] == "bob@example.com"
    assert await redis_player.get(keys.BENDER_STREAK_START) == str(clock.now - 5_000)


async def test_worker_tick_without_lock_never_advances_queue(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    await add(redis_player, 1)
    assert await acquire_leader(redis_player, "someone-else", 5_000)
    worker = make_worker(settings, redis_player, clock)

    wait_s = await worker.tick()

    assert wait_s == settings.standby_poll_s
    assert not worker.is_leader
    assert await now_playing(redis_player) is None
    assert await redis_player.llen(keys.QUEUE) == 1


async def test_worker_tick_refreshes_lock_while_paused(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    await add(redis_player, 1)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    await set_paused(redis_player, True, clock.now)
    await redis_player.pexpire(keys.PLAYER_LEADER, 50)

    await worker.tick()

    assert await redis_player.pttl(keys.PLAYER_LEADER) > 1_000
    assert await redis_player.exists(keys.PLAYER_HEARTBEAT) == 1


async def test_worker_tick_playing_publishes_position_at_least_every_interval(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    await add(redis_player, 1, duration_ms=60_000)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    for _ in range(10):
        clock.advance(1_000)
        wait_s = await worker.tick()
        assert wait_s <= settings.position_event_interval_s

    positions = [d["pos_ms"] for _, d in await events(redis_player, "player_position")]
    assert positions[0] == 0 and positions[-1] == 10_000
    gaps = [b - a for a, b in zip(positions, positions[1:], strict=False)]
    assert max(gaps) <= settings.position_event_interval_s * 1000


async def test_worker_new_leader_resumes_song_at_its_position(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1, duration_ms=30_000)
    old = make_worker(settings, redis_player, clock, token="old")
    await old.tick()
    await redis_player.delete(keys.PLAYER_LEADER)  # the old leader died, its lock expired
    clock.advance(12_000)
    new = make_worker(settings, redis_player, clock, token="new")

    await new.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == first
    last = (await events(redis_player, "player_position"))[-1][1]
    assert last["pos_ms"] == 12_000
    assert (await events(redis_player))[-2][0] == "now_playing"


async def test_worker_start_with_empty_redis_rebuilds_history_from_logs(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    for n in range(3):
        play = {
            "id": str(n),
            "uri": f"spotify:track:{'h' * 21}{n}",
            "title": f"T{n}",
            "artist": "A",
            "duration_ms": 1000,
            "user": "ann@example.com",
            "added_at": 1.0,
            "ended_at": 1_700_000_000.0 + n,
        }
        playlog.append_play(settings.play_log_dir, play, play["ended_at"])
    worker = make_worker(settings, redis_player, clock)

    await worker.tick()

    assert [p["id"] for p in await history(redis_player)] == ["2", "1", "0"]


async def test_worker_tick_with_unreadable_now_playing_moves_on(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    second = await add(redis_player, 2)
    await redis_player.set(keys.NOW_PLAYING, '{"item": "garbage"')
    worker = make_worker(settings, redis_player, clock)

    await worker.tick()

    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == second


async def test_worker_tick_with_history_of_wrong_type_changes_nothing_and_resumes_when_repaired(
    settings: Any, redis_player: Redis, clock: FakeClock
) -> None:
    first = await add(redis_player, 1)
    await add(redis_player, 2)
    worker = make_worker(settings, redis_player, clock)
    await worker.tick()
    await redis_player.delete(keys.HISTORY)
    await redis_player.set(keys.HISTORY, "not a list")  # a hand edit
    await request_skip(redis_player)
    with pytest.raises(DamagedRecord):
        await worker.tick()
    # Nothing half-done: the same song still plays, the queue and the skip request are intact.
    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == first
    assert await redis_player.llen(keys.QUEUE) == 1
    await redis_player.delete(keys.HISTORY)
    await worker.tick()
    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] != first
    assert len(await history(redis_player)) == 1
