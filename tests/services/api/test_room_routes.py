from __future__ import annotations

import json

import httpx
from redis.asyncio import Redis

from shared import keys
from shared.queue import queue as domain
from tests.shared.queue.helpers import set_playing, track


def play(n: int, user: str, jams: list[str], ended_at: float) -> str:
    return json.dumps(
        {
            "id": str(n),
            "uri": f"spotify:track:{str(n).rjust(22, '0')}",
            "title": f"Song {n}",
            "artist": "Band",
            "duration_ms": 200_000,
            "img": "",
            "big_img": "",
            "user": user,
            "votes": 0,
            "jams": jams,
            "comments": [],
            "auto": False,
            "added_at": ended_at - 300,
            "ended_at": ended_at,
        }
    )


async def test_comment_route_adds_the_tokens_comment(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    item = await domain.add_item(redis_api, track(1), "a@example.com")
    resp = await api_client.post("/api/queue/comment", json={"id": item.id, "text": "  tune!  "})
    assert resp.status_code == 200 and resp.json() == {"ok": True}
    queued = (await api_client.get("/api/queue")).json()["queue"][0]
    assert [(c["user"], c["text"]) for c in queued["comments"]] == [("openclaw@api", "tune!")]


async def test_comment_route_empty_text_400_unknown_song_404(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    item = await domain.add_item(redis_api, track(1), "a@example.com")
    empty = await api_client.post("/api/queue/comment", json={"id": item.id, "text": ""})
    unknown = await api_client.post("/api/queue/comment", json={"id": "999", "text": "hi"})
    assert empty.status_code == 400 and unknown.status_code == 404


async def test_integer_ids_from_old_bots_are_read_as_their_text(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    item = await domain.add_item(redis_api, track(1), "a@example.com")
    jam = await api_client.post("/api/queue/jam", json={"id": int(item.id)})
    negative = await api_client.post("/api/queue/jam", json={"id": -1})
    flag = await api_client.post("/api/queue/jam", json={"id": True})
    assert jam.status_code == 200 and jam.json()["jammed"] is True
    assert negative.status_code == 400 and flag.status_code == 400


async def test_airhorn_route_blasts_at_the_playing_song_and_lists_it(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    idle = await api_client.post("/api/airhorn", json={"name": "airhorn"})
    await set_playing(redis_api)
    unknown = await api_client.post("/api/airhorn", json={"name": "kazoo"})
    blast = await api_client.post("/api/airhorn", json={"name": "siren"})
    listed = (await api_client.get("/api/airhorns")).json()
    assert idle.status_code == 409 and unknown.status_code == 400
    assert blast.status_code == 200 and blast.json() == {"ok": True}
    assert "siren" in listed["names"] and "kazoo" not in listed["names"]
    assert listed["recent"] and listed["recent"][0]["user"] == "openclaw@api"


async def test_history_user_filter_and_jams_and_last_played(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    assert (await api_client.get("/api/last")).json() == {}
    # Newest first, as the player stores them.
    for raw in (
        play(1, "ann@example.com", [], 1000.0),
        play(2, "bob@example.com", ["ann@example.com"], 2000.0),
        play(3, "ann@example.com", ["bob@example.com"], 3000.0),
    ):
        await redis_api.lpush(keys.HISTORY, raw)
    mine = (await api_client.get("/api/history", params={"user": "Ann@Example.com"})).json()
    jammed = (
        await api_client.get("/api/history", params={"user": "ann@example.com", "jammed": "true"})
    ).json()
    alone = await api_client.get("/api/history", params={"jammed": "true"})
    last = (await api_client.get("/api/last")).json()
    assert [p["id"] for p in mine["plays"]] == ["3", "1"]
    assert [p["id"] for p in jammed["plays"]] == ["2"]
    assert alone.status_code == 400
    assert last["id"] == "3" and last["ended_at"] == 3000.0
