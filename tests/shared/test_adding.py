from __future__ import annotations

import httpx
import respx
from redis.asyncio import Redis

from shared.adding import add_collection
from shared.queue.queue import QueueRules
from shared.ratelimit import Limit
from shared.spotify.client import SpotifyCatalog
from shared.spotify.uris import CollectionRef
from tests.shared.queue.helpers import queue_view
from tests.shared.spotify import fakes
from tests.shared.spotify.fakes import API, TOKEN_URL

LIMIT = Limit("add", max_hits=100, window_s=60)
RULES = QueueRules(add_many_max=50)
USER = "a@example.com"


def _catalog(http: httpx.AsyncClient, redis: Redis, spotify: respx.MockRouter) -> SpotifyCatalog:
    spotify.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=fakes.token_body()))
    return SpotifyCatalog(http=http, redis=redis, settings=fakes.settings(), backoff_s=0.0)


async def test_add_collection_album_from_spotify_takes_album_images(
    http: httpx.AsyncClient, redis_api: Redis, spotify: respx.MockRouter
) -> None:
    catalog = _catalog(http, redis_api, spotify)
    album = fakes.album(5, "Big Album")
    album["tracks"] = {
        "items": [fakes.track(i, with_album=False) for i in range(3)],
        "total": 3,
        "next": None,
    }
    spotify.get(f"{API}/albums/{album['id']}").mock(return_value=httpx.Response(200, json=album))
    ref = CollectionRef("album", album["id"])
    added = await add_collection(redis_api, catalog, ref, USER, LIMIT, rules=RULES)
    assert added.answer()["added"] == 3
    assert added.message() == 'Added 3 tracks of the album "Big Album"'
    queue = (await queue_view(redis_api)).queue
    assert [i.title for i in queue] == ["Track 0", "Track 1", "Track 2"]
    assert all(i.img.endswith("album5-64") for i in queue)
    assert int(await redis_api.get(LIMIT.key(USER)) or 0) == 3


async def test_add_collection_playlist_from_spotify_two_pages_reports_skips(
    http: httpx.AsyncClient, redis_api: Redis, spotify: respx.MockRouter
) -> None:
    catalog = _catalog(http, redis_api, spotify)
    playlist = fakes.sid(4, "p")
    items = f"{API}/playlists/{playlist}/items"
    first = {"items": [{"item": fakes.track(1)}, {"item": None}], "next": f"{items}?offset=2"}
    second = {
        "items": [
            {"item": {"type": "episode", "uri": "spotify:episode:x"}},
            {"item": fakes.track(2)},
        ],
        "next": None,
    }
    spotify.get(items).mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    ref = CollectionRef("playlist", playlist)
    added = await add_collection(redis_api, catalog, ref, USER, LIMIT, rules=RULES)
    answer = added.answer()
    assert answer["added"] == 2 and len(answer["ids"]) == 2
    assert [s["reason"] for s in answer["skipped"]] == ["unavailable", "not a music track"]
    assert answer["message"] == (
        "Added 2 tracks of the playlist; skipped 1 unavailable, 1 not a music track"
    )
