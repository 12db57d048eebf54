"""Play history reads (``andre:history`` is written by the player only), newest first."""

from __future__ import annotations

from redis.asyncio import Redis

from shared import keys
from shared.queue import records
from shared.queue.models import Play

MAX_HISTORY_LIMIT = 200
DEFAULT_HISTORY_LIMIT = 20


def _play(raw: bytes) -> Play | None:
    try:
        data = records.loads(raw)
        why = records.check_fields(data, records.PLAY_FIELDS)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        why = f"not JSON ({type(exc).__name__})"
    if why is not None:
        # Entries have no key of their own: the value's digest names it in the log.
        records.report_damaged("history", records.raw_digest(raw), why)
        return None
    return Play.model_validate(data)


async def get_history(redis: Redis, limit: int = DEFAULT_HISTORY_LIMIT) -> list[Play]:
    limit = max(1, min(int(limit), MAX_HISTORY_LIMIT))
    # Undecoded: one bad byte in one entry must not fail the whole read.
    rows = await records.execute(redis, "LRANGE", keys.HISTORY, 0, limit - 1, raw=True)
    # One bad record must not hide the rest.
    return [play for play in map(_play, rows) if play is not None]
