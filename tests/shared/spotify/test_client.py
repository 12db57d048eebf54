from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import respx
from redis.asyncio import Redis

from shared import keys
from shared.spotify.client import SpotifyCatalog
from shared.spotify.errors import (
    SpotifyNotConfigured,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyUpstreamError,
)
from shared.spotify.factory import create_catalog
from tests.shared.spotify import fakes
from tests.shared.spotify.fakes import API, TOKEN_URL

TRACK = fakes.track(7)
TRACK_URI = TRACK["uri"]


def _token_route(spotify: respx.MockRouter, token: str = "app-token-1") -> respx.Route:
    return spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json=fakes.token_body(token))
    )


def _track_route(spotify: respx.MockRouter) -> respx.Route:
    return spotify.get(f"{API}/tracks/{TRACK['id']}").mock(
        return_value=httpx.Response(200, json=TRACK)
    )


async def test_catalog_app_token_fetched_once_then_cached(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, redis_api: Redis
) -> None:
    token = _token_route(spotify)
    tracks = _track_route(spotify)
    await catalog.lookup(TRACK_URI)
    await catalog.lookup(TRACK_URI)
    assert token.call_count == 1 and tracks.call_count == 2
    request = token.calls[0].request
    assert request.headers["Authorization"].startswith("Basic ")
    assert b"grant_type=client_credentials" in request.content
    assert tracks.calls[1].request.headers["Authorization"] == "Bearer app-token-1"
    assert await redis_api.get(keys.SPOTIFY_APP_TOKEN) == "app-token-1"
    assert 3300 <= await redis_api.ttl(keys.SPOTIFY_APP_TOKEN) < 3600


async def test_catalog_app_token_shared_between_instances_via_redis(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, http: httpx.AsyncClient, redis_api: Redis
) -> None:
    token = _token_route(spotify)
    _track_route(spotify)
    other = SpotifyCatalog(http=http, redis=redis_api, settings=fakes.settings())
    await catalog.lookup(TRACK_URI)
    await other.lookup(TRACK_URI)
    assert token.call_count == 1


async def test_catalog_app_token_expired_fetches_new_one(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, redis_api: Redis
) -> None:
    token = spotify.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=fakes.token_body("old-token", expires_in=3600)),
            httpx.Response(200, json=fakes.token_body("new-token", expires_in=3600)),
        ]
    )
    tracks = _track_route(spotify)
    await catalog.lookup(TRACK_URI)
    await redis_api.pexpire(keys.SPOTIFY_APP_TOKEN, 1)
    await asyncio.sleep(0.01)
    await catalog.lookup(TRACK_URI)
    assert token.call_count == 2
    assert tracks.calls[1].request.headers["Authorization"] == "Bearer new-token"


async def test_catalog_api_401_refetches_token_and_retries_once(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, redis_api: Redis
) -> None:
    await redis_api.set(keys.SPOTIFY_APP_TOKEN, "revoked-token", ex=600)
    token = _token_route(spotify, "fresh-token")
    tracks = spotify.get(f"{API}/tracks/{TRACK['id']}").mock(
        side_effect=[httpx.Response(401), httpx.Response(200, json=TRACK)]
    )
    found = await catalog.lookup(TRACK_URI)
    assert found.uri == TRACK_URI
    assert token.call_count == 1
    assert tracks.calls[1].request.headers["Authorization"] == "Bearer fresh-token"
    assert await redis_api.get(keys.SPOTIFY_APP_TOKEN) == "fresh-token"


async def test_catalog_429_sets_shared_flag_and_raises_without_waiting(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, redis_api: Redis
) -> None:
    _token_route(spotify)
    tracks = spotify.get(f"{API}/tracks/{TRACK['id']}").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "120"})
    )
    started = time.monotonic()
    with pytest.raises(SpotifyRateLimited) as caught:
        await catalog.lookup(TRACK_URI)
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after_s == 120
    assert 118 <= await redis_api.ttl(keys.SPOTIFY_RATE_LIMITED) <= 120
    assert tracks.call_count == 1


