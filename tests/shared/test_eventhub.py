"""The event hub (shared/eventhub.py): snapshot, resume and bounded replay, fan-out and drops,
seen through the SSE stream a client reads (shared/sse.py)."""

from __future__ import annotations

import asyncio
import json
import tracemalloc

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.eventhub import EventHub, follow
from shared.queue import queue as domain
from shared.queue.events import publish
from shared.queue.queue import QueueRules
from shared.sse import event_stream
from tests.shared.event_helpers import caught_up, new_hub, next_events, parse_frames, request_for
from tests.shared.queue.helpers import track


async def test_event_stream_fresh_client_gets_snapshot_then_live(
    redis_api: Redis, hub: EventHub
) -> None:
    for n in range(2, 6):
        await domain.add_item(redis_api, track(n), f"u{n}@example.com")
    await caught_up(hub, redis_api)
    stream = event_stream(hub, request_for())
    try:
        assert await anext(stream) == b"retry: 2000\n\n"
        snapshot = await next_events(stream, 2)
        assert [e["event"] for e in snapshot] == ["queue_update", "now_playing"]
        view = json.loads(snapshot[0]["data"])
        assert set(view) == {"version", "queue", "preview"} and len(view["queue"]) == 4
        assert json.loads(snapshot[1]["data"]) == {}
        # The hub adopted the snapshot this stream read (nobody followed it before): changes
        # are deltas from it.
        item = await domain.add_item(redis_api, track(1), "a@example.com")
        live = await next_events(stream, 1)
        assert live[0]["event"] == "queue_delta" and live[0]["id"]
        delta = json.loads(live[0]["data"])
        assert delta["base"] == view["version"]
        assert [i["id"] for i in delta["items"]] == [item.id]
        assert len(delta["moves"]) == 1 and delta["moves"][0][0] == item.id
        assert delta["removed"] == []
    finally:
        await stream.aclose()
    assert hub.subscriber_count == 0


async def test_event_stream_resume_replays_everything_missed(
    redis_api: Redis, hub: EventHub
) -> None:
    await domain.add_item(redis_api, track(1), "a@example.com")
    first_id = (await redis_api.xrange(keys.EVENTS))[-1][0]
    for n in range(2, 6):
        await domain.add_item(redis_api, track(n), "a@example.com")
    await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
    missed = [e[0] for e in await redis_api.xrange(keys.EVENTS, min=f"({first_id}")]
    await caught_up(hub, redis_api)
    stream = event_stream(hub, request_for(first_id))
    try:
        await anext(stream)
        replayed = await next_events(stream, 2)
        # The four queue_updates become one current queue, at the last of them; the airhorn
        # (blown just now) follows with the newest id.
        assert [e["event"] for e in replayed] == ["queue_update", "airhorn"]
        assert replayed[0]["id"] == missed[-2] and replayed[1]["id"] == missed[-1]
        assert len(json.loads(replayed[0]["data"])["queue"]) == 5
        await domain.add_item(redis_api, track(9), "b@example.com")
        live = await next_events(stream, 1)
        assert live[0]["id"] > missed[-1]
    finally:
        await stream.aclose()


async def test_event_stream_trimmed_resume_sends_snapshot_first(
    redis_api: Redis, hub: EventHub
) -> None:
    await domain.add_item(redis_api, track(1), "a@example.com")
    newest = await caught_up(hub, redis_api)
    stream = event_stream(hub, request_for("1-0"))
    try:
        await anext(stream)
        events = await next_events(stream, 2)
        # What was missed is partly trimmed away: the current state, at the tail's id.
        assert [e["event"] for e in events] == ["queue_update", "now_playing"]
        assert events[0]["id"] == events[1]["id"] == newest
        assert len(json.loads(events[0]["data"])["queue"]) == 1
    finally:
        await stream.aclose()


async def test_event_hub_slow_subscriber_dropped_others_served(redis_api: Redis) -> None:
    hub = new_hub(redis_api, subscriber_queue_size=2)
    await hub.start()
    try:
        slow = hub.subscribe()
        fast = hub.subscribe()
        got: list[bytes] = []

        async def drain() -> None:
            while len(got) < 5:
                await fast.wakeup.wait()
                fast.wakeup.clear()
                while not fast.queue.empty():
                    got.append(fast.queue.get_nowait()[1])

        reader = asyncio.create_task(drain())
        for n in range(5):
            await publish(redis_api, "airhorn", {"name": "siren", "user": f"u{n}"})
            await asyncio.sleep(0.05)
        async with asyncio.timeout(5):
            await reader
        assert slow.dropped and not fast.dropped
        assert hub.subscriber_count == 1
        assert all(b"event: airhorn" in frame for frame in got)
    finally:
        await hub.stop()


@pytest.mark.parametrize(
    "header", ["18446744073709551615-18446744073709551615", "9999999999999-0", "1-0"]
)
async def test_event_stream_last_event_id_ahead_of_stream_starts_fresh_and_goes_live(
    redis_api: Redis, hub: EventHub, header: str
) -> None:
    if header != "1-0":
        await publish(redis_api, "airhorn", {"name": "siren", "user": "old@example.com"})
    stream = event_stream(hub, request_for(header))
    try:
        await anext(stream)
        events = await next_events(stream, 2)
        assert [e["event"] for e in events] == ["queue_update", "now_playing"]
        await publish(redis_api, "airhorn", {"name": "siren", "user": "new@example.com"})
        live = await next_events(stream, 1)
        assert live[0]["event"] == "airhorn" and "new@example.com" in live[0]["data"]
    finally:
        await stream.aclose()


