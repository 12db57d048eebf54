"""The web service's application factory."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from services.web.auth import dev, guests, login, logout, spotify
from services.web.errors import install_error_handlers, unexpected_error
from services.web.routes import actions, art, join, pages, room, stream, tv
from services.web.security import (
    ActionBodyGuard,
    RelativeSlashRedirect,
    SecurityHeadersMiddleware,
)
from services.web.settings import WebSettings
from services.web.state import RedisDep, lifespan
from services.web.templating import STATIC_DIR
from shared.asgi import ContainErrors
from shared.redis_client import redis_ok


def create_app(settings: WebSettings) -> FastAPI:
    app = FastAPI(
        title="Andre web",
        lifespan=lifespan(settings),
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
    app.include_router(login.router)
    app.include_router(dev.router)
    app.include_router(guests.router)
    app.include_router(spotify.router)
    app.include_router(logout.router)
    app.include_router(pages.router)
    app.include_router(actions.router)
    app.include_router(stream.router)
    app.include_router(room.router)
    app.include_router(join.router)
    app.include_router(tv.router)
    app.include_router(art.router)
    install_error_handlers(app)
    # Deliberately no CORSMiddleware: the browser UI is same-origin only. Errors are contained
    # inside the headers layer, so an unexpected 500 or a 503 still carries CSP and no-store.
    # Trailing-slash redirects are relative, never built from the Host header (see security.py).
    app.router.redirect_slashes = False
    app.add_middleware(RelativeSlashRedirect)
    app.add_middleware(ActionBodyGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(ContainErrors, respond=unexpected_error)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    return app
