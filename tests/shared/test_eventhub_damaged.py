from __future__ import annotations

import json
import logging

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.eventhub import EventHub
from shared.queue import queue as domain
from shared.queue.events import publish
from shared.sse import event_stream
from tests.shared.event_helpers import next_events, request_for
from tests.shared.queue.helpers import set_playing, track


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


async def test_event_stream_snapshot_damaged_records_valid_json(
    redis_api: Redis, hub: EventHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    good = await domain.add_item(redis_api, track(1), "a@example.com")
    bad = await domain.add_item(redis_api, track(2), "b@example.com")
    await redis_api.set(keys.item(bad.id), b'{"id": "' + bad.id.encode() + b'", NaN')
    await set_playing(redis_api)
    await redis_api.set(keys.NOW_PLAYING, b"\xff{}")
    for _ in range(2):
        stream = event_stream(hub, request_for())
        try:
            await anext(stream)
            queue, playing = await next_events(stream, 2)
        finally:
            await stream.aclose()
        assert [i["id"] for i in _strict(queue["data"])["queue"]] == [good.id]  # type: ignore[index]
        assert _strict(playing["data"]) == {}
    reports = [r.getMessage() for r in caplog.records if r.name == "shared.queue.records"]
    assert len(reports) == 2


async def test_event_stream_replay_damaged_entry_skipped(
    redis_api: Redis, hub: EventHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
    first_id = (await redis_api.xrange(keys.EVENTS))[-1][0]
    bad_id = await redis_api.xadd(keys.EVENTS, {"type": "airhorn", "data": '{"name": '})
    await publish(redis_api, "airhorn", {"name": "foghorn", "user": "u@example.com"})
    stream = event_stream(hub, request_for(first_id))
    try:
        await anext(stream)
        (replayed,) = await next_events(stream, 1)
    finally:
        await stream.aclose()
    assert _strict(replayed["data"]) == {"name": "foghorn", "user": "u@example.com"}
    reports = [r.getMessage() for r in caplog.records if r.name == "shared.queue.records"]
    assert reports == [f"damaged event record {bad_id} skipped: data is not a JSON object"]


async def test_event_hub_entry_not_utf8_skipped_live_and_replayed(
    redis_api: Redis, hub: EventHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
    first_id = (await redis_api.xrange(keys.EVENTS))[-1][0]
    stream = event_stream(hub, request_for(first_id))
    try:
        await anext(stream)
        await redis_api.xadd(keys.EVENTS, {"type": "airhorn", "data": b'{"name": "\xff"}'})
        await publish(redis_api, "airhorn", {"name": "foghorn", "user": "u@example.com"})
        (live,) = await next_events(stream, 1)
    finally:
        await stream.aclose()
    assert _strict(live["data"]) == {"name": "foghorn", "user": "u@example.com"}
    replay = event_stream(hub, request_for(first_id))
    try:
        await anext(replay)
        (replayed,) = await next_events(replay, 1)
    finally:
        await replay.aclose()
    assert replayed["id"] == live["id"]
    reports = [r.getMessage() for r in caplog.records if r.name == "shared.queue.records"]
    assert len(reports) == 1 and "damaged event record" in reports[0]
