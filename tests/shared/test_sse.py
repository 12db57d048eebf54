"""SSE at the service edge (shared/sse.py): the retry line, frames, pings and Last-Event-ID."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from starlette.requests import Request

from shared.eventhub import EventHub
from shared.sse import event_stream, frame
from tests.shared.event_helpers import next_events, request_for


async def test_event_stream_idle_sends_ping(redis_api: Redis, hub: EventHub) -> None:
    stream = event_stream(hub, request_for(), ping_interval_s=0.05)
    try:
        await anext(stream)
        await next_events(stream, 2)
        async with asyncio.timeout(2):
            assert await anext(stream) == b": ping\n\n"
    finally:
        await stream.aclose()


@pytest.mark.parametrize(
    "header",
    ["garbage", "1-2-3", "-1-0", "9" * 30 + "-0", "ü", "18446744073709551616-0", "0-" + "9" * 20],
)
async def test_event_stream_bad_last_event_id_treated_as_fresh(
    redis_api: Redis, hub: EventHub, header: str
) -> None:
    headers = [(b"last-event-id", header.encode("utf-8"))]
    request = Request({"type": "http", "method": "GET", "path": "/events", "headers": headers})
    stream = event_stream(hub, request)
    try:
        await anext(stream)
        events = await next_events(stream, 2)
        assert [e["event"] for e in events] == ["queue_update", "now_playing"]
    finally:
        await stream.aclose()


def test_frame_lines() -> None:
    assert frame("1-2", "airhorn", '{"a":1}') == b'id: 1-2\nevent: airhorn\ndata: {"a":1}\n\n'
    assert frame(None, "now_playing", "") == b"event: now_playing\ndata: {}\n\n"
    assert frame(None, "room", "a\nb") == b"event: room\ndata: a\ndata: b\n\n"