async def test_catalog_rate_limit_flag_set_fails_fast_without_http(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, redis_api: Redis
) -> None:
    await redis_api.set(keys.SPOTIFY_RATE_LIMITED, "1", ex=45)
    token = _token_route(spotify)
    search = spotify.get(f"{API}/search").mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(SpotifyRateLimited) as caught:
        await catalog.search("anything")
    assert 44 <= caught.value.retry_after_s <= 45
    assert token.call_count == 0 and search.call_count == 0
    assert len(spotify.calls) == 0


async def test_catalog_rate_limit_flag_without_ttl_gets_one(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, redis_api: Redis
) -> None:
    await redis_api.set(keys.SPOTIFY_RATE_LIMITED, "1")
    with pytest.raises(SpotifyRateLimited):
        await catalog.lookup(TRACK_URI)
    assert await redis_api.ttl(keys.SPOTIFY_RATE_LIMITED) > 0
    assert len(spotify.calls) == 0


async def test_catalog_token_endpoint_429_sets_flag(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, redis_api: Redis
) -> None:
    spotify.post(TOKEN_URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(SpotifyRateLimited):
        await catalog.lookup(TRACK_URI)
    assert 6 <= await redis_api.ttl(keys.SPOTIFY_RATE_LIMITED) <= 7


async def test_catalog_5xx_retried_then_succeeds(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    tracks = spotify.get(f"{API}/tracks/{TRACK['id']}").mock(
        side_effect=[httpx.Response(500), httpx.Response(503), httpx.Response(200, json=TRACK)]
    )
    found = await catalog.lookup(TRACK_URI)
    assert found.title == "Track 7"
    assert tracks.call_count == 3


async def test_catalog_5xx_exhausted_raises_upstream_error(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    tracks = spotify.get(f"{API}/tracks/{TRACK['id']}").mock(return_value=httpx.Response(502))
    with pytest.raises(SpotifyUpstreamError):
        await catalog.lookup(TRACK_URI)
    assert tracks.call_count == 3


async def test_catalog_transport_error_exhausted_raises_upstream_error(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    tracks = spotify.get(f"{API}/tracks/{TRACK['id']}").mock(
        side_effect=httpx.ConnectTimeout("timed out")
    )
    with pytest.raises(SpotifyUpstreamError):
        await catalog.lookup(TRACK_URI)
    assert tracks.call_count == 3


async def test_catalog_retry_backoff_is_short_and_bounded(
    http: httpx.AsyncClient, redis_api: Redis, spotify: respx.MockRouter
) -> None:
    catalog = SpotifyCatalog(http=http, redis=redis_api, settings=fakes.settings(), backoff_s=0.05)
    _token_route(spotify)
    spotify.get(f"{API}/tracks/{TRACK['id']}").mock(return_value=httpx.Response(500))
    started = time.monotonic()
    with pytest.raises(SpotifyUpstreamError):
        await catalog.lookup(TRACK_URI)
    assert 0.15 <= time.monotonic() - started < 1.0


async def test_catalog_search_limit_25_fetches_three_pages_of_10(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    pages = spotify.get(f"{API}/search").mock(
        side_effect=[
            httpx.Response(200, json=fakes.search_page(0, 10, 100)),
            httpx.Response(200, json=fakes.search_page(10, 10, 100)),
            httpx.Response(200, json=fakes.search_page(20, 10, 100)),
        ]
    )
    found = await catalog.search("night ferry", limit=25)
    assert len(found) == 25
    assert [t.title for t in found[:2]] == ["Track 0", "Track 1"]
    params = [call.request.url.params for call in pages.calls]
    assert [p["offset"] for p in params] == ["0", "10", "20"]
    assert all(p["limit"] == "10" and p["type"] == "track" for p in params)
    assert all(p["market"] == "DE" and p["q"] == "night ferry" for p in params)


async def test_catalog_search_short_page_stops_paging(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    pages = spotify.get(f"{API}/search").mock(
        return_value=httpx.Response(200, json=fakes.search_page(0, 4, 4))
    )
    found = await catalog.search("rare", limit=30)
    assert len(found) == 4 and pages.call_count == 1


async def test_catalog_search_blank_query_makes_no_request(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    assert await catalog.search("   \n") == []
    assert len(spotify.calls) == 0


async def test_catalog_search_skips_unplayable_and_null_items(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    body = fakes.search_page(0, 3, 3)
    body["tracks"]["items"][1]["is_playable"] = False
    body["tracks"]["items"].append(None)
    spotify.get(f"{API}/search").mock(return_value=httpx.Response(200, json=body))
    found = await catalog.search("x")
    assert [t.title for t in found] == ["Track 0", "Track 2"]


async def test_catalog_lookup_track_maps_artists_and_images(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    obj = fakes.track(3, artists=[fakes.artist(1, "Ann"), fakes.artist(2, "Bo")])
    route = spotify.get(f"{API}/tracks/{obj['id']}").mock(
        return_value=httpx.Response(200, json=obj)
    )
    found = await catalog.lookup(f"https://open.spotify.com/track/{obj['id']}?si=abc")
    assert found.uri == obj["uri"] and found.kind == "track"
    assert found.artist == "Ann, Bo"
    assert found.artist_names == ("Ann", "Bo")
    assert found.artist_ids == (fakes.sid(1, "a"), fakes.sid(2, "a"))
    assert found.album == "Album 1" and found.album_id == fakes.sid(1, "b")
    assert found.big_img.endswith("-640") and found.img.endswith("-64")
    assert found.duration_ms == 180_003
    assert route.calls[0].request.url.params["market"] == "DE"


async def test_catalog_lookup_episode_uses_show_as_artist(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    episode_id = fakes.sid(1, "e")
    spotify.get(f"{API}/episodes/{episode_id}").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": episode_id,
                "uri": f"spotify:episode:{episode_id}",
                "name": "Pilot",
                "duration_ms": 1_800_000,
                "images": fakes.images("ep"),
                "show": {"id": fakes.sid(1, "s"), "name": "The Show", "publisher": "Pub"},
            },
        )
    )
    found = await catalog.lookup(f"spotify:episode:{episode_id}")
    assert found.kind == "episode"
    assert found.artist == "The Show" and found.title == "Pilot"
    assert found.img.endswith("-64") and found.big_img.endswith("-640")


@pytest.mark.parametrize("status", [400, 404])
async def test_catalog_lookup_unknown_id_raises_not_found(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, status: int
) -> None:
    _token_route(spotify)
    spotify.get(f"{API}/tracks/{TRACK['id']}").mock(return_value=httpx.Response(status))
    with pytest.raises(SpotifyNotFound):
        await catalog.lookup(TRACK_URI)


@pytest.mark.parametrize("uri", ["spotify:track:short", "spotify:track:../../me/player", ""])
async def test_catalog_lookup_malformed_uri_raises_not_found_without_http(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, uri: str
) -> None:
    with pytest.raises(SpotifyNotFound):
        await catalog.lookup(uri)
    assert len(spotify.calls) == 0


async def test_catalog_album_tracks_fill_album_name_and_images(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    album = fakes.album(5, "Big Album")
    album["tracks"] = {
        "items": [fakes.track(i, with_album=False) for i in range(3)],
        "total": 3,
        "next": None,
    }
    spotify.get(f"{API}/albums/{album['id']}").mock(return_value=httpx.Response(200, json=album))
    found = await catalog.album_tracks(album["id"])
    assert [t.title for t in found] == ["Track 0", "Track 1", "Track 2"]
    assert all(t.album == "Big Album" and t.album_id == album["id"] for t in found)
    assert all(t.img.endswith("album5-64") and t.big_img.endswith("album5-640") for t in found)


async def test_catalog_album_tracks_follows_further_pages(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    album = fakes.album(6)
    album["tracks"] = {
        "items": [fakes.track(i, with_album=False) for i in range(10)],
        "total": 13,
        "next": f"{API}/albums/{album['id']}/tracks?offset=10&limit=10",
    }
    spotify.get(f"{API}/albums/{album['id']}").mock(return_value=httpx.Response(200, json=album))
    rest = spotify.get(f"{API}/albums/{album['id']}/tracks").mock(
        return_value=httpx.Response(
            200,
            json={
                "items": [fakes.track(i, with_album=False) for i in range(10, 13)],
                "total": 13,
                "next": None,
            },
        )
    )
    found = await catalog.album_tracks(album["id"])
    assert len(found) == 13 and found[-1].img.endswith("album6-64")
    assert rest.calls[0].request.url.params["offset"] == "10"


async def test_catalog_artist_albums_pages_of_10_up_to_limit(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    artist_id = fakes.sid(1, "a")

    def page(start: int) -> httpx.Response:
        items = [fakes.album(i) for i in range(start, start + 10)]
        return httpx.Response(200, json={"items": items, "next": f"{API}/next", "total": 40})

    route = spotify.get(f"{API}/artists/{artist_id}/albums").mock(side_effect=[page(0), page(10)])
    found = await catalog.artist_albums(artist_id, limit=15)
    assert found == [fakes.sid(i, "b") for i in range(15)]
    params = [c.request.url.params for c in route.calls]
    assert [p["offset"] for p in params] == ["0", "10"]
    assert all(p["limit"] == "10" and p["include_groups"] == "album,single" for p in params)


async def test_catalog_artist_tracks_searches_by_artist_and_filters(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    body = fakes.search_page(0, 3, 3)
    body["tracks"]["items"][1]["artists"] = [fakes.artist(9, "Someone Else")]
    for item in (body["tracks"]["items"][0], body["tracks"]["items"][2]):
        item["artists"] = [fakes.artist(4, "Copper Atlas")]
    route = spotify.get(f"{API}/search").mock(return_value=httpx.Response(200, json=body))
    found = await catalog.artist_tracks('copper "atlas', limit=10)
    assert [t.title for t in found] == ["Track 0", "Track 2"]
    assert route.calls[0].request.url.params["q"] == 'artist:"copper atlas"'


async def test_catalog_calls_only_endpoints_that_exist_after_february_2026(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    artist_id, album_id = fakes.sid(1, "a"), fakes.sid(1, "b")
    _track_route(spotify)
    spotify.get(f"{API}/search").mock(
        return_value=httpx.Response(200, json=fakes.search_page(0, 10, 30))
    )
    spotify.get(f"{API}/artists/{artist_id}/albums").mock(
        return_value=httpx.Response(200, json={"items": [fakes.album(1)], "next": None})
    )
    album = fakes.album(1) | {"tracks": {"items": [fakes.track(1, with_album=False)], "total": 1}}
    spotify.get(f"{API}/albums/{album_id}").mock(return_value=httpx.Response(200, json=album))

    seed = await catalog.lookup(TRACK_URI)
    await catalog.artist_albums(seed.artist_ids[0])
    await catalog.album_tracks(seed.album_id)
    await catalog.artist_tracks(seed.artist_names[0], limit=20)
    await catalog.search("query", limit=20)

    urls = [str(call.request.url) for call in spotify.calls]
    assert len(urls) >= 6
    for url in urls:
        assert "top-tracks" not in url
        assert "/v1/tracks?" not in url and "ids=" not in url
        assert "/browse/" not in url and "/recommendations" not in url
        assert "related-artists" not in url and "/v1/albums?" not in url
        limit = httpx.URL(url).params.get("limit")
        assert limit is None or int(limit) <= 10


async def test_catalog_rejected_credentials_raise_not_configured_without_secret(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    spotify.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "invalid_client"}))
    with pytest.raises(SpotifyNotConfigured) as caught:
        await catalog.lookup(TRACK_URI)
    assert fakes.CLIENT_SECRET not in str(caught.value)
    assert fakes.CLIENT_ID not in str(caught.value)


def test_create_catalog_with_credentials_returns_real_client(
    http: httpx.AsyncClient, redis_api: Redis
) -> None:
    catalog = create_catalog(fakes.settings(), redis_api, http)
    assert isinstance(catalog, SpotifyCatalog)
    assert catalog.is_demo is False


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "artists": [], "duration_ms": [1]},
        {"name": "x", "artists": [], "duration_ms": "long"},
        {"name": "x", "album": "not an object", "duration_ms": 1},
    ],
)
async def test_catalog_unexpected_answer_shape_raises_upstream_error(
    catalog: SpotifyCatalog, spotify: respx.MockRouter, body: dict[str, object]
) -> None:
    _token_route(spotify)
    spotify.get(f"{API}/tracks/{TRACK['id']}").mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(SpotifyUpstreamError):
        await catalog.lookup(TRACK_URI)


async def test_catalog_search_page_of_wrong_shape_raises_upstream_error(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token_route(spotify)
    spotify.get(f"{API}/search").mock(return_value=httpx.Response(200, json={"tracks": [1, 2]}))
    with pytest.raises(SpotifyUpstreamError):
        await catalog.search("x")
