from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from shared import keys
from shared.queue.queue import add_item
from shared.spotify.catalog import Track


def track(n: int, duration_ms: int = 180_000) -> Track:
    ident = f"p{n}".rjust(22, "0")
    return Track(
        uri=f"spotify:track:{ident}", title=f"Song {n}", artist="Band", duration_ms=duration_ms
    )


async def add(redis: Redis, n: int, user: str = "ann@example.com", **kw: Any) -> str:
    item = await add_item(redis, track(n, **kw), user)
    return item.id


async def now_playing(redis: Redis) -> dict[str, Any] | None:
    raw = await redis.get(keys.NOW_PLAYING)
    return json.loads(raw) if raw else None


async def set_paused(redis: Redis, paused: bool, now_ms: int) -> None:
    """What the queue domain's pause/resume does, on the test's fake clock."""
    np = await now_playing(redis)
    assert np is not None
    if paused:
        np["pos_ms"] = min(np["pos_ms"] + now_ms - np["anchor_ms"], np["item"]["duration_ms"])
        await redis.set(keys.PAUSED, "1")
    else:
        await redis.delete(keys.PAUSED)
    np["paused"] = paused
    np["anchor_ms"] = now_ms
    await redis.set(keys.NOW_PLAYING, json.dumps(np))
    await redis.lpush(keys.PLAYER_WAKE, "pause" if paused else "resume")


async def events(redis: Redis, etype: str | None = None) -> list[tuple[str, Any]]:
    out = []
    for _, fields in await redis.xrange(keys.EVENTS):
        data = json.loads(fields["data"]) if fields["data"] else None
        if etype is None or fields["type"] == etype:
            out.append((fields["type"], data))
    return out


async def history(redis: Redis) -> list[dict[str, Any]]:
    return [json.loads(r) for r in await redis.lrange(keys.HISTORY, 0, -1)]