async def test_event_stream_resume_ending_on_queue_update_carries_newest_id(
    redis_api: Redis, hub: EventHub
) -> None:
    await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
    first_id = (await redis_api.xrange(keys.EVENTS))[-1][0]
    await domain.add_item(redis_api, track(1), "a@example.com")
    await publish(redis_api, "airhorn", {"name": "horn", "user": "u@example.com"})
    await domain.add_item(redis_api, track(2), "a@example.com")
    newest = await caught_up(hub, redis_api)
    stream = event_stream(hub, request_for(first_id))
    try:
        await anext(stream)
        replayed = await next_events(stream, 2)
        assert [e["event"] for e in replayed] == ["airhorn", "queue_update"]
        assert replayed[1]["id"] == newest
        assert len(json.loads(replayed[1]["data"])["queue"]) == 2
    finally:
        await stream.aclose()


async def test_event_stream_resume_over_big_queue_bounded_in_bytes_and_memory(
    redis_api: Redis, hub: EventHub
) -> None:
    rules = QueueRules(max_len=1000, events_max_len=5000)
    first_id = await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
    for n in range(1000):
        await domain.add_item(redis_api, track(n), f"user{n % 7}@example.com", rules=rules)
    for _ in range(1000):
        await publish(redis_api, "queue_update", None, maxlen=5000)
    assert await redis_api.xlen(keys.EVENTS) >= 2001
    queue_bytes = len(await hub.queue_reader.get_json())
    # One copy of the queue plus small change, however many queue_update entries are replayed
    # (today's main sent one copy per entry: ~2,000 x the queue).
    bytes_bound = 2 * queue_bytes + 64 * 1024
    memory_bound = 20 * 1024 * 1024
    stream = event_stream(hub, request_for(first_id), ping_interval_s=0.2)
    sent = 0
    tracemalloc.start()
    try:
        async with asyncio.timeout(30):
            async for chunk in stream:
                if chunk == b": ping\n\n":
                    break  # the replay is over and the stream is live
                sent += len(chunk)
                if sent > bytes_bound:
                    break
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await stream.aclose()
    assert queue_bytes > 200_000
    assert sent <= bytes_bound, f"replay sent {sent} bytes for a {queue_bytes}-byte queue"
    assert peak <= memory_bound, f"replay held {peak} bytes at its peak"


async def test_event_stream_resume_past_one_snapshot_sends_the_snapshot_then_live(
    redis_api: Redis, hub: EventHub
) -> None:
    first_id = await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
    big_user = "u" * 20_000 + "@example.com"
    for _ in range(150):  # ~3 MB of airhorn frames, far more than the (empty) queue's snapshot
        await publish(redis_api, "airhorn", {"name": "siren", "user": big_user}, maxlen=5000)
    newest = await caught_up(hub, redis_api)
    stream = event_stream(hub, request_for(first_id), ping_interval_s=0.2)
    sent = 0
    events: list[dict[str, str]] = []
    try:
        async with asyncio.timeout(10):
            async for chunk in stream:
                if chunk == b": ping\n\n":
                    break
                sent += len(chunk)
                events.extend(parse_frames(chunk))
        assert [e["event"] for e in events] == ["queue_update", "now_playing"]
        assert events[-1]["id"] == newest
        assert sent < 1024  # one snapshot of an empty queue, not the horns
        await publish(redis_api, "airhorn", {"name": "horn", "user": "new@example.com"})
        live = await next_events(stream, 1)
        assert live[0]["event"] == "airhorn" and "new@example.com" in live[0]["data"]
    finally:
        await stream.aclose()


async def test_follow_uses_the_services_encoding_and_reports_idle(redis_api: Redis) -> None:
    # The hub knows no wire format: it sends what its service's encode made, once per event.
    calls: list[str] = []

    def encode(event_id: str | None, event_type: str, data: str) -> bytes:
        calls.append(event_type)
        return f"{event_type}|{data}".encode()

    hub = EventHub(redis_api, encode=encode, block_ms=200)
    await hub.start()
    frames = follow(hub, None, newest=await hub.newest_id(), idle_s=0.05)
    others = [hub.subscribe() for _ in range(3)]
    try:
        version = hub.queue.version if hub.queue else ""
        assert (
            await anext(frames)
            == b'queue_update|{"version":"' + version.encode() + b'","queue":[],"preview":null}'
        )
        assert await anext(frames) == b"now_playing|{}"
        async with asyncio.timeout(2):
            assert await anext(frames) is None  # idle: the caller sends its keep-alive
        calls.clear()
        await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
        async with asyncio.timeout(5):
            got = await anext(frames)
            while got is None:
                got = await anext(frames)
        assert got == b'airhorn|{"name":"siren","user":"u@example.com"}'
        assert calls == ["airhorn"]  # one encoding shared by all four subscribers
        assert all(sub.queue.qsize() == 1 for sub in others)
    finally:
        await frames.aclose()
        await hub.stop()


async def test_hub_as_context_starts_and_stops_ending_its_streams(redis_api: Redis) -> None:
    async with new_hub(redis_api) as hub:
        sub = hub.subscribe()
        await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
        async with asyncio.timeout(5):
            await sub.wakeup.wait()
        assert not sub.dropped
    assert sub.dropped and hub.subscriber_count == 0
