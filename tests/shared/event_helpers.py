"""Helpers of the event tests: an SSE request, frame parsing, and a started hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from starlette.requests import Request

from shared import keys, sse
from shared.eventhub import EventHub


def new_hub(redis: Redis, **kwargs: int) -> EventHub:
    return EventHub(redis, encode=sse.frame, block_ms=200, **kwargs)


def request_for(last_event_id: str | None = None) -> Request:
    headers = [] if last_event_id is None else [(b"last-event-id", last_event_id.encode())]
    return Request({"type": "http", "method": "GET", "path": "/events", "headers": headers})


def parse_frames(chunk: bytes) -> list[dict[str, str]]:
    events = []
    for block in chunk.decode().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            fields[name] = value
        if "event" in fields:
            events.append(fields)
    return events


async def next_events(stream: AsyncIterator[bytes], count: int) -> list[dict[str, str]]:
    got: list[dict[str, str]] = []
    async with asyncio.timeout(5):
        while len(got) < count:
            got.extend(parse_frames(await anext(stream)))
    return got


async def caught_up(hub: EventHub, redis: Redis, timeout_s: float = 5) -> str:
    """Wait until the hub has read the stream's newest entry (its snapshot covers it)."""
    newest = (await redis.xrevrange(keys.EVENTS, count=1))[0][0]
    async with asyncio.timeout(timeout_s):
        while hub.last_id != newest:
            await asyncio.sleep(0.01)
    return str(newest)
