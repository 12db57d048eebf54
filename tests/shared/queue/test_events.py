"""The domain's events (shared/queue/events.py): typed, bounded XADDs."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue.events import publish


async def test_publish_appends_typed_event(redis_api: Redis) -> None:
    await publish(redis_api, "airhorn", {"name": "siren", "user": "u@example.com"})
    await publish(redis_api, "queue_update", {"ignored": True})
    entries = await redis_api.xrange(keys.EVENTS)
    assert [e[1]["type"] for e in entries] == ["airhorn", "queue_update"]
    assert json.loads(entries[0][1]["data"]) == {"name": "siren", "user": "u@example.com"}
    assert entries[1][1]["data"] == ""
    with pytest.raises(ValueError):
        await publish(redis_api, "bogus", {})
