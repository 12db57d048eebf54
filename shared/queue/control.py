"""Playback control shared by api and web: skip request, pause, resume and the now-playing view.

The player owns ``andre:now_playing``; these change only its clock fields (contracts.md) and wake
the player through ``andre:player:wake`` so it reacts at once. With nothing playing they are
no-ops: a stale skip or pause must not hit the next song.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from shared import keys
from shared.queue import lua, records
from shared.queue.models import NowPlaying
from shared.queue.queue import DEFAULT_RULES, QueueRules


async def request_skip(redis: Redis, *, rules: QueueRules = DEFAULT_RULES) -> bool:
    """Ask the player to end the current song; False when nothing is playing."""
    result = await lua.SKIP_SCRIPT(
        redis,
        [keys.NOW_PLAYING, keys.SKIP, keys.PLAYER_WAKE, keys.EVENTS],
        [rules.events_max_len, rules.skip_ttl_s],
    )
    return bool(result[0] == "ok")


async def _set_paused(redis: Redis, paused: bool, rules: QueueRules) -> bool:
    result = await lua.PAUSE_SCRIPT(
        redis,
        [keys.NOW_PLAYING, keys.PAUSED, keys.PLAYER_WAKE, keys.EVENTS],
        [rules.events_max_len, "1" if paused else "0"],
    )
    return bool(result[0] == "ok")


async def pause(redis: Redis, *, rules: QueueRules = DEFAULT_RULES) -> bool:
    """Freeze the position; True when this call changed the state."""
    return await _set_paused(redis, True, rules)


async def resume(redis: Redis, *, rules: QueueRules = DEFAULT_RULES) -> bool:
    """Run the clock again from the frozen position; True when this call changed the state."""
    return await _set_paused(redis, False, rules)


def now_playing_view(record: dict[str, Any], now_ms: int) -> NowPlaying:
    """The NowPlaying view of an ``andre:now_playing`` record at Redis time ``now_ms``."""
    item = record["item"]
    duration = int(item.get("duration_ms") or 0)
    pos = int(record.get("pos_ms") or 0)
    paused = bool(record.get("paused"))
    if not paused:
        pos += now_ms - int(record.get("anchor_ms") or now_ms)
    return NowPlaying.model_validate(
        {
            **item,
            "pos_ms": max(0, min(pos, duration)),
            "paused": paused,
            "started_at": float(record.get("started_at") or 0),
            "server_time": now_ms / 1000,
        }
    )


async def get_now_playing(redis: Redis) -> NowPlaying | None:
    """The playing song with its position on the Redis clock (one round trip), None when idle.

    A damaged record reads as idle (reported once), never as a crash; the player replaces it.
    """
    async with redis.pipeline(transaction=False) as pipe:
        pipe.execute_command("GET", keys.NOW_PLAYING, NEVER_DECODE=True)
        pipe.time()
        raw, (sec, usec) = await pipe.execute()
    if not raw:
        return None
    try:
        record = records.check_now_playing(raw)
    except records.UnreadableRecord as exc:
        records.report_damaged("now_playing", records.raw_digest(raw), str(exc))
        return None
    return now_playing_view(record, int(sec) * 1000 + int(usec) // 1000)


async def is_paused(redis: Redis) -> bool:
    return bool(await redis.exists(keys.PAUSED))
