"""Airhorns: paid ones are capped per user and window; free ones spend credits earned by jams.

A user earns one free credit (up to ``airhorn_free_max``) the first time a song they queued is
jammed by ``airhorn_free_jams`` other people (see ``shared.queue.queue.toggle_jam``). A free horn
is not counted against the paid cap. Both need a song playing: the horn is blasted *at* it.
"""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from shared import keys
from shared.queue import records, scripts
from shared.queue.errors import (
    DomainError,
    InvalidInput,
    NoFreeAirhorns,
    NothingPlaying,
    RateLimited,
)
from shared.queue.queue import DEFAULT_RULES, QueueRules

# The sounds the web client ships; anything else is refused rather than echoed to everyone.
AIRHORN_NAMES = ("airhorn", "foghorn", "siren", "rimshot", "sadtrombone", "applause")
DEFAULT_AIRHORN = "airhorn"


def check_name(name: str) -> str:
    if not isinstance(name, str) or name not in AIRHORN_NAMES:
        raise InvalidInput("Unknown airhorn")
    return name


async def _blast(redis: Redis, user: str, name: str, free: bool, rules: QueueRules) -> None:
    who = user.strip()
    if not who:
        raise InvalidInput("No identity")
    result = await scripts.AIRHORN(
        redis,
        [
            keys.AIRHORNS,
            keys.NOW_PLAYING,
            keys.EVENTS,
            keys.rate("airhorn", who.lower()),
            keys.free_horns(who),
        ],
        [
            who,
            check_name(name),
            "1" if free else "0",
            rules.airhorn_max_per_window,
            rules.airhorn_window_s * 1000,
            rules.events_max_len,
            rules.airhorns_kept,
        ],
    )
    status = result[0]
    if status == "ok":
        return
    if status == "idle":
        raise NothingPlaying("Nothing is playing")
    if status == "no_credit":
        raise NoFreeAirhorns("No free airhorns left")
    if status == "rate":
        raise RateLimited.after_ms("airhorns", int(result[1]))
    raise DomainError(f"Unexpected airhorn state: {status}")


async def blast_airhorn(
    redis: Redis, user: str, name: str, *, rules: QueueRules = DEFAULT_RULES
) -> None:
    """A paid airhorn: at most ``airhorn_max_per_window`` per user per window."""
    await _blast(redis, user, name, False, rules)


async def blast_free_airhorn(
    redis: Redis, user: str, name: str = DEFAULT_AIRHORN, *, rules: QueueRules = DEFAULT_RULES
) -> None:
    """Spend one free credit."""
    await _blast(redis, user, name, True, rules)


async def get_free_airhorns(redis: Redis, user: str) -> int:
    key = keys.free_horns(user)
    value = await records.execute(redis, "GET", key, raw=True)
    try:
        return max(0, int(value or 0))
    except ValueError:
        records.report_damaged("airhorn credit", key, "not an integer")
        return 0


async def recent_airhorns(redis: Redis) -> list[dict[str, Any]]:
    """The most recent airhorn records, oldest first (the player logs them with each play)."""
    rows = await redis.lrange(keys.AIRHORNS, 0, -1)
    out = []
    for row in rows:
        try:
            record = json.loads(row)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out
