from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from services.web.settings import WebSettings
from shared.spotify.demo import PLAYLIST_ID, DemoCatalog, demo_id
from tests.services.web.conftest import SignedIn, build_settings
from tests.support.redis_server import RedisServer

SignIn = Callable[[str], Awaitable[SignedIn]]
ALBUM = f"spotify:album:{demo_id('album', 'Paper Moons')}"
PLAYLIST = f"https://open.spotify.com/playlist/{PLAYLIST_ID}"
TRACKS = DemoCatalog().tracks
ADD_MAX = 22


@pytest.fixture
def web_settings(redis_clean: RedisServer) -> WebSettings:
    return build_settings(redis_clean, web_add_max=ADD_MAX)


async def test_add_track_playlist_keeps_others_adds_in_round_one(sign_in: SignIn) -> None:
    alice, bob, carol = [await sign_in(f"{n}@example.com") for n in ("alice", "bob", "carol")]
    resp = await alice.client.post("/queue/add", json={"uri": PLAYLIST})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["ok"] is True and body["added"] == 20 and len(body["skipped"]) == 1
    for who, track in ((bob, TRACKS[-1]), (carol, TRACKS[-2])):
        single = await who.client.post("/queue/add", json={"uri": track.uri})
        assert single.status_code == 201 and set(single.json()) == {
            "ok",
            "id",
            "outcome",
            "message",
        }
    queue = (await alice.client.get("/queue")).json()["queue"]
    assert [i["user"] for i in queue[:4]] == [
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
        "alice@example.com",
    ]
    assert len(queue) == 22


async def test_add_track_album_stops_at_the_web_add_limit(signed_in: SignedIn) -> None:
    first = await signed_in.client.post("/queue/add", json={"uri": PLAYLIST})
    assert first.json()["added"] == 20
    resp = await signed_in.client.post("/queue/add", json={"uri": ALBUM})
    assert resp.status_code == 201
    body = resp.json()
    assert body["added"] == ADD_MAX - 20 and "stopped at your add limit" in body["message"]
    again = await signed_in.client.post("/queue/add", json={"uri": ALBUM})
    assert again.status_code == 429 and "error" in again.json()


async def test_add_track_unknown_playlist_404(signed_in: SignedIn) -> None:
    resp = await signed_in.client.post("/queue/add", json={"uri": "spotify:playlist:" + "Z" * 22})
    assert resp.status_code == 404 and "playlist" in resp.json()["error"]
