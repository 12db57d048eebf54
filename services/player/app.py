"""The player's process: the worker loop plus a tiny health endpoint, owned by one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.player.bender import Bender
from services.player.settings import PlayerSettings
from services.player.speaker import HouseSpeaker
from services.player.worker import Worker
from shared import keys
from shared.asgi import RedisDep, make_lifespan
from shared.spotify.catalog import create_catalog
from shared.spotify.connect import SpotifyConnect
from shared.spotify.tokens import UserTokenStore

log = logging.getLogger(__name__)


def create_worker(app: FastAPI, settings: PlayerSettings) -> Worker:
    redis = app.state.redis
    catalog = create_catalog(settings, redis, app.state.http)
    bender = Bender(
        redis,
        catalog,
        bender_email=settings.bender_email,
        play_log_dir=settings.play_log_dir,
        events_max_len=settings.events_max_len,
        backoff_max_s=settings.bender_backoff_max_s,
    )
    worker = Worker(settings, redis, bender=bender)
    worker.speaker = create_speaker(app, settings, worker)
    return worker


def create_speaker(app: FastAPI, settings: PlayerSettings, worker: Worker) -> HouseSpeaker | None:
    """The house speaker when ANDRE_SPOTIFY_EMAIL names an account (it may link later)."""
    if not settings.spotify_email:
        return None
    if not settings.spotify_configured:
        log.warning("house speaker: ANDRE_SPOTIFY_EMAIL is set but no Spotify app is configured")
        return None
    tokens = UserTokenStore(app.state.redis, settings.secret_key)
    connect = SpotifyConnect(app.state.http, tokens, settings)
    return HouseSpeaker(
        connect,
        settings.spotify_email,
        worker.clock,
        backoff_max_s=settings.speaker_backoff_max_s,
    )


def create_app(settings: PlayerSettings) -> FastAPI:
    async def start_worker(app: FastAPI) -> None:
        worker = create_worker(app, settings)
        app.state.worker = worker
        app.state.worker_task = asyncio.create_task(worker.run(), name="player-worker")

    async def stop_worker(app: FastAPI) -> None:
        app.state.worker.stop()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(app.state.worker_task, timeout=4)

    app = FastAPI(
        title="Andre player",
        lifespan=make_lifespan(settings, on_startup=start_worker, on_shutdown=stop_worker),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/health")
    async def health(redis: RedisDep) -> JSONResponse:
        """Healthy while this process's worker ticks and the shared heartbeat is fresh."""
        worker: Worker = app.state.worker
        if time.monotonic() - worker.last_tick_monotonic > settings.heartbeat_ttl_s:
            return JSONResponse({"status": "error", "error": "worker stalled"}, status_code=503)
        try:
            beat = await redis.get(keys.PLAYER_HEARTBEAT)
        except Exception:  # noqa: BLE001 - report, do not raise
            return JSONResponse({"status": "error", "error": "redis unavailable"}, status_code=503)
        if beat is None:
            return JSONResponse({"status": "error", "error": "no heartbeat"}, status_code=503)
        return JSONResponse({"status": "ok", "leader": worker.is_leader})

    return app
