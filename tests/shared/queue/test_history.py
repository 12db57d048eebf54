from __future__ import annotations

from redis.asyncio import Redis

from shared import keys
from shared.queue.history import get_history
from shared.queue.models import Play


def _play(n: int) -> str:
    return Play(
        id=str(n), uri="spotify:track:" + "2" * 22, title=f"t{n}", artist="a",
        duration_ms=1000, user="u@example.com", added_at=1.0, ended_at=float(n),
    ).model_dump_json()  # fmt: skip


async def test_get_history_newest_first_limited_skips_bad(redis_api: Redis) -> None:
    await redis_api.rpush(keys.HISTORY, _play(3), "garbage", _play(2), _play(1))
    plays = await get_history(redis_api, 2)
    assert [p.title for p in plays] == ["t3"]
    assert [p.title for p in await get_history(redis_api, 10)] == ["t3", "t2", "t1"]
    assert await get_history(redis_api, 0) != []
