"""The api service's application factory: one bearer-auth layer, routers, one error table."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from services.api.auth import SCHEME_NAME, SECURITY_SCHEME, BearerAuth, GuardedPaths, TokenTable
from services.api.body import BodySizeLimit
from services.api.deps import RedisDep
from services.api.errors import error_doc, install_error_handlers, unexpected_error
from services.api.routes import PREFIX, airhorns, catalog, events, queue, spotify
from services.api.scopes import RouteScopes, needs
from services.api.settings import ApiSettings
from services.api.state import create_api_state
from shared.asgi import ContainErrors
from shared.redis_client import redis_ok

HEALTH = f"{PREFIX}/health"


def create_app(settings: ApiSettings) -> FastAPI:
    # Parsed before anything starts: a malformed ANDRE_API_TOKENS stops the service clearly.
    tokens = TokenTable.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with create_api_state(settings) as state:
            app.state.api = state
            # What exists now (modules, routes, schemas, these resources) lives as long as the
            # process: moved out of the cyclic GC's reach, its full passes no longer walk all of
            # it while requests wait (they cost GET /api/queue a fifth of its time).
            gc.freeze()
            try:
                yield
            finally:
                gc.unfreeze()

    app = FastAPI(
        title="Andre API",
        lifespan=lifespan,
        # Served by a guarded route below: every /api/* path but health needs the token.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # No redirects under /api/ (DESIGN §4): "/api/queue/" is a 404 {"error"}, not a 307.
        redirect_slashes=False,
        # FastAPI's native OpenTelemetry hooks: nothing here exports traces or metrics (the
        # logs are the record), and each hook costs on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)

    # Every /api route is declared on one of these routers (BearerAuth guards their paths), each
    # included one level deep under the prefix: each nesting level is matched on every request.
    routers = [module.router for module in (queue, catalog, airhorns, spotify, events)]
    schema_router = APIRouter(prefix=PREFIX)

    @schema_router.get("/openapi.json", include_in_schema=False, openapi_extra=needs("read"))
    async def openapi_schema() -> JSONResponse:
        """The OpenAPI schema of this API (token-guarded like every route but health)."""
        return JSONResponse(app.openapi())

    routers.append(schema_router)
    # The routes themselves, not the routers: FastAPI matches an included router's routes
    # twice (once to pick the router, once inside it) on every request.
    for router in routers:
        app.router.routes.extend(router.routes)

    # After the routers: the polled routes are matched first.
    @app.get(HEALTH, tags=["health"])
    async def health(redis: RedisDep) -> JSONResponse:
        """Liveness and Redis reachability; public."""
        if not await redis_ok(redis):
            return JSONResponse({"status": "error", "error": "redis unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    guarded = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]

    # Outermost last: errors are contained around everything, then oversized bodies are refused,
    # then the token is checked (every /api route but health; unknown paths go on to a 404).
    app.add_middleware(
        BearerAuth,
        tokens=tokens,
        settings=settings,
        guarded=GuardedPaths((r.path for r in guarded), public=[HEALTH]),
        scopes=RouteScopes(guarded),
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(ContainErrors, respond=unexpected_error)
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
                if path == HEALTH:
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
