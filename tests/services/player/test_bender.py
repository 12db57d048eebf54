from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from redis.asyncio import Redis

from services.player.bender import Bender
from shared import keys, playlog
from shared.queue.preview import FILTER_USER, filter_preview, promote_preview
from shared.queue.queue import DEFAULT_RULES
from shared.spotify.client import SpotifyCatalog
from shared.spotify.demo import DemoCatalog
from tests.shared.queue.helpers import queue_view
from tests.shared.spotify import fakes
from tests.shared.spotify.fakes import API, TOKEN_URL
from tests.support.redis_server import RedisServer

BENDER = "bender@andre"
FILTER_TTL_S = DEFAULT_RULES.bender_filter_s


@pytest.fixture
async def redis_player(redis_clean: RedisServer) -> AsyncIterator[Redis]:
    client = redis_clean.client("andre-player")
    yield client
    await client.aclose()


def make_bender(redis: Redis, catalog: Any, log_dir: Path, seed: int = 1) -> Bender:
    return Bender(
        redis,
        catalog,
        bender_email=BENDER,
        play_log_dir=log_dir,
        events_max_len=1000,
        rng=random.Random(seed),
    )


async def candidates(redis: Redis) -> list[dict[str, Any]]:
    return [json.loads(r) for r in await redis.lrange(keys.BENDER_CANDIDATES, 0, -1)]


async def test_bender_refill_on_demo_uses_seed_neighbourhood(
    redis_player: Redis, tmp_path: Path
) -> None:
    demo = DemoCatalog()
    seed = demo.tracks[0]
    await redis_player.set(keys.BENDER_SEED, seed.uri)
    bender = make_bender(redis_player, demo, tmp_path)

    count = await bender.refill()

    found = await candidates(redis_player)
    assert count == len(found) > 0
    uris = [c["uri"] for c in found]
    assert seed.uri not in uris and len(set(uris)) == len(uris)
    by_uri = {t.uri: t for t in demo.tracks}
    assert all(set(by_uri[u].artist_ids) & set(seed.artist_ids) for u in uris)


async def test_bender_refill_respects_7_day_filter(redis_player: Redis, tmp_path: Path) -> None:
    demo = DemoCatalog()
    seed = demo.tracks[0]
    same_album = [t for t in demo.tracks if t.album_id == seed.album_id and t.uri != seed.uri]
    await redis_player.set(keys.BENDER_SEED, seed.uri)
    for t in same_album:
        await redis_player.set(keys.filtered(t.uri), FILTER_USER, ex=FILTER_TTL_S)
    bender = make_bender(redis_player, demo, tmp_path)

    await bender.refill()

    uris = {c["uri"] for c in await candidates(redis_player)}
    assert uris and not uris & {t.uri for t in same_album}


async def test_bender_ensure_preview_writes_auto_item_and_wakes_player(
    redis_player: Redis, tmp_path: Path
) -> None:
    bender = make_bender(redis_player, DemoCatalog(), tmp_path)

    assert await bender.step() == 0.0

    preview = json.loads(await redis_player.get(keys.PREVIEW) or "{}")
    assert preview["auto"] is True and preview["user"] == BENDER
    assert await redis_player.exists(keys.filtered(preview["uri"])) == 0
    assert await redis_player.lrange(keys.PLAYER_WAKE, 0, -1) == ["preview"]
    assert (await queue_view(redis_player)).preview is not None
    assert await bender.step() == 30.0  # already filled: nothing to do


async def test_bender_everything_filtered_backs_off_exponentially(
    redis_player: Redis, tmp_path: Path
) -> None:
    demo = DemoCatalog()
    for t in demo.tracks:
        await redis_player.set(keys.filtered(t.uri), FILTER_USER, ex=FILTER_TTL_S)
    bender = make_bender(redis_player, demo, tmp_path)

    delays = [await bender.step() for _ in range(4)]

    assert delays == [2.0, 4.0, 8.0, 16.0]
    assert await redis_player.exists(keys.PREVIEW) == 0


async def test_bender_demo_all_played_replays_rather_than_silence(
    redis_player: Redis, tmp_path: Path
) -> None:
    demo = DemoCatalog()
    for t in demo.tracks:
        await redis_player.set(keys.filtered(t.uri), "play", ex=FILTER_TTL_S)
    bender = make_bender(redis_player, demo, tmp_path)

    assert await bender.step() == 0.0
    assert await redis_player.exists(keys.PREVIEW) == 1


