"""The player's process: the worker loop plus a tiny health endpoint, owned by one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from services.player.bender import Bender
from services.player.settings import PlayerSettings
from services.player.speaker import HouseSpeaker
from services.player.worker import Worker
from shared import keys
from shared.clients import open_clients
from shared.spotify.connect import SpotifyConnect
from shared.spotify.factory import create_catalog
from shared.spotify.tokens import UserTokenStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlayerState:
    """Everything the player process holds for its lifetime, built once by the lifespan."""

    settings: PlayerSettings
    redis: Redis
    http: httpx.AsyncClient
    worker: Worker
    worker_task: asyncio.Task[None]


def create_worker(settings: PlayerSettings, redis: Redis, http: httpx.AsyncClient) -> Worker:
    catalog = create_catalog(settings, redis, http)
    bender = Bender(
        redis,
        catalog,
        bender_email=settings.bender_email,
        play_log_dir=settings.play_log_dir,
        events_max_len=settings.events_max_len,
        backoff_max_s=settings.bender_backoff_max_s,
    )
    worker = Worker(settings, redis, bender=bender)
    worker.speaker = create_speaker(settings, redis, http, worker)
    return worker


def create_speaker(
    settings: PlayerSettings, redis: Redis, http: httpx.AsyncClient, worker: Worker
) -> HouseSpeaker | None:
    """The house speaker when ANDRE_SPOTIFY_EMAIL names an account (it may link later)."""
    if not settings.spotify_email:
        return None
    if not settings.spotify_configured:
        log.warning("house speaker: ANDRE_SPOTIFY_EMAIL is set but no Spotify app is configured")
        return None
    tokens = UserTokenStore(redis, settings.secret_key)
    connect = SpotifyConnect(http, tokens, settings)
    return HouseSpeaker(
        connect,
        settings.spotify_email,
        worker.clock,
        backoff_max_s=settings.speaker_backoff_max_s,
    )


@asynccontextmanager
async def open_state(settings: PlayerSettings) -> AsyncIterator[PlayerState]:
    """Open Redis and the httpx client, run the worker; at exit stop it before they close."""
    async with open_clients(settings) as (redis, http):
        worker = create_worker(settings, redis, http)
        task = asyncio.create_task(worker.run(), name="player-worker")
        try:
            yield PlayerState(settings, redis, http, worker, task)
        finally:
            worker.stop()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=4)


def player_state(request: Request) -> PlayerState:
    state: PlayerState = request.app.state.player
    return state


def create_app(settings: PlayerSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_state(settings) as state:
            app.state.player = state
            yield

    app = FastAPI(
        title="Andre player",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        """Healthy while this process's worker ticks and the shared heartbeat is fresh."""
        state = player_state(request)
        worker = state.worker
        if time.monotonic() - worker.last_tick_monotonic > state.settings.heartbeat_ttl_s:
            return JSONResponse({"status": "error", "error": "worker stalled"}, status_code=503)
        try:
            beat = await state.redis.get(keys.PLAYER_HEARTBEAT)
        except Exception:  # noqa: BLE001 - report, do not raise
            return JSONResponse({"status": "error", "error": "redis unavailable"}, status_code=503)
        if beat is None:
            return JSONResponse({"status": "error", "error": "no heartbeat"}, status_code=503)
        return JSONResponse({"status": "ok", "leader": worker.is_leader})

    return app
