from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared import keys
from tests.services.web.conftest import SignedIn
from tests.services.web.test_actions import add
from tests.support.redis_server import RedisServer

DAMAGED = "This song's record is damaged; it was skipped"


@pytest.fixture
async def redis_web(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-web")
    yield client
    await client.aclose()


async def _damaged_second(who: SignedIn, redis: Redis) -> tuple[str, str, str]:
    a, b, c = [await add(who, n) for n in range(3)]
    await redis.set(keys.item(b), '{"id": "' + b + '", "votes": [')
    return a, b, c


async def test_list_queue_damaged_item_skipped_reported_once(
    signed_in: SignedIn, redis_web: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    a, b, c = await _damaged_second(signed_in, redis_web)
    for _ in range(3):
        resp = await signed_in.client.get("/queue")
        assert resp.status_code == 200
        assert [i["id"] for i in json.loads(resp.text)["queue"]] == [a, c]
    damaged = [r for r in caplog.records if "damaged queue item record" in r.getMessage()]
    assert len(damaged) == 1


@pytest.mark.parametrize(
    ("path", "extra"),
    [("/queue/vote", {"up": False}), ("/queue/jam", {}), ("/queue/comment", {"text": "hi"})],
)
async def test_action_on_damaged_item_409_records_nothing(
    signed_in: SignedIn, redis_web: Redis, path: str, extra: dict[str, object]
) -> None:
    _, b, _ = await _damaged_second(signed_in, redis_web)
    raw = await redis_web.get(keys.item(b))
    events = await redis_web.xlen(keys.EVENTS)
    for _ in range(2):
        resp = await signed_in.client.post(path, json={"id": b, **extra})
        assert resp.status_code == 409 and resp.json() == {"error": DAMAGED}
    assert await redis_web.get(keys.item(b)) == raw
    assert await redis_web.scard(keys.item_votes(b)) == 0
    assert await redis_web.xlen(keys.EVENTS) == events


async def test_action_on_damaged_item_remove_clears_it(
    signed_in: SignedIn, redis_web: Redis
) -> None:
    a, b, c = await _damaged_second(signed_in, redis_web)
    assert (
        await signed_in.client.post("/queue/vote", json={"id": b, "up": False})
    ).status_code == 409
    resp = await signed_in.client.post("/queue/remove", json={"id": b})
    assert resp.status_code == 200
    assert not await redis_web.exists(keys.item(b))
    assert [i["id"] for i in (await signed_in.client.get("/queue")).json()["queue"]] == [a, c]
