from __future__ import annotations

import json

import httpx
from redis.asyncio import Redis

from services.api.app import create_app
from shared import keys
from shared.queue import queue as domain
from shared.spotify.demo import DemoCatalog
from tests.services.api.conftest import AUTH, BOT_TOKEN, build_settings, running
from tests.shared.queue.helpers import set_playing, track
from tests.support.redis_server import RedisServer

_DEMO = DemoCatalog()
URIS = [t.uri for t in _DEMO.tracks][:6]


async def test_add_track_returns_201_and_queues_as_api_identity(
    api_client: httpx.AsyncClient,
) -> None:
    r = await api_client.post("/api/queue/add", json={"uri": URIS[0]})
    assert r.status_code == 201
    body = r.json()
    assert body["ok"] is True and body["id"]
    queue = (await api_client.get("/api/queue")).json()
    assert queue["preview"] is None
    assert [i["id"] for i in queue["queue"]] == [body["id"]]
    assert queue["queue"][0]["user"] == "openclaw@api"
    assert queue["queue"][0]["jams"] == [] and queue["queue"][0]["comments"] == []


async def test_add_track_open_spotify_link_accepted(api_client: httpx.AsyncClient) -> None:
    link = "https://open.spotify.com/track/" + URIS[1].rsplit(":", 1)[1] + "?si=abc"
    r = await api_client.post("/api/queue/add", json={"uri": link})
    assert r.status_code == 201


async def test_add_track_unknown_track_404(api_client: httpx.AsyncClient) -> None:
    r = await api_client.post("/api/queue/add", json={"uri": "spotify:track:" + "Z" * 22})
    assert r.status_code == 404 and "error" in r.json()


async def test_named_token_acts_as_name_at_api(api_client: httpx.AsyncClient) -> None:
    r = await api_client.post(
        "/api/queue/add",
        json={"uri": URIS[0]},
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},
    )
    assert r.status_code == 201
    queue = (await api_client.get("/api/queue")).json()
    assert queue["queue"][0]["user"] == "bot@api"


