"""The web service's application factory."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from services.web.routes import actions, pages
from services.web.settings import WebSettings
from services.web.templating import STATIC_DIR
from shared.asgi import RedisDep, make_lifespan
from shared.redis_client import redis_ok


def create_app(settings: WebSettings) -> FastAPI:
    app = FastAPI(
        title="Andre web",
        lifespan=make_lifespan(settings),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )

    @app.get("/health")
    async def health(redis: RedisDep) -> JSONResponse:
        """Liveness and Redis reachability; public."""
        if not await redis_ok(redis):
            return JSONResponse({"status": "error", "error": "redis unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(actions.router)
    return app
