from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue.playback import (
    RedisClock,
    acquire_leader,
    advance,
    get_play_state,
    parse_now_playing,
    release_leader,
    seed_history,
)
from shared.queue.queue import add_item
from shared.spotify.catalog import Track
from tests.support.redis_server import RedisServer

NOW = 1_800_000_000_000


@pytest.fixture
async def redis_player(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-player")
    yield client
    await client.aclose()


def track(n: int) -> Track:
    return Track(
        uri=f"spotify:track:{str(n).rjust(22, 'k')}", title=f"S{n}", artist="B", duration_ms=10_000
    )


async def step(
    redis: Redis, token: str = "me", mode: str = "idle", now: int = NOW, fill: bool = False
) -> str:
    state = await get_play_state(redis)
    result = await advance(
        redis,
        token=token,
        current=state,
        mode=mode,  # type: ignore[arg-type]
        now_ms=now,
        allow_fill=fill,
        history_max=3,
        events_max_len=1000,
    )
    return result.status


async def test_leader_lock_taken_refreshed_and_released_only_by_holder(
    redis_player: Redis,
) -> None:
    assert await acquire_leader(redis_player, "a", 1_000)
    assert not await acquire_leader(redis_player, "b", 1_000)
    assert await acquire_leader(redis_player, "a", 5_000)
    assert await redis_player.pttl(keys.PLAYER_LEADER) > 1_000
    assert not await release_leader(redis_player, "b")
    assert await release_leader(redis_player, "a")
    assert await acquire_leader(redis_player, "b", 1_000)


async def test_advance_without_the_lock_changes_nothing(redis_player: Redis) -> None:
    await add_item(redis_player, track(1), "ann@example.com")
    assert await acquire_leader(redis_player, "other", 5_000)

    assert await step(redis_player, token="me") == "not_leader"

    assert await redis_player.llen(keys.QUEUE) == 1
    assert await redis_player.exists(keys.NOW_PLAYING) == 0


async def test_advance_after_concurrent_change_reports_stale(redis_player: Redis) -> None:
    await add_item(redis_player, track(1), "ann@example.com")
    await add_item(redis_player, track(2), "ann@example.com")
    await acquire_leader(redis_player, "me", 5_000)
    await step(redis_player)
    state = await get_play_state(redis_player)
    assert state is not None
    await redis_player.set(keys.NOW_PLAYING, state.raw.replace('"paused":false', '"paused":true'))

    result = await advance(
        redis_player,
        token="me",
        current=state,
        mode="end",
        now_ms=NOW,
        allow_fill=False,
        history_max=3,
        events_max_len=1000,
    )

    assert result.status == "stale"
    assert await redis_player.llen(keys.QUEUE) == 1


async def test_advance_human_song_sets_seed_and_filter_and_ends_streak(
    redis_player: Redis,
) -> None:
    item = await add_item(redis_player, track(1), "ann@example.com")
    await redis_player.set(keys.BENDER_STREAK_START, "1")
    await acquire_leader(redis_player, "me", 5_000)

    assert await step(redis_player) == "started"

    assert await redis_player.get(keys.BENDER_SEED) == item.uri
    assert await redis_player.ttl(keys.BENDER_SEED) > 0
    assert await redis_player.exists(keys.BENDER_STREAK_START) == 0
    assert await redis_player.get(keys.filtered(item.uri)) == "play"


async def test_advance_history_is_bounded_newest_first(redis_player: Redis) -> None:
    ids = [(await add_item(redis_player, track(n), "ann@example.com")).id for n in range(6)]
    await acquire_leader(redis_player, "me", 5_000)
    await step(redis_player)
    for n in range(5):
        await step(redis_player, mode="end", now=NOW + (n + 1) * 10_000)

    history = [json.loads(r)["id"] for r in await redis_player.lrange(keys.HISTORY, 0, -1)]
    assert history == [ids[4], ids[3], ids[2]]


async def test_parse_now_playing_accepts_cjson_empty_objects() -> None:
    raw = json.dumps(
        {
            "item": {
                "id": "1",
                "uri": "spotify:track:" + "z" * 22,
                "title": "t",
                "artist": "a",
                "duration_ms": 5000,
                "user": "u",
                "added_at": 1,
                "jams": {},
                "comments": {},
            },
            "started_at": 1.5,
            "pos_ms": 100,
            "anchor_ms": 1000,
            "paused": False,
        }
    )

    state = parse_now_playing(raw)

    assert state.item.jams == [] and state.position_ms(2000) == 1100
    assert state.position_ms(60_000) == 5000


async def test_seed_history_only_fills_an_empty_history(redis_player: Redis) -> None:
    assert await seed_history(redis_player, ['{"a":1}', '{"a":2}'], 10) == 2
    assert await seed_history(redis_player, ['{"a":3}'], 10) == 0
    assert await redis_player.lrange(keys.HISTORY, 0, -1) == ['{"a":1}', '{"a":2}']


async def test_redis_clock_matches_redis_time(redis_player: Redis) -> None:
    sec, usec = await redis_player.time()
    assert abs(await RedisClock(redis_player).now_ms() - (sec * 1000 + usec // 1000)) < 1000


async def test_advance_skips_unreadable_queue_item_without_half_writes(
    redis_player: Redis,
) -> None:
    bad = await add_item(redis_player, track(1), "ann@example.com")
    good = await add_item(redis_player, track(2), "ann@example.com")
    await redis_player.set(keys.item(bad.id), '{"id": "1", "uri": ')
    await acquire_leader(redis_player, "me", 5_000)

    assert await step(redis_player) == "started"

    state = await get_play_state(redis_player)
    assert state is not None and state.item.id == good.id
    assert await redis_player.llen(keys.QUEUE) == 0


async def test_advance_queue_item_key_of_wrong_type_dropped_next_song_starts(
    redis_player: Redis,
) -> None:
    bad = await add_item(redis_player, track(1), "ann@example.com")
    good = await add_item(redis_player, track(2), "ann@example.com")
    await redis_player.delete(keys.item(bad.id))
    await redis_player.hset(keys.item(bad.id), "id", bad.id)
    await acquire_leader(redis_player, "me", 5_000)

    assert await step(redis_player) == "started"

    state = await get_play_state(redis_player)
    assert state is not None and state.item.id == good.id
    assert not await redis_player.exists(keys.item(bad.id))


async def test_advance_every_declared_candidate_damaged_reads_further(
    redis_player: Redis,
) -> None:
    bad = [await add_item(redis_player, track(n), f"u{n}@example.com") for n in range(6)]
    good = await add_item(redis_player, track(9), "ann@example.com")
    for item in bad:
        await redis_player.set(keys.item(item.id), "damaged")
    await acquire_leader(redis_player, "me", 5_000)

    assert await step(redis_player) == "started"

    state = await get_play_state(redis_player)
    assert state is not None and state.item.id == good.id
    assert await redis_player.llen(keys.QUEUE) == 0
    assert await redis_player.hlen(keys.QUEUE_URIS) == 0
