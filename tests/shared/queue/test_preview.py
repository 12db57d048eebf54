from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue import preview
from shared.queue import queue as q
from shared.queue.errors import AlreadyQueued, DamagedRecord, QueueFull, SongPlaying
from shared.queue.models import Item
from shared.queue.preview import FILTER_USER, filter_preview, offer_preview, promote_preview
from tests.shared.queue.helpers import event_types, queue_view, set_playing, track
from tests.support.redis_server import RedisServer

BENDER = "bender@andre"


@pytest.fixture
async def redis_web(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-web")
    yield client
    await client.aclose()


@pytest.fixture
async def redis_player(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-player")
    yield client
    await client.aclose()


async def offer(redis: Redis, n: int | str = 1, user: str = BENDER) -> Item:
    item = await offer_preview(redis, track(n), user, events_max_len=1000)
    assert item is not None
    return item


async def wakes(redis: Redis) -> list[str]:
    return [str(w) for w in await redis.lrange(keys.PLAYER_WAKE, 0, -1)]


async def test_offer_preview_when_empty_writes_auto_item_with_one_event_and_wake(
    redis_player: Redis,
) -> None:
    item = await offer(redis_player, 1, "carol@example.com")

    stored = Item.model_validate_json(await redis_player.get(keys.PREVIEW) or "")
    assert stored == item
    assert item.auto is True and item.user == "carol@example.com" and item.uri == track(1).uri
    assert item.id == await redis_player.get(keys.QUEUE_SEQ) and item.added_at > 0
    assert await event_types(redis_player) == ["queue_update"]
    assert await wakes(redis_player) == ["preview"]
    assert await redis_player.exists(keys.filtered(item.uri)) == 0


async def test_offer_preview_with_one_there_changes_nothing(redis_player: Redis) -> None:
    first = await offer(redis_player, 1)

    assert await offer_preview(redis_player, track(2), BENDER, events_max_len=1000) is None

    assert Item.model_validate_json(await redis_player.get(keys.PREVIEW) or "") == first
    assert await event_types(redis_player) == ["queue_update"]
    assert await redis_player.get(keys.QUEUE_SEQ) == first.id


async def test_offer_preview_with_damaged_counter_refuses_and_writes_nothing(
    redis_player: Redis,
) -> None:
    await redis_player.set(keys.QUEUE_SEQ, "not a number")

    with pytest.raises(DamagedRecord):
        await offer_preview(redis_player, track(1), BENDER, events_max_len=1000)

    assert await redis_player.exists(keys.PREVIEW, keys.EVENTS, keys.PLAYER_WAKE) == 0


async def test_promote_preview_adds_it_as_the_clicking_user_in_one_step(
    redis_player: Redis, redis_web: Redis
) -> None:
    offered = await offer(redis_player, 1)
    before = await event_types(redis_web)

    item = await promote_preview(redis_web, offered.uri, "dan@example.com")

    assert item is not None and item.user == "dan@example.com" and item.auto is False
    view = await queue_view(redis_web)
    assert [i.id for i in view.queue] == [item.id] and view.preview is None
    assert await event_types(redis_web) == [*before, "queue_update"]  # one event, not two
    assert await redis_web.get(keys.filtered(offered.uri)) is not None  # a person chose it


async def test_promote_preview_follows_the_round_robin_of_adds(redis_web: Redis) -> None:
    await q.add_item(redis_web, track(10), "dan@example.com")
    await q.add_item(redis_web, track(11), "dan@example.com")
    offered = await offer(redis_web, 1)

    item = await promote_preview(redis_web, offered.uri, "eve@example.com")

    assert item is not None
    uris = [i.uri for i in (await queue_view(redis_web)).queue]
    assert uris == [track(10).uri, offered.uri, track(11).uri]


async def test_promote_preview_of_another_track_returns_none_and_keeps_the_preview(
    redis_web: Redis,
) -> None:
    offered = await offer(redis_web, 1)

    assert await promote_preview(redis_web, track(2).uri, "dan@example.com") is None

    assert Item.model_validate_json(await redis_web.get(keys.PREVIEW) or "") == offered
    assert await redis_web.llen(keys.QUEUE) == 0


async def test_promote_preview_racing_promotes_queue_it_exactly_once(
    redis_clean: RedisServer,
) -> None:
    clients = [redis_clean.client("andre-web") for _ in range(5)]
    try:
        offered = await offer(clients[0], 1)

        results = await asyncio.gather(
            *(
                promote_preview(c, offered.uri, f"user{n}@example.com")
                for n, c in enumerate(clients)
            )
        )

        assert sum(r is not None for r in results) == 1
        assert await clients[0].llen(keys.QUEUE) == 1
        assert await clients[0].exists(keys.PREVIEW) == 0
    finally:
        for c in clients:
            await c.aclose()


async def test_promote_preview_taken_after_the_read_is_not_queued_twice(
    redis_web: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered = await offer(redis_web, 1)
    assert await promote_preview(redis_web, offered.uri, "dan@example.com") is not None

    async def stale_read(redis: Redis) -> Item:
        return offered  # what a second click read just before the first one's step

    monkeypatch.setattr(preview, "get_preview", stale_read)

    assert await promote_preview(redis_web, offered.uri, "eve@example.com") is None
    assert await redis_web.llen(keys.QUEUE) == 1


async def test_promote_preview_refused_by_a_full_queue_leaves_the_preview(
    redis_web: Redis,
) -> None:
    rules = q.QueueRules(max_len=1)
    await q.add_item(redis_web, track(10), "dan@example.com", rules=rules)
    offered = await offer(redis_web, 1)
    raw = await redis_web.get(keys.PREVIEW)
    before = await event_types(redis_web)

    with pytest.raises(QueueFull):
        await promote_preview(redis_web, offered.uri, "eve@example.com", rules=rules)

    assert await redis_web.get(keys.PREVIEW) == raw
    assert await redis_web.llen(keys.QUEUE) == 1
    assert await event_types(redis_web) == before
    assert await redis_web.exists(keys.filtered(offered.uri)) == 0


async def test_promote_preview_of_a_queued_song_raises_and_leaves_the_preview(
    redis_web: Redis,
) -> None:
    queued = await q.add_item(redis_web, track(1), "dan@example.com")
    await redis_web.delete(keys.PREVIEW)
    offered = await offer(redis_web, 1)

    with pytest.raises(AlreadyQueued) as refused:
        await promote_preview(redis_web, offered.uri, "eve@example.com")

    assert refused.value.item_id == queued.id
    assert Item.model_validate_json(await redis_web.get(keys.PREVIEW) or "") == offered


async def test_promote_preview_of_the_playing_song_raises_and_leaves_the_preview(
    redis_web: Redis,
) -> None:
    await set_playing(redis_web)
    offered = await offer(redis_web, "1" * 22)  # the track set_playing plays

    with pytest.raises(SongPlaying):
        await promote_preview(redis_web, offered.uri, "eve@example.com")

    assert await redis_web.exists(keys.PREVIEW) == 1


async def test_promote_preview_damaged_is_nobodys_click(redis_web: Redis) -> None:
    await redis_web.set(keys.PREVIEW, json.dumps({"uri": track(1).uri}))

    assert await promote_preview(redis_web, track(1).uri, "dan@example.com") is None

    assert await redis_web.exists(keys.PREVIEW) == 1 and await redis_web.llen(keys.QUEUE) == 0


async def test_filter_preview_sets_the_flag_and_drops_the_preview_with_one_event(
    redis_web: Redis,
) -> None:
    offered = await offer(redis_web, 1)
    await redis_web.delete(keys.EVENTS, keys.PLAYER_WAKE)
    rules = q.QueueRules(bender_filter_s=3600)

    assert await filter_preview(redis_web, offered.uri, rules=rules)

    assert await redis_web.exists(keys.PREVIEW) == 0
    assert await redis_web.get(keys.filtered(offered.uri)) == FILTER_USER
    assert 3590 < await redis_web.ttl(keys.filtered(offered.uri)) <= 3600
    assert await event_types(redis_web) == ["queue_update"]
    assert await wakes(redis_web) == ["preview"]


async def test_filter_preview_of_another_track_sets_the_flag_only(redis_web: Redis) -> None:
    offered = await offer(redis_web, 1)
    await redis_web.delete(keys.EVENTS, keys.PLAYER_WAKE)

    assert not await filter_preview(redis_web, track(2).uri)

    assert Item.model_validate_json(await redis_web.get(keys.PREVIEW) or "") == offered
    assert await redis_web.get(keys.filtered(track(2).uri)) == FILTER_USER
    assert await redis_web.ttl(keys.filtered(track(2).uri)) > q.DEFAULT_RULES.bender_filter_s - 10
    assert await redis_web.exists(keys.EVENTS, keys.PLAYER_WAKE) == 0


async def test_filter_preview_damaged_preview_is_left_alone(redis_web: Redis) -> None:
    await redis_web.set(keys.PREVIEW, "{not json")

    assert not await filter_preview(redis_web, track(1).uri)

    assert await redis_web.get(keys.PREVIEW) == "{not json"
    assert await redis_web.get(keys.filtered(track(1).uri)) == FILTER_USER
