"""Playback control shared by api and web: skip request, pause, resume and the now-playing view.

The player owns ``andre:now_playing``; these change only its clock fields (contracts.md) and wake
the player through ``andre:player:wake`` so it reacts at once. With nothing playing they are
no-ops: a stale skip or pause must not hit the next song.
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared import keys
from shared.queue import scripts
from shared.queue.now_playing import announce, get_now_playing
from shared.queue.queue import DEFAULT_RULES, QueueRules

__all__ = ["get_now_playing", "pause", "request_skip", "resume"]


async def request_skip(redis: Redis, *, rules: QueueRules = DEFAULT_RULES) -> bool:
    """Ask the player to end the current song; False when nothing is playing."""
    result = await scripts.SKIP(
        redis,
        [keys.NOW_PLAYING, keys.SKIP, keys.PLAYER_WAKE, keys.EVENTS],
        [rules.skip_ttl_s],
        raw=True,
    )
    if result[0] != b"ok":
        return False
    await announce(redis, result[1], int(result[2]), rules.events_max_len)
    return True


async def _set_paused(redis: Redis, paused: bool, rules: QueueRules) -> bool:
    result = await scripts.PAUSE(
        redis,
        [keys.NOW_PLAYING, keys.PAUSED, keys.PLAYER_WAKE],
        ["1" if paused else "0"],
        raw=True,
    )
    if result[0] != b"ok":
        return False
    await announce(redis, result[1], int(result[2]), rules.events_max_len)
    return True


async def pause(redis: Redis, *, rules: QueueRules = DEFAULT_RULES) -> bool:
    """Freeze the position; True when this call changed the state."""
    return await _set_paused(redis, True, rules)


async def resume(redis: Redis, *, rules: QueueRules = DEFAULT_RULES) -> bool:
    """Run the clock again from the frozen position; True when this call changed the state."""
    return await _set_paused(redis, False, rules)
