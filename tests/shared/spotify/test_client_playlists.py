from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from shared.spotify.client import SpotifyCatalog
from shared.spotify.errors import SpotifyNotFound, SpotifyUpstreamError
from tests.shared.spotify import fakes
from tests.shared.spotify.fakes import API, TOKEN_URL

PLAYLIST = fakes.sid(3, "p")
ITEMS = f"{API}/playlists/{PLAYLIST}/items"


def _token(spotify: respx.MockRouter) -> None:
    spotify.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=fakes.token_body()))


def _entry(obj: dict[str, Any] | None, field: str = "item") -> dict[str, Any]:
    return {"added_at": "2026-01-01T00:00:00Z", field: obj}


def _episode(n: int) -> dict[str, Any]:
    return {"type": "episode", "id": fakes.sid(n, "e"), "uri": f"spotify:episode:{n}", "name": "Ep"}


def _page(items: list[dict[str, Any]], next_url: str | None) -> httpx.Response:
    return httpx.Response(200, json={"items": items, "next": next_url, "total": 99})


async def test_catalog_playlist_tracks_follow_pages_and_skip_episodes_local_and_null(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token(spotify)
    local = {**fakes.track(9), "is_local": True, "uri": "spotify:local:a:b:c:1", "id": None}
    first = [_entry(fakes.track(i)) for i in range(3)] + [_entry(_episode(1)), _entry(None)]
    second = [_entry(fakes.track(3), "track"), _entry(local), _entry(fakes.track(4))]
    route = spotify.get(ITEMS).mock(
        side_effect=[_page(first, f"{ITEMS}?offset=5"), _page(second, None)]
    )
    found = await catalog.playlist_tracks(PLAYLIST, 50)
    assert [t.title for t in found.tracks] == [f"Track {i}" for i in range(5)]
    assert found.tracks[0].album == "Album 1" and found.tracks[0].img
    assert [s.reason for s in found.skipped] == ["not a music track", "unavailable", "local file"]
    assert found.skipped[0].uri == "spotify:episode:1"
    assert route.call_count == 2
    params = [dict(c.request.url.params) for c in route.calls]
    assert [p["offset"] for p in params] == ["0", "5"]
    assert params[0]["limit"] == "50" and params[0]["market"]


async def test_catalog_playlist_tracks_stop_at_the_cap_without_reading_further(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token(spotify)
    items = [_entry(fakes.track(i)) for i in range(50)]
    route = spotify.get(ITEMS).mock(return_value=_page(items, f"{ITEMS}?offset=50"))
    found = await catalog.playlist_tracks(PLAYLIST, 7)
    assert len(found.tracks) == 7 and route.call_count == 1


async def test_catalog_playlist_tracks_page_count_is_bounded(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token(spotify)
    only_episodes = [_entry(_episode(i)) for i in range(50)]
    route = spotify.get(ITEMS).mock(return_value=_page(only_episodes, f"{ITEMS}?offset=x"))
    found = await catalog.playlist_tracks(PLAYLIST, 50)
    assert found.tracks == () and route.call_count == 2


async def test_catalog_playlist_tracks_unknown_playlist_is_not_found(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token(spotify)
    spotify.get(ITEMS).mock(return_value=httpx.Response(404, json={"error": {"status": 404}}))
    with pytest.raises(SpotifyNotFound):
        await catalog.playlist_tracks(PLAYLIST, 50)


async def test_catalog_playlist_tracks_malformed_id_makes_no_request(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    with pytest.raises(SpotifyNotFound):
        await catalog.playlist_tracks("../me", 50)
    assert len(spotify.calls) == 0


async def test_catalog_playlist_tracks_garbage_answer_is_upstream_error(
    catalog: SpotifyCatalog, spotify: respx.MockRouter
) -> None:
    _token(spotify)
    spotify.get(ITEMS).mock(return_value=httpx.Response(200, json={"items": "nope"}))
    with pytest.raises(SpotifyUpstreamError):
        await catalog.playlist_tracks(PLAYLIST, 50)
