"""Queue changes cost O(change): versioned snapshots read and encoded once per change per
process, ``queue_delta`` events, exact resume, and a replay never dearer than one snapshot."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from redis.asyncio import Redis

from shared import keys
from shared.eventhub import COALESCE_S, EventHub
from shared.queue import queue as domain
from shared.queue.delta import Snapshot, apply
from shared.queue.events import publish
from shared.queue.queue import QueueRules
from shared.sse import event_stream, frame
from tests.shared.event_helpers import caught_up, parse_frames, request_for
from tests.shared.queue.helpers import track

RULES = QueueRules(max_len=1000, events_max_len=5000)


class Client:
    """An SSE client that keeps the queue view as live.js does (snapshot, then deltas)."""

    def __init__(self, hub: EventHub, last_event_id: str | None = None, mode: str = "delta"):
        self.stream = event_stream(
            hub,
            request_for(last_event_id),
            ping_interval_s=0.1,
            mode=mode,  # type: ignore[arg-type]
        )
        self.view: dict[str, Any] | None = None
        self.last_id = last_event_id
        self.bytes = 0
        self.events: list[dict[str, str]] = []

    async def read_until_idle(self) -> None:
        """Take frames until the stream pings with nothing sent for longer than a coalescing
        window (a ping alone can come before the window's frame: pings are 0.1 s apart here)."""
        loop = asyncio.get_running_loop()
        last = loop.time()  # the change that was just made counts as activity
        async with asyncio.timeout(15):
            async for chunk in self.stream:
                if chunk == b": ping\n\n":
                    if loop.time() - last > COALESCE_S + 0.1:
                        return
                    continue
                last = loop.time()
                self.bytes += len(chunk)
                for event in parse_frames(chunk):
                    self.events.append(event)
                    self.last_id = event.get("id", self.last_id)
                    data = json.loads(event["data"])
                    if event["event"] == "queue_update":
                        self.view = data
                    elif event["event"] == "queue_delta":
                        assert self.view is not None
                        self.view = apply(self.view, data)

    async def close(self) -> None:
        await self.stream.aclose()


async def _current(redis: Redis) -> dict[str, Any]:
    return json.loads(Snapshot.of((await domain.read_queue_view(redis))[0]).json)


async def _some_changes(redis: Redis, rng: random.Random, count: int, offset: int) -> None:
    for n in range(count):
        ids = await domain.get_queue_ids(redis)
        roll = rng.random()
        if roll < 0.4 or len(ids) < 3:
            await domain.add_item(redis, track(offset + n), f"u{rng.randrange(5)}@example.com")
        elif roll < 0.8:
            try:
                await domain.vote(redis, rng.choice(ids), f"v{n}@example.com", rng.random() < 0.7)
            except domain.DomainError:
                pass  # an own-song upvote or a repeat: refused, nothing changed
        else:
            await domain.remove_item(redis, rng.choice(ids))


async def test_a_resumed_client_ends_like_one_that_never_left(
    redis_api: Redis, hub: EventHub
) -> None:
    rng = random.Random(11)
    await _some_changes(redis_api, rng, 15, 0)
    await caught_up(hub, redis_api, timeout_s=10)
    steady, leaver = Client(hub), Client(hub)
    try:
        await steady.read_until_idle()
        await leaver.read_until_idle()
        await leaver.close()
        for rnd in range(3):
            await _some_changes(redis_api, rng, 20, 100 * (rnd + 1))
            await publish(redis_api, "airhorn", {"name": "siren", "user": "x@example.com"})
            await caught_up(hub, redis_api, timeout_s=10)
            await steady.read_until_idle()
        resumed = Client(hub, leaver.last_id)
        try:
            await resumed.read_until_idle()
            resumed.view = resumed.view or leaver.view
            current = await _current(redis_api)
            assert steady.view == current
            assert resumed.view == current
            assert resumed.bytes < steady.bytes  # it got the state, not the history
        finally:
            await resumed.close()
    finally:
        await steady.close()


async def test_each_change_is_read_and_encoded_once_per_process_whatever_the_listeners(
    redis_api: Redis,
) -> None:
    encoded: list[str] = []
    reads = 0

    def encode(event_id: str | None, event_type: str, data: str) -> bytes:
        encoded.append(event_type)
        return frame(event_id, event_type, data)

    hub = EventHub(redis_api, encode=encode, block_ms=200)
    real_read = hub.read_snapshot

    async def counted_read() -> Snapshot:
        nonlocal reads
        reads += 1
        return await real_read()

    hub.read_snapshot = counted_read  # type: ignore[method-assign]
    await hub.start()
    try:
        for n in range(5):
            await domain.add_item(redis_api, track(n), f"u{n}@example.com")
        await caught_up(hub, redis_api, timeout_s=10)
        subs = [hub.subscribe("delta") for _ in range(200)] + [hub.subscribe("full")]
        ids = await domain.get_queue_ids(redis_api)
        await domain.vote(redis_api, ids[-2], "warm@example.com", True)  # read: it has subscribers
        await caught_up(hub, redis_api, timeout_s=10)
        for sub in subs:
            while not sub.queue.empty():
                sub.queue.get_nowait()
        encoded.clear()
        reads = 0
        await domain.vote(redis_api, ids[-1], "voter@example.com", True)
        await caught_up(hub, redis_api, timeout_s=10)
        assert reads == 1
        assert sorted(encoded) == ["queue_delta", "queue_update"]  # one per mode, shared by all
        delta_frames = {sub.queue.get_nowait()[1] for sub in subs[:-1]}
        assert len(delta_frames) == 1  # the very same bytes for every delta listener
        assert b"event: queue_update" in subs[-1].queue.get_nowait()[1]
    finally:
        await hub.stop()


async def test_a_vote_on_a_500_song_queue_costs_a_listener_one_song_not_the_queue(
    redis_api: Redis, hub: EventHub
) -> None:
    for n in range(500):
        await domain.add_item(redis_api, track(n), f"user{n % 9}@example.com", rules=RULES)
    await caught_up(hub, redis_api, timeout_s=10)
    listener = Client(hub)
    try:
        await listener.read_until_idle()
        ids = await domain.get_queue_ids(redis_api)
        # A first vote, then the one measured (either way a delta from the adopted snapshot).
        await domain.vote(redis_api, ids[100], "warm@example.com", True, rules=RULES)
        await listener.read_until_idle()
        snapshot_bytes = listener.bytes
        ids = await domain.get_queue_ids(redis_api)
        await domain.vote(redis_api, ids[300], "voter@example.com", True, rules=RULES)
        await listener.read_until_idle()
        change_bytes = listener.bytes - snapshot_bytes
        song = await domain.get_item(redis_api, ids[300])
        song_bytes = len(song.model_dump_json())
        assert listener.events[-1]["event"] == "queue_delta"
        assert change_bytes <= 4096 + song_bytes, (change_bytes, song_bytes)
        assert snapshot_bytes > 50 * change_bytes
        assert listener.view == await _current(redis_api)
    finally:
        await listener.close()


async def test_a_full_mode_stream_gets_the_whole_queue_on_every_change(
    redis_api: Redis, hub: EventHub
) -> None:
    for n in range(3):
        await domain.add_item(redis_api, track(n), f"u{n}@example.com")
    await caught_up(hub, redis_api, timeout_s=10)
    bot = Client(hub, mode="full")
    try:
        await bot.read_until_idle()
        await domain.add_item(redis_api, track(9), "bot@example.com")
        await bot.read_until_idle()
        kinds = [e["event"] for e in bot.events]
        assert kinds == ["queue_update", "now_playing", "queue_update"]
        assert len(json.loads(bot.events[-1]["data"])["queue"]) == 4
    finally:
        await bot.close()


async def test_a_replay_of_2000_missed_events_costs_at_most_one_snapshot(
    redis_api: Redis, hub: EventHub
) -> None:
    for n in range(100):
        await domain.add_item(redis_api, track(n), f"user{n % 9}@example.com", rules=RULES)
    await caught_up(hub, redis_api, timeout_s=10)
    leaver = Client(hub)
    try:
        await leaver.read_until_idle()
    finally:
        await leaver.close()
    ids = await domain.get_queue_ids(redis_api)
    rng = random.Random(5)
    for n in range(2000):
        roll = rng.random()
        if roll < 0.5:
            await publish(redis_api, "player_position", {"pos_ms": n}, maxlen=5000)
        elif roll < 0.8:
            try:
                await domain.vote(
                    redis_api, rng.choice(ids), f"v{n}@example.com", True, rules=RULES
                )
            except domain.DomainError:
                await publish(redis_api, "queue_update", None, maxlen=5000)
        elif roll < 0.9:
            await publish(redis_api, "credits", {"user": f"u{n % 7}", "free": 1}, maxlen=5000)
        else:
            await publish(redis_api, "airhorn", {"name": "siren", "user": "h"}, maxlen=5000)
    newest = await caught_up(hub, redis_api, timeout_s=10)
    assert len(await redis_api.xrange(keys.EVENTS, min=f"({leaver.last_id}")) >= 2000
    fresh, resumed = Client(hub), Client(hub, leaver.last_id)
    try:
        await fresh.read_until_idle()
        await resumed.read_until_idle()
    finally:
        await fresh.close()
        await resumed.close()
    assert resumed.bytes <= fresh.bytes, (resumed.bytes, fresh.bytes)
    assert resumed.view == fresh.view == await _current(redis_api)
    assert resumed.last_id is not None and resumed.last_id <= newest
