"""GET /api/queue?offset=&limit=: one page of a long queue, with its total; the unpaged answer
is unchanged."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis

from shared import keys
from shared.queue import queue as domain
from shared.queue.queue import QueueRules
from tests.shared.queue.helpers import track

RULES = QueueRules(max_len=1000)


async def _queue(redis: Redis, n: int) -> list[str]:
    return [
        (await domain.add_item(redis, track(k), f"u{k % 7}@example.com", rules=RULES)).id
        for k in range(n)
    ]


async def test_a_page_is_that_slice_of_the_queue_with_the_total(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    await _queue(redis_api, 120)
    whole = (await api_client.get("/api/queue")).json()
    assert set(whole) == {"queue", "preview"} and len(whole["queue"]) == 120
    r = await api_client.get("/api/queue", params={"offset": 100, "limit": 50})
    assert r.status_code == 200
    page = r.json()
    assert page["queue"] == whole["queue"][100:]
    assert (page["total"], page["offset"], page["limit"]) == (120, 100, 50)
    first = (await api_client.get("/api/queue", params={"limit": 10})).json()
    assert first["queue"] == whole["queue"][:10] and first["offset"] == 0
    past = (await api_client.get("/api/queue", params={"offset": 500})).json()
    assert past["queue"] == [] and past["total"] == 120


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"offset": "-1"}, "offset"),
        ({"offset": "x"}, "offset"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "1e3"}, "limit"),
        ({"offset": "9999999"}, "offset"),
    ],
)
async def test_bad_page_parameters_are_a_clear_400(
    api_client: httpx.AsyncClient, params: dict[str, str], name: str
) -> None:
    r = await api_client.get("/api/queue", params=params)
    assert r.status_code == 400
    assert name in r.json()["error"]


async def test_a_page_skips_a_damaged_record_and_stays_valid_json(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    ids = await _queue(redis_api, 5)
    await redis_api.set(keys.item(ids[1]), b'{"id":"' + ids[1].encode() + b'","title":\xff')
    page = (await api_client.get("/api/queue", params={"offset": 0, "limit": 3})).json()
    assert [item["id"] for item in page["queue"]] == [ids[0], ids[2], ids[3]]
    assert page["total"] == 4


async def test_a_page_needs_a_token(api_client: httpx.AsyncClient) -> None:
    r = await api_client.get(
        "/api/queue", params={"limit": 5}, headers={"Authorization": "Bearer wrong"}
    )
    assert r.status_code in (401, 403)
    r = await api_client.get("/api/queue", params={"limit": 5}, headers={"Authorization": ""})
    assert r.status_code == 401


async def test_openapi_documents_the_page_parameters(api_client: httpx.AsyncClient) -> None:
    spec = (await api_client.get("/api/openapi.json")).json()
    params = {p["name"] for p in spec["paths"]["/api/queue"]["get"]["parameters"]}
    assert {"offset", "limit"} <= params
