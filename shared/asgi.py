"""Pieces every FastAPI service shares: lifespan-owned resources and their dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request
from redis.asyncio import Redis
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.redis_client import create_redis
from shared.settings import AndreSettings

Hook = Callable[[FastAPI], Awaitable[None]]


def make_lifespan(
    settings: AndreSettings,
    *,
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
) -> Callable[[FastAPI], Any]:
    """A lifespan that opens Redis and one httpx client, and closes both at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.redis = create_redis(settings)
        app.state.http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
        try:
            if on_startup is not None:
                await on_startup(app)
            yield
        finally:
            try:
                if on_shutdown is not None:
                    await on_shutdown(app)
            finally:
                await app.state.http.aclose()
                await app.state.redis.aclose()

    return lifespan


def app_redis(request: Request) -> Redis:
    """The lifespan's Redis client, for code that is not a dependency."""
    return request.app.state.redis  # type: ignore[no-any-return]


# The dependencies are async on purpose: FastAPI runs a plain ``def`` one in a worker thread.
async def get_redis(request: Request) -> Redis:
    return app_redis(request)


RedisDep = Annotated[Redis, Depends(get_redis)]


Responder = Callable[[Request, Exception], Awaitable[Response]]


class ContainErrors:
    """Answers any exception a request raises, and does not re-raise it.

    Starlette's outermost error layer sends its 500 and then re-raises, and uvicorn closes a
    connection whose response has started: the proxy in front (Caddy) may already have put that
    connection back in its pool, and the next POST on it fails with a bodyless 502. Answering here
    keeps the connection sound. An error after the response started (a stream that dies) still
    propagates: that connection must close, its response is incomplete.
    """

    def __init__(self, app: ASGIApp, respond: Responder) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = await self.respond(Request(scope, receive), exc)
            await response(scope, receive, send)
