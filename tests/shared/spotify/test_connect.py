from __future__ import annotations

import json
import time

import httpx
import pytest
import respx

from shared.spotify.connect import SpotifyConnect
from shared.spotify.errors import (
    SpotifyNoActiveDevice,
    SpotifyNotConnected,
    SpotifyRateLimited,
    SpotifyUpstreamError,
)
from shared.spotify.tokens import TokenSet, UserTokenStore
from tests.shared.spotify import fakes
from tests.shared.spotify.conftest import FakeClock
from tests.shared.spotify.fakes import API, TOKEN_URL

EMAIL = "house@example.com"
PLAYER = f"{API}/me/player"
URIS = ["spotify:track:" + fakes.sid(1)]


@pytest.fixture
async def connect(
    http: httpx.AsyncClient, store: UserTokenStore, clock: FakeClock
) -> SpotifyConnect:
    await store.save(
        EMAIL,
        TokenSet(
            access_token="user-access", refresh_token="user-refresh", expires_at=clock.now + 3600
        ),
    )
    return SpotifyConnect(http, store, fakes.settings(), backoff_s=0.0)


def _bearer(route: respx.Route, index: int = 0) -> str:
    return route.calls[index].request.headers["Authorization"]


async def test_connect_play_sends_uris_position_and_device(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    route = spotify.put(f"{PLAYER}/play").mock(return_value=httpx.Response(204))
    await connect.play(EMAIL, URIS, position_ms=61_500, device_id="dev-1")
    request = route.calls[0].request
    assert json.loads(request.content) == {"uris": URIS, "position_ms": 61_500}
    assert request.url.params["device_id"] == "dev-1"
    assert _bearer(route) == "Bearer user-access"


async def test_connect_pause_resume_next_call_player_endpoints(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    pause = spotify.put(f"{PLAYER}/pause").mock(return_value=httpx.Response(204))
    resume = spotify.put(f"{PLAYER}/play").mock(return_value=httpx.Response(204))
    skip = spotify.post(f"{PLAYER}/next").mock(return_value=httpx.Response(204))
    await connect.pause(EMAIL)
    await connect.resume(EMAIL)
    await connect.next_track(EMAIL)
    assert (pause.call_count, resume.call_count, skip.call_count) == (1, 1, 1)
    assert resume.calls[0].request.content == b""
    assert "device_id" not in pause.calls[0].request.url.params


async def test_connect_transfer_puts_device_and_play_flag(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    route = spotify.put(PLAYER).mock(return_value=httpx.Response(204))
    await connect.transfer(EMAIL, "dev-9", play=False)
    assert json.loads(route.calls[0].request.content) == {"device_ids": ["dev-9"], "play": False}


async def test_connect_devices_returns_spotify_json(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    body = {"devices": [{"id": "dev-1", "name": "Office", "is_active": True}]}
    spotify.get(f"{PLAYER}/devices").mock(return_value=httpx.Response(200, json=body))
    assert await connect.devices(EMAIL) == body


async def test_connect_status_nothing_playing_returns_none(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    spotify.get(PLAYER).mock(return_value=httpx.Response(204))
    assert await connect.status(EMAIL) is None


async def test_connect_status_playing_returns_state(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    state = {"is_playing": True, "progress_ms": 1000, "item": {"uri": URIS[0]}}
    spotify.get(PLAYER).mock(return_value=httpx.Response(200, json=state))
    assert await connect.status(EMAIL) == state


async def test_connect_401_refreshes_token_once_and_retries(
    connect: SpotifyConnect, spotify: respx.MockRouter, store: UserTokenStore
) -> None:
    token = spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "renewed", "expires_in": 3600})
    )
    route = spotify.put(f"{PLAYER}/play").mock(
        side_effect=[httpx.Response(401), httpx.Response(204)]
    )
    await connect.play(EMAIL, URIS, 0)
    assert token.call_count == 1 and route.call_count == 2
    assert _bearer(route, 0) == "Bearer user-access"
    assert _bearer(route, 1) == "Bearer renewed"
    saved = await store.load(EMAIL)
    assert saved is not None and saved.access_token == "renewed"


async def test_connect_401_after_refresh_raises_not_connected(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    token = spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "renewed", "expires_in": 3600})
    )
    route = spotify.put(f"{PLAYER}/pause").mock(return_value=httpx.Response(401))
    with pytest.raises(SpotifyNotConnected):
        await connect.pause(EMAIL)
    assert token.call_count == 1 and route.call_count == 2


async def test_connect_expired_token_refreshed_before_call(
    connect: SpotifyConnect, spotify: respx.MockRouter, clock: FakeClock
) -> None:
    clock.now += 3600
    spotify.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"access_token": "renewed", "expires_in": 3600})
    )
    route = spotify.put(f"{PLAYER}/pause").mock(return_value=httpx.Response(204))
    await connect.pause(EMAIL)
    assert _bearer(route) == "Bearer renewed"


async def test_connect_429_raises_rate_limited_at_once(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    route = spotify.put(f"{PLAYER}/play").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "17"})
    )
    started = time.monotonic()
    with pytest.raises(SpotifyRateLimited) as caught:
        await connect.play(EMAIL, URIS, 0)
    assert time.monotonic() - started < 0.5
    assert caught.value.retry_after_s == 17 and route.call_count == 1


async def test_connect_404_raises_no_active_device(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    spotify.put(f"{PLAYER}/play").mock(
        return_value=httpx.Response(
            404,
            json={
                "error": {
                    "status": 404,
                    "message": "No active device",
                    "reason": "NO_ACTIVE_DEVICE",
                }
            },
        )
    )
    with pytest.raises(SpotifyNoActiveDevice):
        await connect.play(EMAIL, URIS, 0)


async def test_connect_5xx_retried_then_succeeds(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    route = spotify.put(f"{PLAYER}/pause").mock(
        side_effect=[httpx.Response(502), httpx.Response(204)]
    )
    await connect.pause(EMAIL)
    assert route.call_count == 2


async def test_connect_5xx_exhausted_raises_upstream_error(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    route = spotify.put(f"{PLAYER}/play").mock(return_value=httpx.Response(500))
    with pytest.raises(SpotifyUpstreamError):
        await connect.play(EMAIL, URIS, 0)
    assert route.call_count == 3


async def test_connect_next_track_5xx_not_retried(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    route = spotify.post(f"{PLAYER}/next").mock(return_value=httpx.Response(503))
    with pytest.raises(SpotifyUpstreamError):
        await connect.next_track(EMAIL)
    assert route.call_count == 1


async def test_connect_not_linked_raises_not_connected_without_http(
    connect: SpotifyConnect, spotify: respx.MockRouter
) -> None:
    with pytest.raises(SpotifyNotConnected):
        await connect.devices("nobody@example.com")
    assert len(spotify.calls) == 0
