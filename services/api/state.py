"""The api's lifespan-owned resources as one typed object, built once per process.

``create_api_state`` opens them and closes them in reverse order; the app stores the result as
``app.state.api`` and every dependency in ``services.api.deps`` (and the auth layer) reads it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from starlette.requests import HTTPConnection

from services.api.settings import ApiSettings
from shared import sse
from shared.clients import open_clients
from shared.eventhub import EventHub
from shared.queue.queue import QueueReader, QueueRules
from shared.ratelimit import Limit
from shared.spotify.catalog import Catalog
from shared.spotify.connect import SpotifyConnect
from shared.spotify.factory import create_catalog
from shared.spotify.tokens import UserTokenStore
from shared.streamcap import StreamCap


@dataclass
class ApiState:
    settings: ApiSettings
    redis: Redis
    http: httpx.AsyncClient
    catalog: Catalog
    connect: SpotifyConnect
    hub: EventHub
    reader: QueueReader  # coalesces GET /api/queue reads of this process
    rules: QueueRules
    add_limit: Limit  # songs one token identity may add per window
    # Open /api/events streams per token identity over every replica (api_sse_streams_per_token).
    stream_cap: StreamCap


def api_state(conn: HTTPConnection) -> ApiState:
    """The lifespan's state, for code that is not a dependency."""
    return conn.app.state.api  # type: ignore[no-any-return]


@asynccontextmanager
async def create_api_state(settings: ApiSettings) -> AsyncIterator[ApiState]:
    """Open Redis, the httpx client and the event hub; close them when the block ends."""
    async with open_clients(settings) as (redis, http):  # Redis connects lazily
        hub = EventHub(redis, encode=sse.frame)
        state = ApiState(
            settings=settings,
            redis=redis,
            http=http,
            catalog=create_catalog(settings, redis, http),
            connect=SpotifyConnect(http, UserTokenStore(redis, settings.secret_key), settings),
            hub=hub,
            reader=QueueReader(redis),
            rules=QueueRules.from_settings(settings),
            add_limit=Limit("api_add", settings.api_add_max, settings.api_add_window_s),
            stream_cap=StreamCap("api", settings.api_sse_streams_per_token),
        )
        try:
            async with hub:  # started for the app's lifetime, stopped before Redis closes
                yield state
        finally:
            await state.reader.aclose()  # no read left half-done when the pool closes
