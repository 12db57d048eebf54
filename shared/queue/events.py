"""The domain's events: their types and ``publish`` (one XADD to the bounded ``andre:events``).

Lua scripts may XADD directly; Python code publishes through ``publish``. Reading the stream and
fanning it out is ``shared.eventhub``; writing it to a browser or bot is ``shared.sse``.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared import keys

# Payloads (DESIGN §4.4, docs/contracts.md "Events"): `queue_update` carries no data (readers
# resolve the current queue), `now_playing` the NowPlaying view or {}, `player_position`
# {src, trackid, pos_ms, server_time}, `airhorn` {name, user}. `credits` ({user, free}: a user's
# free airhorns changed) and `room` (an announcement such as "skipped by ...", see
# shared.queue.moderation) were added by issue 14.
EVENT_TYPES = ("queue_update", "now_playing", "player_position", "airhorn", "credits", "room")


async def publish(redis: Redis | Pipeline, event_type: str, data: Any, maxlen: int = 2_000) -> Any:
    """Append one event (``queue_update`` carries no data: readers resolve the current queue)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    payload = "" if event_type == "queue_update" else json.dumps(data, separators=(",", ":"))
    fields: dict[Any, Any] = {"type": event_type, "data": payload}
    return await redis.xadd(keys.EVENTS, fields, maxlen=maxlen, approximate=True)
