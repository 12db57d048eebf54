from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared import keys
from shared.queue import moderation as mod
from shared.queue import queue as q
from shared.queue.errors import ItemNotFound, NotAllowed, NothingPlaying
from tests.shared.queue.helpers import set_playing, track
from tests.support.redis_server import RedisServer

OWNER = "dj@example.com"
RULES = q.QueueRules(skip_votes=3, remove_votes=2)


def actor(email: str, **kw: bool) -> mod.Actor:
    return mod.Actor(email, **kw)


async def room_events(redis: Redis) -> list[dict[str, object]]:
    return [
        json.loads(f["data"]) for _, f in await redis.xrange(keys.EVENTS) if f["type"] == "room"
    ]


async def test_skip_by_queuer_skips_at_once_and_is_announced(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1", user=OWNER)
    outcome = await mod.skip(redis_api, actor("DJ@example.com"), rules=RULES)
    assert outcome == mod.Outcome(True, "own")
    assert await redis_api.get(keys.SKIP) == "1"
    (event,) = await room_events(redis_api)
    assert event["kind"] == "skip" and event["by"] == OWNER and event["how"] == "own"
    assert (await mod.room_log(redis_api))[0]["song_id"] == "np1"


async def test_skip_by_admin_skips_someone_elses_song(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1", user=OWNER)
    outcome = await mod.skip(redis_api, actor("boss@example.com", is_admin=True), rules=RULES)
    assert outcome.done and outcome.how == "admin"


async def test_skip_votes_reach_threshold_then_skip(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1", user=OWNER)
    first = await mod.skip(redis_api, actor("a@example.com"), rules=RULES)
    assert first == mod.Outcome(False, "voted", 1, 3)
    again = await mod.skip(redis_api, actor("A@example.com"), rules=RULES)
    assert again == mod.Outcome(False, "already", 1, 3)
    await mod.skip(redis_api, actor("b@example.com"), rules=RULES)
    assert not await redis_api.exists(keys.SKIP)
    third = await mod.skip(redis_api, actor("c@example.com"), rules=RULES)
    assert third.done and third.how == "vote"
    assert await redis_api.get(keys.SKIP) == "1"
    kinds = [e["kind"] for e in await room_events(redis_api)]
    assert kinds == ["skip_vote", "skip_vote", "skip"]
    record = (await mod.room_log(redis_api))[0]
    assert sorted(record["voters"]) == ["a@example.com", "b@example.com", "c@example.com"]  # type: ignore[arg-type]
    assert not await redis_api.exists(keys.item_skip_votes("np1"))


async def test_skip_with_zero_threshold_refuses_others(redis_api: Redis) -> None:
    await set_playing(redis_api, "np1", user=OWNER)
    with pytest.raises(NotAllowed):
        await mod.skip(redis_api, actor("a@example.com"), rules=q.QueueRules(skip_votes=0))
    assert not await redis_api.exists(keys.SKIP)


async def test_skip_when_idle_raises_nothing_playing(redis_api: Redis) -> None:
    with pytest.raises(NothingPlaying):
        await mod.skip(redis_api, actor("a@example.com"), rules=RULES)


async def test_remove_own_song_removes_and_records(redis_api: Redis) -> None:
    item = await q.add_item(redis_api, track(1), "a@example.com")
    outcome = await mod.remove(redis_api, actor("a@example.com"), item.id, rules=RULES)
    assert outcome.done and outcome.how == "own"
    assert await q.get_queue_ids(redis_api) == []
    record = (await mod.room_log(redis_api))[0]
    assert record["kind"] == "remove" and record["title"] == "Song 1"


async def test_remove_others_song_needs_votes(redis_api: Redis) -> None:
    item = await q.add_item(redis_api, track(1), "a@example.com")
    vote = await mod.remove(redis_api, actor("b@example.com"), item.id, rules=RULES)
    assert vote == mod.Outcome(False, "voted", 1, 2)
    assert await q.get_queue_ids(redis_api) == [item.id]
    done = await mod.remove(redis_api, actor("c@example.com"), item.id, rules=RULES)
    assert done.done and done.how == "vote"
    assert await q.get_queue_ids(redis_api) == []
    assert not await redis_api.exists(keys.item_remove_votes(item.id))


async def test_remove_unknown_id_raises_not_found(redis_api: Redis) -> None:
    with pytest.raises(ItemNotFound):
        await mod.remove(redis_api, actor("a@example.com"), "999", rules=RULES)
    with pytest.raises(ItemNotFound):
        await mod.remove(redis_api, actor("a@example.com"), "x" * 500, rules=RULES)


async def test_clear_by_non_admin_refused_by_admin_recorded(redis_api: Redis) -> None:
    await q.add_item(redis_api, track(1), "a@example.com")
    with pytest.raises(NotAllowed):
        await mod.clear(redis_api, actor("a@example.com"), rules=RULES)
    assert len(await q.get_queue_ids(redis_api)) == 1
    assert await mod.clear(redis_api, actor("boss@example.com", is_admin=True), rules=RULES) == 1
    record = (await mod.room_log(redis_api))[0]
    assert record["kind"] == "clear" and record["removed"] == 1


@pytest.mark.parametrize(
    ("policy", "guest", "admin", "allowed"),
    [
        ("anyone", True, False, True),
        ("members", True, False, False),
        ("members", False, False, True),
        ("admins", False, False, False),
        ("admins", False, True, True),
    ],
)
async def test_set_paused_follows_policy(
    redis_api: Redis, policy: str, guest: bool, admin: bool, allowed: bool
) -> None:
    await set_playing(redis_api, "np1", user=OWNER)
    rules = q.QueueRules(pause_policy=policy)
    who = actor("a@example.com", is_guest=guest, is_admin=admin)
    if allowed:
        assert await mod.set_paused(redis_api, who, True, rules=rules) is True
        assert (await mod.room_log(redis_api))[0]["kind"] == "pause"
    else:
        with pytest.raises(NotAllowed):
            await mod.set_paused(redis_api, who, True, rules=rules)
        assert not await redis_api.exists(keys.PAUSED)


async def test_room_log_skips_damaged_records(redis_api: Redis) -> None:
    await redis_api.lpush(keys.ROOM_LOG, '{"kind":"skip"}', "not json", "[1]")
    assert await mod.room_log(redis_api) == [{"kind": "skip"}]


async def _skip_votes(server: RedisServer, threshold: int, voters: int) -> None:
    await server.wipe()
    redis = server.client("andre-api")
    try:
        await set_playing(redis, "np1", user=OWNER)
        rules = q.QueueRules(skip_votes=threshold)
        done = [
            (await mod.skip(redis, actor(f"v{n}@example.com"), rules=rules)).done
            for n in range(voters)
        ]
        assert bool(await redis.exists(keys.SKIP)) == (voters >= threshold)
        assert done == [n + 1 >= threshold for n in range(voters)]
        assert len(await mod.room_log(redis)) == (1 if voters >= threshold else 0)
    finally:
        await redis.aclose()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    threshold=st.integers(min_value=1, max_value=5), voters=st.integers(min_value=0, max_value=6)
)
def test_skip_votes_skip_exactly_at_threshold(
    redis_server: RedisServer, threshold: int, voters: int
) -> None:
    asyncio.run(_skip_votes(redis_server, threshold, voters))
