"""The choice of catalog: the real Spotify one, or the built-in demo one without credentials."""

from __future__ import annotations

import httpx
from redis.asyncio import Redis

from shared.settings import AndreSettings
from shared.spotify.catalog import Catalog
from shared.spotify.client import SpotifyCatalog
from shared.spotify.demo import DemoCatalog


def create_catalog(settings: AndreSettings, redis: Redis, http: httpx.AsyncClient) -> Catalog:
    """The real Spotify catalog, or the built-in demo catalog when no credentials are set."""
    if not settings.spotify_configured:
        return DemoCatalog()
    return SpotifyCatalog(http=http, redis=redis, settings=settings)
