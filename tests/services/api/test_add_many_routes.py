from __future__ import annotations

import httpx

from services.api.app import create_app
from shared.spotify.demo import PLAYLIST_ID, DemoCatalog, demo_id
from tests.services.api.conftest import AUTH, build_settings, running
from tests.support.redis_server import RedisServer

ALBUM_ID = demo_id("album", "Paper Moons")
ALBUM_URIS = [t.uri for t in DemoCatalog().tracks if t.album_id == ALBUM_ID]


async def test_add_track_album_queues_its_tracks(api_client: httpx.AsyncClient) -> None:
    r = await api_client.post("/api/queue/add", json={"uri": f"spotify:album:{ALBUM_ID}"})
    assert r.status_code == 201
    body = r.json()
    assert body["ok"] is True and body["added"] == 5 and body["skipped"] == []
    assert body["message"] == 'Added 5 tracks of the album "Paper Moons"'
    queue = (await api_client.get("/api/queue")).json()["queue"]
    assert [i["id"] for i in queue] == body["ids"]
    assert [i["uri"] for i in queue] == ALBUM_URIS
    assert {i["user"] for i in queue} == {"openclaw@api"}


async def test_add_track_playlist_link_reports_skipped(api_client: httpx.AsyncClient) -> None:
    link = f"https://open.spotify.com/playlist/{PLAYLIST_ID}?si=x"
    r = await api_client.post("/api/queue/add", json={"uri": link})
    assert r.status_code == 201
    body = r.json()
    assert body["added"] == 20 and len(body["ids"]) == 20
    assert [s["reason"] for s in body["skipped"]] == ["not a music track"]
    assert "skipped 1 not a music track" in body["message"]


async def test_add_track_album_again_skips_the_queued_songs(api_client: httpx.AsyncClient) -> None:
    await api_client.post("/api/queue/add", json={"uri": ALBUM_URIS[1]})
    r = await api_client.post("/api/queue/add", json={"uri": f"spotify:album:{ALBUM_ID}"})
    body = r.json()
    assert r.status_code == 201 and body["added"] == 4
    assert body["skipped"][0]["uri"] == ALBUM_URIS[1]
    assert body["skipped"][0]["reason"] == "already queued"


async def test_add_track_unknown_album_404(api_client: httpx.AsyncClient) -> None:
    r = await api_client.post("/api/queue/add", json={"uri": "spotify:album:" + "Z" * 22})
    assert r.status_code == 404 and "album" in r.json()["error"]


async def test_add_track_album_counts_each_track_against_the_add_limit(
    redis_clean: RedisServer,
) -> None:
    app = create_app(build_settings(redis_clean, api_add_max=3))
    async with running(app, AUTH) as client:
        r = await client.post("/api/queue/add", json={"uri": f"spotify:album:{ALBUM_ID}"})
        assert r.status_code == 201
        body = r.json()
        assert body["added"] == 3
        assert "stopped at your add limit" in body["message"]
        r = await client.post("/api/queue/add", json={"uri": f"spotify:album:{ALBUM_ID}"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


async def test_add_track_album_capped_by_add_many_max(redis_clean: RedisServer) -> None:
    app = create_app(build_settings(redis_clean, add_many_max=2))
    async with running(app, AUTH) as client:
        r = await client.post("/api/queue/add", json={"uri": f"spotify:album:{ALBUM_ID}"})
        body = r.json()
        assert r.status_code == 201 and body["added"] == 2
        assert "only its first 2 tracks are taken" in body["message"]
