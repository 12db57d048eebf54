"""The player's process: the worker loop plus a tiny health endpoint, owned by one lifespan."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from services.player.settings import PlayerSettings
from services.player.worker import Worker
from shared import keys
from shared.asgi import RedisDep, make_lifespan


def create_app(settings: PlayerSettings) -> FastAPI:
    async def start_worker(app: FastAPI) -> None:
        worker = Worker(settings, app.state.redis)
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
        """Healthy while the worker's heartbeat is fresh."""
        try:
            beat = await redis.get(keys.PLAYER_HEARTBEAT)
        except Exception:  # noqa: BLE001 - report, do not raise
            return JSONResponse({"status": "error", "error": "redis unavailable"}, status_code=503)
        if beat is None:
            return JSONResponse({"status": "error", "error": "no heartbeat"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
