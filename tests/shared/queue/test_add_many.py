from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.errors import RateLimited
from shared.queue import queue as q
from shared.queue.add_many import add_many
from shared.queue.errors import QueueFull
from tests.shared.queue.helpers import event_types, queue_view, set_playing, track
from tests.support.redis_server import RedisServer

A = "a@example.com"
B = "b@example.com"
C = "c@example.com"


@dataclass
class Counter:
    max_hits: int = 1000
    taken: int = 0
    given_back: int = 0

    async def take(self) -> None:
        self.taken += 1
        if self.taken - self.given_back > self.max_hits:
            raise RateLimited("Too many requests; try again in 7 s", 7)

    async def give_back(self) -> None:
        self.given_back += 1


async def _users(redis: Redis) -> list[str]:
    return [item.user for item in (await queue_view(redis)).queue]


async def test_add_many_album_of_30_keeps_others_single_adds_in_early_rounds(
    redis_api: Redis,
) -> None:
    album = [track(f"a{n}") for n in range(30)]
    done = await add_many(redis_api, album, A, Counter())
    assert len(done.ids) == 30 and not done.skipped and not done.stopped
    await q.add_item(redis_api, track("b1"), B)
    await q.add_item(redis_api, track("c1"), C)
    users = await _users(redis_api)
    assert users[:4] == [A, B, C, A]
    assert len(users) == 32
    titles = [item.title for item in (await queue_view(redis_api)).queue]
    assert [t for t in titles if t.startswith("Song a")] == [f"Song a{n}" for n in range(30)]


async def test_add_many_after_single_adds_puts_one_song_per_round(redis_api: Redis) -> None:
    await q.add_item(redis_api, track("b1"), B)
    await q.add_item(redis_api, track("b2"), B)
    await q.add_item(redis_api, track("c1"), C)
    await add_many(redis_api, [track(f"a{n}") for n in range(5)], A, Counter())
    assert await _users(redis_api) == [B, C, A, B, A, A, A, A]


async def test_add_many_emits_one_event_and_one_wake_for_the_batch(redis_api: Redis) -> None:
    await add_many(redis_api, [track(n) for n in range(3)], A, Counter())
    assert await event_types(redis_api) == ["queue_update"]
    assert await redis_api.lrange(keys.PLAYER_WAKE, 0, -1) == ["add"]


async def test_add_many_failed_add_still_announces_the_songs_queued(redis_api: Redis) -> None:
    class Broken(Counter):
        async def take(self) -> None:
            await super().take()
            if self.taken == 3:
                raise ConnectionError("redis went away")

    with pytest.raises(ConnectionError):
        await add_many(redis_api, [track(n) for n in range(5)], A, Broken())
    assert len((await queue_view(redis_api)).queue) == 2
    assert await event_types(redis_api) == ["queue_update"]


async def test_add_many_nothing_added_emits_nothing(redis_api: Redis) -> None:
    await q.add_item(redis_api, track(1), B)
    done = await add_many(redis_api, [track(1)], A, Counter())
    assert done.ids == [] and len(done.skipped) == 1
    assert await event_types(redis_api) == ["queue_update"]


async def test_add_many_skips_duplicates_and_the_playing_song_and_gives_back(
    redis_api: Redis,
) -> None:
    await set_playing(redis_api)  # plays spotify:track:111...
    queued = await q.add_item(redis_api, track(2), B)
    allowance = Counter()
    playing = track("1" * 22)
    done = await add_many(redis_api, [track(1), track(2), playing, track(3)], A, allowance)
    assert len(done.ids) == 2
    assert [(s.uri, s.reason) for s in done.skipped] == [
        (track(2).uri, "already queued"),
        (playing.uri, "playing now"),
    ]
    assert allowance.taken == 4 and allowance.given_back == 2
    view = await queue_view(redis_api)
    assert next(i for i in view.queue if i.id == queued.id).votes == 0


async def test_add_many_stops_at_the_rate_limit_and_says_when(redis_api: Redis) -> None:
    done = await add_many(redis_api, [track(n) for n in range(10)], A, Counter(max_hits=4))
    assert len(done.ids) == 4
    assert done.stopped == "rate_limited" and done.retry_after_s == 7
    assert len((await queue_view(redis_api)).queue) == 4


async def test_add_many_rate_limited_before_the_first_song_raises(redis_api: Redis) -> None:
    with pytest.raises(RateLimited):
        await add_many(redis_api, [track(1), track(2)], A, Counter(max_hits=0))
    assert (await queue_view(redis_api)).queue == []


async def test_add_many_stops_at_the_queue_cap(redis_api: Redis) -> None:
    rules = q.QueueRules(max_len=3)
    allowance = Counter()
    done = await add_many(redis_api, [track(n) for n in range(5)], A, allowance, rules=rules)
    assert len(done.ids) == 3 and done.stopped == "full"
    assert allowance.taken - allowance.given_back == 3
    with pytest.raises(QueueFull):
        await add_many(redis_api, [track(9)], B, Counter(), rules=rules)


async def test_add_many_concurrent_with_single_adds_keeps_rounds_in_order(
    redis_clean: RedisServer,
) -> None:
    clients = [redis_clean.client("andre-api") for _ in range(3)]
    try:
        singles = [q.add_item(clients[1 + n % 2], track(f"s{n}"), (B, C)[n % 2]) for n in range(10)]
        album = add_many(clients[0], [track(f"a{n}") for n in range(30)], A, Counter())
        await asyncio.gather(album, *singles)
        ids = await q.get_queue_ids(clients[0])
        owners = await clients[0].hgetall(keys.QUEUE_OWNERS)
        seen: collections.Counter[str] = collections.Counter()
        rounds = []
        for item_id in ids:
            seen[owners[item_id]] += 1
            rounds.append(seen[owners[item_id]])
        assert len(ids) == 40 and rounds == sorted(rounds)
        assert await clients[0].xlen(keys.EVENTS) == 11
    finally:
        for c in clients:
            await c.aclose()
