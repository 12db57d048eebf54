import httpx
import pytest
from redis.asyncio import Redis

from shared import keys

URI = "spotify:track:6N12TI1PH4NRpe0Bw4bw8z"


async def _other_uri(client: httpx.AsyncClient) -> str:
    results = (await client.get("/api/search", params={"q": "e"})).json()["results"]
    return str(next(r["uri"] for r in results if r["uri"] != URI))


async def _add(client: httpx.AsyncClient, uri: str = URI) -> str:
    resp = await client.post("/api/queue/add", json={"uri": uri})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def _break(redis: Redis, key: str) -> None:
    # A key of the wrong Redis type, as a hand edit or a bad restore leaves it.
    await redis.delete(key)
    await redis.hset(key, "x", "1")


async def test_add_with_events_key_of_wrong_type_503_and_nothing_written(
    api_client: httpx.AsyncClient, redis_api: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    await _add(api_client)
    seq_before = await redis_api.get(keys.QUEUE_SEQ)
    queue_before = await redis_api.lrange(keys.QUEUE, 0, -1)
    other = await _other_uri(api_client)
    await _break(redis_api, keys.EVENTS)
    resp = await api_client.post("/api/queue/add", json={"uri": other})
    assert resp.status_code == 503
    assert "andre:events" in resp.json()["error"] and "nothing was changed" in resp.json()["error"]
    # On main the item, its owner and the id were written before XADD failed (a 500).
    assert await redis_api.get(keys.QUEUE_SEQ) == seq_before
    assert await redis_api.lrange(keys.QUEUE, 0, -1) == queue_before
    again = await api_client.post("/api/queue/add", json={"uri": other})
    assert again.status_code == 503
    assert caplog.text.count("damaged key record andre:events") == 1  # reported once


async def test_vote_with_events_key_of_wrong_type_503_and_voter_not_recorded(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    item_id = await _add(api_client)
    await _break(redis_api, keys.EVENTS)
    resp = await api_client.post(
        "/api/queue/vote",
        json={"id": item_id, "up": False},
    )
    assert resp.status_code == 503, resp.text
    assert await redis_api.scard(keys.item_votes(item_id)) == 0
    await redis_api.delete(keys.EVENTS)
    # Repaired: the same vote now counts (a recorded voter would answer 409 "already voted").
    assert (
        await api_client.post("/api/queue/vote", json={"id": item_id, "up": False})
    ).status_code == 200


async def test_remove_with_events_key_of_wrong_type_503_and_song_kept(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    item_id = await _add(api_client)
    await _add(api_client, await _other_uri(api_client))
    await _break(redis_api, keys.EVENTS)
    resp = await api_client.post("/api/queue/remove", json={"id": item_id})
    assert resp.status_code == 503, resp.text
    assert item_id in await redis_api.lrange(keys.QUEUE, 0, -1)
    assert await redis_api.exists(keys.item(item_id)) == 1


@pytest.mark.parametrize(
    ("key", "path"),
    [(keys.HISTORY, "/api/history"), (keys.QUEUE, "/api/queue"), (keys.QUEUE, "/api/queue?x=1")],
)
async def test_read_with_key_of_wrong_type_503_says_damaged(
    api_client: httpx.AsyncClient, redis_api: Redis, key: str, path: str
) -> None:
    await _break(redis_api, key)
    resp = await api_client.get(path)
    assert resp.status_code == 503
    assert "damaged" in resp.json()["error"] and "operator" in resp.json()["error"]
