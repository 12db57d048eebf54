from __future__ import annotations

import json
import logging

import httpx
import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue import queue as domain
from shared.spotify.demo import DemoCatalog
from tests.services.api.conftest import AUTH
from tests.shared.queue.helpers import set_playing, track

DAMAGED = "This song's record is damaged; it was skipped"


def _strict(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


async def _queue_with_damaged_second(redis: Redis) -> tuple[str, str, str]:
    a, b, c = [(await domain.add_item(redis, track(n), f"u{n}@example.com")).id for n in (1, 2, 3)]
    await redis.set(keys.item(b), b'{"id":"' + b.encode() + b'","title":\xff')
    return a, b, c


@pytest.mark.parametrize("path", ["/api/queue", "/api/queue?fresh=1"])
async def test_list_queue_damaged_item_skipped_valid_json(
    api_client: httpx.AsyncClient,
    redis_api: Redis,
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="shared.queue.records")
    a, b, c = await _queue_with_damaged_second(redis_api)
    for _ in range(3):
        r = await api_client.get(path)
        assert r.status_code == 200
        body = _strict(r.text)
        assert body == {"queue": body["queue"], "preview": None}  # type: ignore[index]
        assert [i["id"] for i in body["queue"]] == [a, c]  # type: ignore[index]
    damaged = [rec for rec in caplog.records if "damaged queue item record" in rec.getMessage()]
    assert len(damaged) == 1 and b in damaged[0].getMessage()


async def test_vote_track_damaged_item_409_and_retry_same(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    _, b, _ = await _queue_with_damaged_second(redis_api)
    for _ in range(2):
        r = await api_client.post("/api/queue/vote", json={"id": b, "up": True})
        assert r.status_code == 409 and r.json() == {"error": DAMAGED}
    assert await redis_api.scard(keys.item_votes(b)) == 0


async def test_jam_track_damaged_item_409(api_client: httpx.AsyncClient, redis_api: Redis) -> None:
    _, b, _ = await _queue_with_damaged_second(redis_api)
    r = await api_client.post("/api/queue/jam", json={"id": b})
    assert r.status_code == 409 and r.json() == {"error": DAMAGED}


async def test_show_playing_damaged_record_reads_idle(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    await set_playing(redis_api)
    await redis_api.set(keys.NOW_PLAYING, b'{"item": {"title": "\xff"}}')
    r = await api_client.get("/api/playing")
    assert r.status_code == 200 and r.json() == {}


async def test_list_history_damaged_entries_skipped(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    good = {
        "id": "1",
        "uri": "spotify:track:" + "1" * 22,
        "title": "Song",
        "artist": "Band",
        "duration_ms": 1000,
        "user": "a@example.com",
        "added_at": 1.0,
        "ended_at": 2.0,
    }
    bad_number = json.dumps({**good, "ended_at": 1}).replace("1}", "NaN}")
    await redis_api.rpush(keys.HISTORY, b"\xff", bad_number, "[]", json.dumps(good))
    r = await api_client.get("/api/history")
    assert r.status_code == 200
    assert [p["id"] for p in _strict(r.text)["plays"]] == ["1"]  # type: ignore[index]


async def test_stream_events_snapshot_damaged_item_skipped(live_api: str, redis_api: Redis) -> None:
    a, _, c = await _queue_with_damaged_second(redis_api)
    async with httpx.AsyncClient(base_url=live_api, headers=AUTH, timeout=10) as client:
        async with client.stream("GET", "/api/events") as r:
            assert r.status_code == 200
            data = None
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    data = line.removeprefix("data: ")
                    break
    assert data is not None
    assert [i["id"] for i in _strict(data)["queue"]] == [a, c]  # type: ignore[index]


async def test_add_track_damaged_id_counter_409(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    await redis_api.set(keys.QUEUE_SEQ, "x")
    r = await api_client.post("/api/queue/add", json={"uri": DemoCatalog().tracks[0].uri})
    assert r.status_code == 409
    assert r.json() == {"error": "The queue's id counter is damaged; nothing was added"}
