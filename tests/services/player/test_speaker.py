from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import respx
from redis.asyncio import Redis

from services.player.speaker import HouseSpeaker
from services.player.worker import Worker
from shared.queue.control import request_skip
from shared.spotify.connect import SpotifyConnect
from shared.spotify.tokens import TokenSet, UserTokenStore
from tests.services.player.conftest import FakeClock, SteppedWaiter
from tests.services.player.helpers import add, now_playing, set_paused
from tests.shared.spotify import fakes
from tests.shared.spotify.fakes import API, TOKEN_URL

EMAIL = "house@example.com"
GUARD_S = 5.0  # bounds a test that would otherwise hang; never a timing assertion
PLAYER = f"{API}/me/player"


@pytest.fixture
def waiter(clock: FakeClock) -> SteppedWaiter:
    return SteppedWaiter(clock)


@pytest.fixture
async def speaker(
    redis_player: Redis, http: httpx.AsyncClient, clock: FakeClock, waiter: SteppedWaiter
) -> HouseSpeaker:
    store = UserTokenStore(redis_player, fakes.SECRET_KEY, backoff_s=0.0)
    await store.save(
        EMAIL,
        TokenSet(
            access_token="house-access",
            refresh_token="house-refresh",
            expires_at=time.time() + 3600,
        ),
    )
    connect = SpotifyConnect(http, store, fakes.settings(), backoff_s=0.0)
    return HouseSpeaker(
        connect,
        EMAIL,
        clock,
        backoff_min_s=1.0,
        backoff_max_s=8.0,
        waiter=waiter,
        monotonic=clock.monotonic,
    )


@pytest.fixture
def worker(settings: Any, redis_player: Redis, clock: FakeClock, speaker: HouseSpeaker) -> Worker:
    return Worker(settings, redis_player, clock=clock, speaker=speaker, token="w")


def body(route: respx.Route, index: int = -1) -> Any:
    content = route.calls[index].request.content
    return json.loads(content) if content else None


async def test_speaker_song_start_plays_uri_at_position(
    worker: Worker,
    speaker: HouseSpeaker,
    redis_player: Redis,
    clock: FakeClock,
    spotify: respx.MockRouter,
) -> None:
    play = spotify.put(f"{PLAYER}/play").mock(return_value=httpx.Response(204))
    await add(redis_player, 1)
    await worker.tick()
    np = await now_playing(redis_player)
    assert np is not None
    clock.advance(1_500)

    assert await speaker.sync() is None

    assert body(play) == {"uris": [np["item"]["uri"]], "position_ms": 1_500}
    assert play.calls[-1].request.headers["Authorization"] == "Bearer house-access"


async def test_speaker_pause_and_resume_follow_the_queue(
    worker: Worker,
    speaker: HouseSpeaker,
    redis_player: Redis,
    clock: FakeClock,
    spotify: respx.MockRouter,
) -> None:
    play = spotify.put(f"{PLAYER}/play").mock(return_value=httpx.Response(204))
    pause = spotify.put(f"{PLAYER}/pause").mock(return_value=httpx.Response(204))
    await add(redis_player, 1)
    await worker.tick()
    await speaker.sync()

    await set_paused(redis_player, True, clock.now)
    await worker.tick()
    await speaker.sync()
    assert pause.call_count == 1

    await set_paused(redis_player, False, clock.now)
    await worker.tick()
    await speaker.sync()
    assert play.call_count == 2
    assert body(play) is None  # resume: no uris, the device continues where it paused


async def test_speaker_skip_calls_next_then_plays_next_song(
    worker: Worker, speaker: HouseSpeaker, redis_player: Redis, spotify: respx.MockRouter
) -> None:
    play = spotify.put(f"{PLAYER}/play").mock(return_value=httpx.Response(204))
    nxt = spotify.post(f"{PLAYER}/next").mock(return_value=httpx.Response(204))
    await add(redis_player, 1)
    await add(redis_player, 2)
    await worker.tick()
    await speaker.sync()

    assert await request_skip(redis_player)
    await worker.tick()
    await speaker.sync()

    np = await now_playing(redis_player)
    assert np is not None
    assert nxt.call_count == 1
    assert body(play) == {"uris": [np["item"]["uri"]], "position_ms": 0}


async def test_speaker_401_refreshes_token_and_retries(
    worker: Worker, speaker: HouseSpeaker, redis_player: Redis, spotify: respx.MockRouter
) -> None:
    play = spotify.put(f"{PLAYER}/play").mock(
        side_effect=[httpx.Response(401), httpx.Response(204)]
    )
    refresh = spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "fresh", "expires_in": 3600})
    )
    await add(redis_player, 1)
    await worker.tick()

    assert await speaker.sync() is None

    assert refresh.call_count == 1
    assert play.calls[-1].request.headers["Authorization"] == "Bearer fresh"


async def test_speaker_429_waits_retry_after_instead_of_looping(
    worker: Worker,
    speaker: HouseSpeaker,
    redis_player: Redis,
    waiter: SteppedWaiter,
    spotify: respx.MockRouter,
) -> None:
    play = spotify.put(f"{PLAYER}/play").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(204)]
    )
    await add(redis_player, 1)
    await worker.tick()
    waiter.stop_after = 3

    await asyncio.wait_for(speaker.run(asyncio.Event()), GUARD_S)

    # Woken by the new song; 1 s (Retry-After) before the retry; then in sync, waiting for news.
    assert waiter.calls == [(None, True), (1.0, False), (None, False)]
    assert play.call_count == 2


async def test_speaker_429_holds_retry_after_even_when_the_state_changes(
    worker: Worker,
    speaker: HouseSpeaker,
    redis_player: Redis,
    clock: FakeClock,
    waiter: SteppedWaiter,
    spotify: respx.MockRouter,
) -> None:
    play = spotify.put(f"{PLAYER}/play").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "5"}), httpx.Response(204)]
    )
    await add(redis_player, 1)
    await add(redis_player, 2)
    await worker.tick()

    async def skip() -> None:
        assert await request_skip(redis_player)
        await worker.tick()

    waiter.script = [_nothing, skip]
    waiter.stop_after = 4
    started = clock.now

    await asyncio.wait_for(speaker.run(asyncio.Event()), GUARD_S)

    # The skip wakes it at once, but Spotify is not called before the 5 s are over.
    assert waiter.calls == [(None, True), (5.0, True), (5.0, None), (None, False)]
    assert clock.now - started == 5_000
    assert play.call_count == 2
    np = await now_playing(redis_player)
    # ...and then plays the new song where the clock says it is.
    assert np is not None and body(play) == {"uris": [np["item"]["uri"]], "position_ms": 5_000}


async def _nothing() -> None:
    pass


async def test_speaker_no_device_backs_off_while_clock_keeps_going(
    worker: Worker,
    speaker: HouseSpeaker,
    redis_player: Redis,
    clock: FakeClock,
    spotify: respx.MockRouter,
) -> None:
    spotify.put(f"{PLAYER}/play").mock(return_value=httpx.Response(404))
    await add(redis_player, 1, duration_ms=1_000)
    second = await add(redis_player, 2)
    await worker.tick()

    delays = [await speaker.sync() for _ in range(5)]
    clock.advance(1_000)
    await worker.tick()

    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    np = await now_playing(redis_player)
    assert np is not None and np["item"]["id"] == second