async def test_bender_throwback_credits_original_queuer(
    redis_player: Redis, tmp_path: Path
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    week_ago = dt.datetime.combine(today - dt.timedelta(days=7), dt.time(12), tzinfo=dt.UTC)
    yesterday = week_ago + dt.timedelta(days=6)
    old = {
        "uri": "spotify:track:" + "o" * 22,
        "title": "Old",
        "artist": "Band",
        "duration_ms": 200_000,
        "user": "carol@example.com",
        "auto": False,
    }
    auto = {**old, "uri": "spotify:track:" + "a" * 22, "user": BENDER, "auto": True}
    other_day = {**old, "uri": "spotify:track:" + "d" * 22}
    playlog.append_play(tmp_path, old, week_ago.timestamp())
    playlog.append_play(tmp_path, auto, week_ago.timestamp())
    playlog.append_play(tmp_path, other_day, yesterday.timestamp())
    bender = make_bender(redis_player, DemoCatalog(), tmp_path)

    await bender.refill()

    throwbacks = [c for c in await candidates(redis_player) if c.get("throwback")]
    assert [(c["uri"], c["user"]) for c in throwbacks] == [(old["uri"], "carol@example.com")]


async def test_filter_preview_sets_filter_and_clears_preview(
    redis_player: Redis, tmp_path: Path
) -> None:
    bender = make_bender(redis_player, DemoCatalog(), tmp_path)
    await bender.step()
    uri = json.loads(await redis_player.get(keys.PREVIEW) or "{}")["uri"]

    assert await filter_preview(redis_player, uri)

    assert await redis_player.exists(keys.PREVIEW) == 0
    assert await redis_player.get(keys.filtered(uri)) == FILTER_USER
    assert await redis_player.ttl(keys.filtered(uri)) > FILTER_TTL_S - 10
    await bender.step()
    assert json.loads(await redis_player.get(keys.PREVIEW) or "{}")["uri"] != uri


async def test_promote_preview_adds_it_as_the_clicking_user(
    redis_player: Redis, tmp_path: Path
) -> None:
    bender = make_bender(redis_player, DemoCatalog(), tmp_path)
    await bender.step()
    uri = json.loads(await redis_player.get(keys.PREVIEW) or "{}")["uri"]

    assert (
        await promote_preview(redis_player, "spotify:track:" + "x" * 22, "dan@example.com") is None
    )
    item = await promote_preview(redis_player, uri, "dan@example.com")

    assert item is not None and item.user == "dan@example.com" and item.auto is False
    view = await queue_view(redis_player)
    assert [i.uri for i in view.queue] == [uri] and view.preview is None


# --- against the real Spotify client, under respx -------------------------------------------

ARTIST = fakes.artist(1, "Seed Artist")
ALBUMS = [fakes.album(n) for n in range(1, 4)]


def album_body(n: int) -> dict[str, Any]:
    tracks = [fakes.track(n * 10 + k, artists=[ARTIST], with_album=False) for k in range(4)]
    return {**fakes.album(n), "tracks": {"items": tracks, "total": 4, "next": None}}


@pytest.fixture
def spotify() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.post(TOKEN_URL).mock(
            return_value=httpx.Response(200, json={"access_token": "app", "expires_in": 3600})
        )
        yield router


def gone_routes(router: respx.MockRouter) -> list[respx.Route]:
    """Endpoints Spotify removed in February 2026: Bender must never call them."""
    return [
        router.get(url__regex=rf"{API}/artists/[^/]+/top-tracks.*"),
        router.get(url__regex=rf"{API}/artists/[^/]+/related-artists.*"),
        router.get(url__regex=rf"{API}/recommendations.*"),
        router.get(url__regex=rf"{API}/browse/.*"),
        router.get(url__regex=rf"{API}/tracks\?.*"),
        router.get(url__regex=rf"{API}/tracks/?$"),
    ]


async def test_bender_on_spotify_uses_only_current_endpoints(
    redis_player: Redis, tmp_path: Path, spotify: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    gone = gone_routes(spotify)
    seed = fakes.track(1, artists=[ARTIST])
    spotify.get(f"{API}/tracks/{seed['id']}").mock(return_value=httpx.Response(200, json=seed))
    albums = spotify.get(f"{API}/artists/{ARTIST['id']}/albums").mock(
        return_value=httpx.Response(200, json={"items": ALBUMS, "next": None})
    )
    for n in range(1, 4):
        spotify.get(f"{API}/albums/{fakes.album(n)['id']}").mock(
            return_value=httpx.Response(200, json=album_body(n))
        )
    search = spotify.get(f"{API}/search").mock(
        return_value=httpx.Response(
            200,
            json={"tracks": {"items": [fakes.track(90, artists=[ARTIST])], "next": None}},
        )
    )
    filtered_uri = album_body(2)["tracks"]["items"][0]["uri"]
    await redis_player.set(keys.filtered(filtered_uri), "1", ex=FILTER_TTL_S)
    await redis_player.set(keys.BENDER_SEED, seed["uri"])
    catalog = SpotifyCatalog(http=http, redis=redis_player, settings=fakes.settings(), backoff_s=0)
    bender = make_bender(redis_player, catalog, tmp_path)

    assert await bender.step() == 0.0

    assert all(route.call_count == 0 for route in gone)
    assert albums.call_count == 1 and search.call_count == 1
    params = search.calls[0].request.url.params
    assert int(params["limit"]) <= 10 and params["type"] == "track"
    uris = {c["uri"] for c in await candidates(redis_player)}
    preview = json.loads(await redis_player.get(keys.PREVIEW) or "{}")
    uris.add(preview["uri"])
    assert filtered_uri not in uris and seed["uri"] not in uris
    assert fakes.track(90)["uri"] in uris or len(uris) > 5


async def test_bender_on_spotify_429_waits_retry_after_without_retrying(
    redis_player: Redis, tmp_path: Path, spotify: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    seed = fakes.track(1, artists=[ARTIST])
    lookup = spotify.get(url__regex=re.escape(f"{API}/tracks/") + ".*").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "42"})
    )
    await redis_player.set(keys.BENDER_SEED, seed["uri"])
    catalog = SpotifyCatalog(http=http, redis=redis_player, settings=fakes.settings(), backoff_s=0)
    bender = make_bender(redis_player, catalog, tmp_path)

    first = await bender.step()
    second = await bender.step()

    assert first == 42.0 and 40.0 <= second <= 42.0
    assert lookup.call_count == 1  # the shared flag stops the second try before any request
