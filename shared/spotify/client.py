"""The real Spotify catalog over the Web API (async httpx). Placeholder: being implemented."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from shared.settings import AndreSettings
from shared.spotify.catalog import PAGE_SIZE, Track
from shared.spotify.errors import SpotifyUpstreamError


class SpotifyCatalog:
    is_demo: bool = False

    def __init__(self, *, http: httpx.AsyncClient, redis: Redis, settings: AndreSettings) -> None:
        self._http, self._redis, self._settings = http, redis, settings

    async def lookup(self, uri: str) -> Track:
        raise SpotifyUpstreamError("Spotify client not implemented yet")

    async def search(self, query: str, limit: int = PAGE_SIZE) -> list[Track]:
        raise SpotifyUpstreamError("Spotify client not implemented yet")

    async def artist_albums(self, artist_id: str, limit: int = PAGE_SIZE) -> list[str]:
        raise SpotifyUpstreamError("Spotify client not implemented yet")

    async def album_tracks(self, album_id: str) -> list[Track]:
        raise SpotifyUpstreamError("Spotify client not implemented yet")

    async def artist_tracks(self, artist_name: str, limit: int = PAGE_SIZE) -> list[Track]:
        raise SpotifyUpstreamError("Spotify client not implemented yet")
