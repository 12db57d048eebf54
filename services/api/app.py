"""The api service's application factory: token-guarded routers, one error table, events hub."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse

from services.api.auth import (
    SCHEME_NAME,
    SECURITY_SCHEME,
    AuthGuard,
    TokenTable,
    require_api_token,
)
from services.api.body import BodySizeLimit
from services.api.errors import error_doc, install_error_handlers, unexpected_error
from services.api.fastpath import QueueFastPath
from services.api.routes import catalog, events, queue, spotify
from services.api.settings import ApiSettings
from shared.asgi import ContainErrors, RedisDep, make_lifespan
from shared.events import EventHub
from shared.queue.queue import QueueReader, QueueRules
from shared.ratelimit import Limit
from shared.redis_client import redis_ok
from shared.spotify.connect import SpotifyConnect
from shared.spotify.factory import create_catalog
from shared.spotify.tokens import UserTokenStore


async def _startup(app: FastAPI) -> None:
    settings: ApiSettings = app.state.settings
    redis, http = app.state.redis, app.state.http
    app.state.catalog = create_catalog(settings, redis, http)
    app.state.connect = SpotifyConnect(http, UserTokenStore(redis, settings.secret_key), settings)
    app.state.queue_reader = QueueReader(redis)
    app.state.hub = EventHub(redis)
    await app.state.hub.start()


async def _shutdown(app: FastAPI) -> None:
    hub: EventHub | None = getattr(app.state, "hub", None)
    if hub is not None:
        await hub.stop()


def create_app(settings: ApiSettings) -> FastAPI:
    # Parsed before anything starts: a malformed ANDRE_API_TOKENS stops the service clearly.
    tokens = TokenTable.from_settings(settings)
    app = FastAPI(
        title="Andre API",
        lifespan=make_lifespan(settings, on_startup=_startup, on_shutdown=_shutdown),
        # Served by a guarded route below: every /api/* path but health needs the token.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # No redirects under /api/ (DESIGN §4): "/api/queue/" is a 404 {"error"}, not a 307.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.guard = AuthGuard(settings, tokens)
    app.state.rules = QueueRules.from_settings(settings)
    app.state.add_limit = Limit("api_add", settings.api_add_max, settings.api_add_window_s)
    install_error_handlers(app)
    # Outermost last: errors are contained around everything, then oversized bodies are refused,
    # then the GET /api/queue fast path.
    app.add_middleware(QueueFastPath)  # see services/api/fastpath.py
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(ContainErrors, respond=unexpected_error)

    @app.get("/api/health", tags=["health"])
    async def health(redis: RedisDep) -> JSONResponse:
        """Liveness and Redis reachability; public."""
        if not await redis_ok(redis):
            return JSONResponse({"status": "error", "error": "redis unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    # Every router but health sits behind the token: a new route cannot forget it.
    guarded = APIRouter(prefix="/api", dependencies=[Depends(require_api_token)])
    for module in (queue, catalog, spotify, events):
        guarded.include_router(module.router)

    @guarded.get("/openapi.json", include_in_schema=False)
    async def openapi_schema() -> JSONResponse:
        """The OpenAPI schema of this API (token-guarded like every route but health)."""
        return JSONResponse(app.openapi())

    app.include_router(guarded)
    _document_security(app)
    return app


_ERRORS = {
    "400": "Missing required field / Invalid field",
    "401": "Missing or malformed Authorization header (WWW-Authenticate: Bearer)",
    "403": "Invalid API token",
    "413": "Request body too large",
    "429": "Rate limited (Retry-After)",
    "503": "API token not configured on server, or the queue store unavailable (Retry-After)",
}


def _document_security(app: FastAPI) -> None:
    """List the bearer scheme on every route but health in /api/openapi.json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME_NAME] = (
                SECURITY_SCHEME
            )
            for path, operations in schema.get("paths", {}).items():
                if path == "/api/health":
                    continue
                for operation in operations.values():
                    operation["security"] = [{SCHEME_NAME: []}]
                    responses = operation.setdefault("responses", {})
                    responses.pop("422", None)  # never sent: bad input is a 400 {"error"}
                    for status, text in _ERRORS.items():
                        responses.setdefault(status, error_doc(text))
            for unused in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(unused, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
