from __future__ import annotations

import re
from collections import Counter

import pytest

from shared.queue.models import Item, song_fields
from shared.settings import AndreSettings
from shared.spotify.demo import ART_PREFIX, DemoCatalog, artwork_svg, demo_art
from shared.spotify.errors import SpotifyNotFound
from shared.spotify.factory import create_catalog

URI_RE = re.compile(r"spotify:(track|episode):[0-9A-Za-z]{22}")
ART_URL_RE = re.compile(r"/art/demo/[0-9a-f]{20}\.svg")


@pytest.fixture
def demo() -> DemoCatalog:
    return DemoCatalog()


def test_demo_catalog_tracks_have_real_metadata_shape(demo: DemoCatalog) -> None:
    tracks = demo.tracks
    assert 30 <= len(tracks) <= 60
    assert len({t.uri for t in tracks}) == len(tracks)
    for t in tracks:
        assert URI_RE.fullmatch(t.uri) and t.kind == "track"
        assert 120_000 <= t.duration_ms <= 360_000
        assert t.title and t.album and t.album_id
        assert t.artist == ", ".join(t.artist_names)
        assert len(t.artist_ids) == len(t.artist_names)
        assert ART_URL_RE.fullmatch(t.img) and ART_URL_RE.fullmatch(t.big_img)
        assert t.img != t.big_img
        assert b"<svg" in (demo_art(t.img.removeprefix(ART_PREFIX).removesuffix(".svg")) or b"")


def test_demo_catalog_artists_and_albums_have_several_tracks(demo: DemoCatalog) -> None:
    per_artist = Counter(t.artist_ids[0] for t in demo.tracks)
    per_album = Counter(t.album_id for t in demo.tracks)
    assert min(per_artist.values()) >= 3
    assert min(per_album.values()) >= 3


def test_demo_catalog_ids_stable_across_instances(demo: DemoCatalog) -> None:
    assert [t.uri for t in DemoCatalog().tracks] == [t.uri for t in demo.tracks]


async def test_demo_lookup_track_and_episode_found(demo: DemoCatalog) -> None:
    track, episode = demo.tracks[3], demo.episodes[0]
    assert await demo.lookup(track.uri) == track
    assert await demo.lookup(f"https://open.spotify.com/track/{track.id}?si=x") == track
    found = await demo.lookup(episode.uri)
    assert found.kind == "episode" and found.artist == found.album


@pytest.mark.parametrize("uri", ["spotify:track:0000000000000000000000", "nonsense", ""])
async def test_demo_lookup_unknown_uri_raises_not_found(demo: DemoCatalog, uri: str) -> None:
    with pytest.raises(SpotifyNotFound):
        await demo.lookup(uri)


async def test_demo_search_case_insensitive_over_title_artist_album(demo: DemoCatalog) -> None:
    by_title = await demo.search("HARBOUR lights")
    assert [t.title for t in by_title] == ["Harbour Lights"]
    by_artist = await demo.search("mira okafor", limit=50)
    assert len(by_artist) == 8 and all("Mira Okafor" in t.artist for t in by_artist)
    by_album = await demo.search("paper moons")
    assert {t.album for t in by_album} == {"Paper Moons"}


async def test_demo_search_limit_caps_results(demo: DemoCatalog) -> None:
    assert len(await demo.search("a")) == 10
    assert len(await demo.search("a", limit=25)) == 25
    assert len(await demo.search("a", limit=1000)) <= 50


async def test_demo_search_blank_query_returns_nothing(demo: DemoCatalog) -> None:
    assert await demo.search("   ") == []
    assert await demo.search("no such thing anywhere") == []


async def test_demo_search_excludes_episodes(demo: DemoCatalog) -> None:
    assert await demo.search("Office Hours") == []


async def test_demo_auto_fill_chain_artist_albums_then_album_tracks(demo: DemoCatalog) -> None:
    seed = await demo.lookup(demo.tracks[0].uri)
    album_ids = await demo.artist_albums(seed.artist_ids[0])
    assert len(album_ids) == 2 and seed.album_id in album_ids
    tracks = await demo.album_tracks(album_ids[1])
    assert len(tracks) >= 3 and all(t.album_id == album_ids[1] for t in tracks)
    assert all(t.img and t.big_img for t in tracks)
    assert len(await demo.artist_albums(seed.artist_ids[0], limit=1)) == 1


async def test_demo_artist_tracks_include_featured_appearances(demo: DemoCatalog) -> None:
    tracks = await demo.artist_tracks("lila moreau", limit=50)
    assert {"Fog Signal", "Cartographer", "Quiet Rooms"} <= {t.title for t in tracks}
    assert len(await demo.artist_tracks("Lila Moreau", limit=2)) == 2
    assert await demo.artist_tracks("Nobody") == []


async def test_demo_unknown_artist_or_album_raises_not_found(demo: DemoCatalog) -> None:
    with pytest.raises(SpotifyNotFound):
        await demo.artist_albums("0000000000000000000000")
    with pytest.raises(SpotifyNotFound):
        await demo.album_tracks("0000000000000000000000")


def test_create_catalog_without_credentials_returns_demo() -> None:
    settings = AndreSettings(spotify_client_id="", _env_file=None)  # type: ignore[call-arg]
    catalog = create_catalog(settings, redis=None, http=None)  # type: ignore[arg-type]
    assert catalog.is_demo is True
    assert isinstance(catalog, DemoCatalog)


def test_demo_artwork_is_a_short_url_for_a_script_free_svg(demo: DemoCatalog) -> None:
    items = [*demo.tracks, *demo.episodes]
    urls = {u for t in items for u in (t.img, t.big_img)}
    assert all(ART_URL_RE.fullmatch(u) for u in urls)
    # One picture per album (and the show) per size, each URL naming exactly its SVG.
    assert len(urls) == 2 * len({t.album_id for t in items})
    for url in urls:
        svg = demo_art(url.removeprefix(ART_PREFIX).removesuffix(".svg"))
        assert svg is not None and svg.startswith(b"<svg ")
        lowered = svg.lower()
        for unsafe in (b"<script", b"href", b"onload", b"javascript:", b"<foreignobject"):
            assert unsafe not in lowered
    assert demo_art("0" * 20) is None and demo_art("") is None
    assert demo_art("../" + next(iter(urls))) is None


def test_demo_artwork_key_follows_the_content() -> None:
    a, b = artwork_svg("Night Ferry", 64), artwork_svg("Night Ferry", 640)
    assert a != b and b'width="640"' in b
    assert artwork_svg("Night Ferry", 64) == a  # stable across calls and processes


def test_demo_queue_item_json_is_small(demo: DemoCatalog) -> None:
    # An item used to carry two inline base64 SVGs (~1.5 KB); the queue and every event repeat it.
    for t in [*demo.tracks, *demo.episodes]:
        item = Item(
            id="0123456789abcdef", user="someone.with.a.long.name@example.com",
            added_at=1_764_000_000.123456, **song_fields(t),
        )  # fmt: skip
        size = len(item.model_dump_json().encode())
        assert size < 600, (t.title, size)
        assert len(t.model_dump_json()) < 600
