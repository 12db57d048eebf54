from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.api.app import create_app
from shared.spotify.errors import SpotifyNotConnected, SpotifyUpstreamError
from tests.services.api.conftest import AUTH, build_settings, running
from tests.support.redis_server import RedisServer

HOUSE = "house@example.com"


class FakeConnect:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.error: Exception | None = None
        self.state: dict[str, Any] | None = None

    def _maybe_fail(self) -> None:
        if self.error is not None:
            raise self.error

    async def devices(self, email: str) -> dict[str, Any]:
        self.calls.append(("devices", email))
        self._maybe_fail()
        return {"devices": [{"id": "dev1", "name": "Office"}]}

    async def transfer(self, email: str, device_id: str, play: bool = True) -> None:
        self.calls.append(("transfer", email, device_id, play))
        self._maybe_fail()

    async def status(self, email: str) -> dict[str, Any] | None:
        self.calls.append(("status", email))
        self._maybe_fail()
        return self.state


@pytest.fixture
async def spotify_client(
    redis_clean: RedisServer,
) -> AsyncIterator[tuple[httpx.AsyncClient, FakeConnect]]:
    app = create_app(build_settings(redis_clean, spotify_email=HOUSE))
    fake = FakeConnect()
    async with running(app, AUTH) as client:
        app.state.api.connect = fake
        yield client, fake


async def test_list_devices_passes_spotify_json(
    spotify_client: tuple[httpx.AsyncClient, FakeConnect],
) -> None:
    client, fake = spotify_client
    r = await client.get("/api/spotify/devices")
    assert r.status_code == 200 and r.json()["devices"][0]["id"] == "dev1"
    assert fake.calls == [("devices", HOUSE)]


async def test_transfer_playback_strict_play_flag(
    spotify_client: tuple[httpx.AsyncClient, FakeConnect],
) -> None:
    client, fake = spotify_client
    r = await client.post("/api/spotify/transfer", json={"device_id": "dev1", "play": False})
    assert r.json() == {"ok": True}
    r = await client.post("/api/spotify/transfer", json={"device_id": "dev1"})
    assert r.status_code == 200
    assert fake.calls == [("transfer", HOUSE, "dev1", False), ("transfer", HOUSE, "dev1", True)]
    r = await client.post("/api/spotify/transfer", json={"device_id": "dev1", "play": "false"})
    assert r.status_code == 400 and r.json() == {"error": "Invalid field: play"}
    r = await client.post("/api/spotify/transfer", json={})
    assert r.json() == {"error": "Missing required field: device_id"}


async def test_show_status_null_when_idle(
    spotify_client: tuple[httpx.AsyncClient, FakeConnect],
) -> None:
    client, fake = spotify_client
    r = await client.get("/api/spotify/status")
    assert r.status_code == 200 and r.json() is None
    fake.state = {"is_playing": True}
    assert (await client.get("/api/spotify/status")).json() == {"is_playing": True}


@pytest.mark.parametrize(
    ("error", "status"),
    [(SpotifyNotConnected("link Spotify"), 503), (SpotifyUpstreamError("boom"), 502)],
)
async def test_spotify_errors_mapped(
    spotify_client: tuple[httpx.AsyncClient, FakeConnect], error: Exception, status: int
) -> None:
    client, fake = spotify_client
    fake.error = error
    for method, path in (("GET", "/api/spotify/devices"), ("GET", "/api/spotify/status")):
        r = await client.request(method, path)
        assert r.status_code == status and "error" in r.json()
    r = await client.post("/api/spotify/transfer", json={"device_id": "d"})
    assert r.status_code == status


async def test_spotify_routes_house_account_unset_503(api_client: httpx.AsyncClient) -> None:
    for method, path in (("GET", "/api/spotify/devices"), ("GET", "/api/spotify/status")):
        r = await api_client.request(method, path)
        assert r.status_code == 503
        assert r.json() == {"error": "ANDRE_SPOTIFY_EMAIL not configured"}