async def test_vote_track_moves_and_refuses_repeat(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    a = await domain.add_item(redis_api, track(1), "a@example.com")
    b = await domain.add_item(redis_api, track(2), "b@example.com")
    r = await api_client.post("/api/queue/vote", json={"id": b.id, "up": True})
    assert r.status_code == 200 and r.json() == {"ok": True}
    assert await domain.get_queue_ids(redis_api) == [b.id, a.id]
    r = await api_client.post("/api/queue/vote", json={"id": b.id})
    assert r.status_code == 409 and r.json() == {"error": "You already voted on this song"}
    r = await api_client.post("/api/queue/vote", json={"id": a.id, "up": False})
    assert r.status_code == 200
    assert (await domain.get_item(redis_api, a.id)).votes == -1


async def test_vote_own_song_upvote_409(api_client: httpx.AsyncClient) -> None:
    r = await api_client.post("/api/queue/add", json={"uri": URIS[0]})
    r = await api_client.post("/api/queue/vote", json={"id": r.json()["id"], "up": True})
    assert r.status_code == 409


async def test_jam_track_toggles(api_client: httpx.AsyncClient, redis_api: Redis) -> None:
    a = await domain.add_item(redis_api, track(1), "a@example.com")
    r = await api_client.post("/api/queue/jam", json={"id": a.id})
    assert r.json() == {"ok": True, "jammed": True}
    r = await api_client.post("/api/queue/jam", json={"id": a.id})
    assert r.json() == {"ok": True, "jammed": False}


async def test_remove_and_clear_routes(api_client: httpx.AsyncClient, redis_api: Redis) -> None:
    a = await domain.add_item(redis_api, track(1), "a@example.com")
    await domain.add_item(redis_api, track(2), "a@example.com")
    assert (await api_client.post("/api/queue/remove", json={"id": a.id})).status_code == 200
    r = await api_client.post("/api/queue/remove", json={"id": a.id})
    assert r.status_code == 404 and r.json()["error"]
    assert (await api_client.post("/api/queue/clear")).json() == {"ok": True}
    assert (await api_client.get("/api/queue")).json() == {"queue": [], "preview": None}


async def test_control_routes_change_now_playing(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    for path in ("/api/queue/pause", "/api/queue/resume"):
        assert (await api_client.post(path)).json() == {"ok": True}
    idle_skip = (await api_client.post("/api/queue/skip")).json()
    assert idle_skip["ok"] is True and idle_skip["done"] is False and idle_skip["how"] == "idle"
    assert (await api_client.get("/api/playing")).json() == {}
    await set_playing(redis_api, "np1")
    assert (await api_client.post("/api/queue/pause")).status_code == 200
    playing = (await api_client.get("/api/playing")).json()
    assert playing["id"] == "np1" and playing["paused"] is True
    assert {"pos_ms", "started_at", "server_time"} <= playing.keys()
    assert (await api_client.post("/api/queue/resume")).status_code == 200
    assert (await api_client.get("/api/playing")).json()["paused"] is False
    assert (await api_client.post("/api/queue/skip")).status_code == 200
    assert await redis_api.get(keys.SKIP) == "1"


async def test_search_tracks_returns_results(api_client: httpx.AsyncClient) -> None:
    title = _DEMO.tracks[0].title
    r = await api_client.get("/api/search", params={"q": title})
    assert r.status_code == 200
    results = r.json()["results"]
    assert results
    assert {"uri", "title", "artist", "album", "duration_ms", "img"} <= results[0].keys()


async def test_demo_artwork_is_a_relative_url_in_api_answers(api_client: httpx.AsyncClient) -> None:
    # Demo artwork is served by the web service on the same public origin (docs/contracts.md
    # "Artwork"): the api hands out the path, never an inline data URI.
    track = _DEMO.tracks[0]
    found = (await api_client.get("/api/search", params={"q": track.title})).json()["results"]
    assert found[0]["img"] == track.img and found[0]["img"].startswith("/art/demo/")
    added = await api_client.post("/api/queue/add", json={"uri": track.uri})
    assert added.status_code == 201
    item = (await api_client.get("/api/queue")).json()["queue"][0]
    assert (item["img"], item["big_img"]) == (track.img, track.big_img)
    assert item["big_img"].startswith("/art/demo/") and "data:" not in json.dumps(item)


async def test_list_history_newest_first(api_client: httpx.AsyncClient, redis_api: Redis) -> None:
    play = {**(await domain.add_item(redis_api, track(1), "a@example.com")).model_dump()}
    await redis_api.lpush(keys.HISTORY, json.dumps({**play, "ended_at": 5.0}))
    r = await api_client.get("/api/history", params={"limit": 5})
    assert r.status_code == 200 and r.json()["plays"][0]["ended_at"] == 5.0


async def test_health_is_public(api_client: httpx.AsyncClient) -> None:
    r = await api_client.get("/api/health", headers={"Authorization": ""})
    assert r.json() == {"status": "ok"}


async def test_add_track_rate_limited_per_identity(redis_clean: RedisServer) -> None:
    app = create_app(build_settings(redis_clean, api_add_max=2))
    async with running(app, AUTH) as client:
        for n in range(2):
            r = await client.post("/api/queue/add", json={"uri": URIS[n]})
            assert r.status_code == 201
        r = await client.post("/api/queue/add", json={"uri": URIS[2]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        r = await client.post(
            "/api/queue/add",
            json={"uri": URIS[2]},
            headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        )
        assert r.status_code == 201


async def test_every_mutation_route_appends_an_event(
    api_client: httpx.AsyncClient, redis_api: Redis
) -> None:
    await set_playing(redis_api, "np1")
    other = await domain.add_item(redis_api, track(1), "a@example.com")
    start = await redis_api.xlen(keys.EVENTS)
    added = (await api_client.post("/api/queue/add", json={"uri": URIS[0]})).json()["id"]
    steps = [
        ("/api/queue/vote", {"id": other.id, "up": False}),
        ("/api/queue/jam", {"id": added}),
        ("/api/queue/jam", {"id": "np1"}),
        ("/api/queue/remove", {"id": added}),
        ("/api/queue/pause", None),
        ("/api/queue/resume", None),
        ("/api/queue/skip", None),
        ("/api/queue/clear", None),
    ]
    before = start + 1
    for path, body in steps:
        r = await api_client.post(path, json=body)
        assert r.status_code == 200, (path, r.text)
        # Moderated changes (remove, pause, resume, skip, clear) also announce a `room` event.
        now = await redis_api.xlen(keys.EVENTS)
        assert now > before, path
        before = now
