"""Everything the web process holds for its lifetime, built once by the lifespan.

``open_state`` builds a ``WebState`` at startup and ``close`` undoes it at shutdown; the
dependencies (``services.web.auth.deps``, ``services.web.routes.deps`` and the ones below) only
read it. Nothing is created lazily on a request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from services.web.identity.oidc import OIDCClient
from services.web.identity.sessions import SessionStore
from services.web.limits import WebLimits
from services.web.settings import WebSettings
from shared import sse
from shared.clients import open_clients
from shared.eventhub import EventHub
from shared.queue.queue import QueueReader, QueueRules
from shared.spotify.catalog import Catalog
from shared.spotify.factory import create_catalog
from shared.spotify.tokens import UserTokenStore
from shared.streamcap import StreamCap


@dataclass(frozen=True)
class WebState:
    settings: WebSettings
    redis: Redis
    http: httpx.AsyncClient
    limits: WebLimits
    rules: QueueRules
    catalog: Catalog
    sessions: SessionStore
    # One per process: its refresh locks must be shared by every request.
    user_tokens: UserTokenStore
    # One per process: caches the provider's metadata and keys.
    oidc: OIDCClient
    # Tails the Redis event stream in a background task for every open /events stream.
    hub: EventHub
    # Coalesces GET /queue reads of this process (the page's polls and every client's refresh).
    reader: QueueReader
    # Open /events streams per user over every replica (routes/stream.py, sse_streams_per_user).
    stream_cap: StreamCap


@asynccontextmanager
async def open_state(settings: WebSettings) -> AsyncIterator[WebState]:
    """Build the state, and at exit stop the hub before Redis closes (it tails Redis)."""
    limits = WebLimits.from_settings(settings)
    async with open_clients(settings) as (redis, http):
        hub = EventHub(redis, encode=sse.frame)
        state = WebState(
            settings=settings,
            redis=redis,
            http=http,
            limits=limits,
            rules=QueueRules.from_settings(settings),
            catalog=create_catalog(settings, redis, http),
            sessions=SessionStore(redis, settings, sign_ins=limits.sign_in_email),
            user_tokens=UserTokenStore(redis, settings.secret_key),
            oidc=OIDCClient(settings, http),
            hub=hub,
            reader=QueueReader(redis),
            stream_cap=StreamCap("web", settings.sse_streams_per_user),
        )
        async with hub:  # started for the app's lifetime, stopped before Redis closes
            try:
                yield state
            finally:
                await state.reader.aclose()  # before the hub and the pool close


def lifespan(settings: WebSettings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: ``app.state.web`` is the ``WebState`` while the app runs."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        async with open_state(settings) as state:
            app.state.web = state
            try:
                yield
            finally:
                del app.state.web

    return run


def web_state(app: Starlette) -> WebState:
    """The running app's state (``AttributeError`` outside its lifespan)."""
    state: WebState = app.state.web
    return state


# The dependencies are async on purpose: FastAPI runs a plain ``def`` one in a worker thread.
async def get_redis(request: HTTPConnection) -> Redis:
    return web_state(request.app).redis


async def get_http(request: HTTPConnection) -> httpx.AsyncClient:
    return web_state(request.app).http


async def get_limits(request: HTTPConnection) -> WebLimits:
    return web_state(request.app).limits


RedisDep = Annotated[Redis, Depends(get_redis)]
HttpDep = Annotated[httpx.AsyncClient, Depends(get_http)]
LimitsDep = Annotated[WebLimits, Depends(get_limits)]
