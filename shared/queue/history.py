"""Play history reads (``andre:history`` is written by the player only), newest first."""

from __future__ import annotations

from pydantic import ValidationError
from redis.asyncio import Redis

from shared import keys
from shared.queue.models import Play

MAX_HISTORY_LIMIT = 200
DEFAULT_HISTORY_LIMIT = 20


async def get_history(redis: Redis, limit: int = DEFAULT_HISTORY_LIMIT) -> list[Play]:
    limit = max(1, min(int(limit), MAX_HISTORY_LIMIT))
    rows = await redis.lrange(keys.HISTORY, 0, limit - 1)
    plays = []
    for row in rows:
        try:
            plays.append(Play.model_validate_json(row))
        except ValidationError:
            continue  # one bad record must not hide the rest
    return plays
