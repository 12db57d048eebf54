from __future__ import annotations

import json

from redis.asyncio import Redis

from shared import keys
from shared.queue import queue as q
from shared.queue.models import QueueView
from shared.spotify.catalog import Track


def track(n: int | str, duration_ms: int = 200_000) -> Track:
    ident = str(n).rjust(22, "0")[:22]
    return Track(
        uri=f"spotify:track:{ident}", title=f"Song {n}", artist="Band", duration_ms=duration_ms
    )


async def set_playing(
    redis: Redis,
    item_id: str = "np1",
    *,
    user: str = "dj@example.com",
    paused: bool = False,
    pos_ms: int = 0,
    duration_ms: int = 200_000,
    anchor_ms: int | None = None,
) -> None:
    sec, usec = await redis.time()
    now_ms = int(sec) * 1000 + int(usec) // 1000
    record = {
        "item": {
            "id": item_id,
            "uri": "spotify:track:" + "1" * 22,
            "title": "Now",
            "artist": "Band",
            "duration_ms": duration_ms,
            "img": "",
            "big_img": "",
            "user": user,
            "votes": 0,
            "jams": [],
            "comments": [],
            "auto": False,
            "added_at": now_ms / 1000,
        },
        "started_at": now_ms / 1000,
        "pos_ms": pos_ms,
        "anchor_ms": now_ms if anchor_ms is None else anchor_ms,
        "paused": paused,
    }
    await redis.set(keys.NOW_PLAYING, json.dumps(record))


async def event_types(redis: Redis) -> list[str]:
    return [fields["type"] for _, fields in await redis.xrange(keys.EVENTS)]


async def queue_view(redis: Redis) -> QueueView:
    """The queue as the services serve it (``read_queue_view``, the one read path), parsed."""
    return QueueView.model_validate_json((await q.read_queue_view(redis))[0].text)
